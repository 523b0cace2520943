"""Customer service: customers over MySQL (or SQLite), with a registered event per new customer."""
