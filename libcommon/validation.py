"""Turn pydantic validation errors into the contract's 400 body."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from libcommon.errors import ApiError

M = TypeVar("M", bound=BaseModel)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    errors = []
    for err in exc.errors(include_url=False, include_input=False, include_context=False):
        field = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"]
        # pydantic prefixes custom ValueError messages with "Value error, ".
        message = message.removeprefix("Value error, ")
        errors.append({"field": field, "message": message})
    return errors


def parse_model(model: type[M], data: Any) -> M:
    """Validate request data into `model`, or raise a 400 ApiError listing every field."""
    if not isinstance(data, dict):
        raise ApiError(400, "Request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        summary = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:3])
        raise ApiError(400, f"Invalid request: {summary}", errors=errors) from None
