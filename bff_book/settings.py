"""Book BFF configuration (environment variables)."""

from __future__ import annotations

from pydantic import Field

from libcommon.jwt_auth import JwtSettings
from libcommon.proxy import ProxySettings
from libcommon.settings import ServiceSettings


class Settings(ServiceSettings, JwtSettings, ProxySettings):
    port: int = Field(default=8080, ge=0, le=65535)
    book_service_url: str = "http://127.0.0.1:3000"
