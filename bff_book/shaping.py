"""The Book BFF's mobile rule: a single book's `genre` "non-fiction" becomes the number 3."""

from __future__ import annotations

from libcommon.client_type import MobileRules, ReplaceValue

MOBILE_BOOK_RULES: MobileRules = (ReplaceValue("genre", "non-fiction", 3),)
