"""The Customer BFF's mobile rule: a single customer loses its address fields."""

from __future__ import annotations

from libcommon.client_type import MobileRules, RemoveField

ADDRESS_FIELDS = ("address", "address2", "city", "state", "zipcode")

MOBILE_CUSTOMER_RULES: MobileRules = tuple(RemoveField(name) for name in ADDRESS_FIELDS)
