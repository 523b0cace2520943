"""Engine configuration (environment variables)."""

from __future__ import annotations

from pydantic import Field

from libcommon.settings import ServiceSettings

MAX_DELAY_MS = 60_000


class Settings(ServiceSettings):
    port: int = Field(default=3003, ge=0, le=65535)
    # Initial answer delay of /recommended-titles; PUT /delay changes it at run time.
    recommender_delay_ms: int = Field(default=0, ge=0, le=MAX_DELAY_MS)
