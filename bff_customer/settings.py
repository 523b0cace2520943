"""Customer BFF configuration (environment variables)."""

from __future__ import annotations

from pydantic import Field

from libcommon.bff import BffSettings


class Settings(BffSettings):
    port: int = Field(default=8081, ge=0, le=65535)
    customer_service_url: str = "http://127.0.0.1:3001"
