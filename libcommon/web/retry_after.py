"""The `Retry-After` header value."""

from __future__ import annotations

import math


def retry_after_header(seconds: float) -> str:
    """A `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
