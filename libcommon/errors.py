"""API errors rendered as the contract's JSON error body."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """Raise anywhere in a request; the error middleware renders `{"message", "errors"?}`."""

    def __init__(
        self,
        status: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body
