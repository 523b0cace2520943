"""The aiohttp application every service is built on (one concept per module):

- `app`: `create_base_app`, the factory (installs the JSON protocol-error page explicitly);
- `middleware`: the core middleware (request id, JSON errors, metrics, access log);
- `errors`: exception → JSON error response, and aiohttp's protocol-level error page;
- `request_id`, `ready`, `openapi`, `retry_after`: one concern each;
- `serve`: `run_service` (uvloop, SIGTERM drain, WORKERS processes on one port).

The names every service uses are re-exported here.
"""

from libcommon.web.app import create_base_app
from libcommon.web.ready import add_ready_check
from libcommon.web.serve import run_service

__all__ = ["add_ready_check", "create_base_app", "run_service"]
