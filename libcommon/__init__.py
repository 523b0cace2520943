"""Shared mechanisms of the bookstore services. Imports no service package."""
