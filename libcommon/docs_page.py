"""The documentation page of a BFF: Swagger UI at `/docs`, every asset from the
swagger-ui-bundle package (no CDN: the page works offline).

The page, its assets and its copy of the OpenAPI document are public (a browser cannot send a
token to open a page); the API behind it is not: **Authorize** takes the token that "Try it out"
then sends. The copy differs from `/openapi.json` in two ways that make "Try it out" work
from the page: `servers` is this BFF as the browser addressed it, and the `User-Agent`
parameter is left out (browsers send their own and forbid scripts to set it).
"""

from __future__ import annotations

import copy
import html
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]

from libcommon.jsonio import dumps
from libcommon.urls import public_base_url

DOCS_PATH = "/docs"
DOCS_SPEC_PATH = "/docs/openapi.json"
DOCS_INIT_PATH = "/docs/init.js"
# Served from the package as they are, under /docs/<name>.
SWAGGER_UI_ASSETS = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png",
                     "favicon-16x16.png")
DOCS_PATHS = frozenset({DOCS_PATH, DOCS_SPEC_PATH, DOCS_INIT_PATH,
                        *(f"{DOCS_PATH}/{name}" for name in SWAGGER_UI_ASSETS)})
ASSET_MAX_AGE_S = 86_400
# Only this origin; Swagger UI sets inline styles. No script from anywhere else, no inline one.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png" sizes="32x32">
  <link rel="icon" type="image/png" href="docs/favicon-16x16.png" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/init.js"></script>
</body>
</html>
"""

# validatorUrl null: the default badge would call validator.swagger.io.
_INIT_JS = """window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "docs/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    validatorUrl: null,
    displayRequestDuration: true,
    defaultModelsExpandDepth: 0
  });
});
"""

_USER_AGENT_REF = "#/components/parameters/UserAgent"


def _is_user_agent(parameter: dict[str, Any]) -> bool:
    if parameter.get("$ref") == _USER_AGENT_REF:
        return True
    return parameter.get("in") == "header" and str(parameter.get("name")).lower() == "user-agent"


def page_document(openapi: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document as the page uses it: without the User-Agent parameter."""
    document = copy.deepcopy(openapi)
    for item in document.get("paths", {}).values():
        for operation in [item, *(v for v in item.values() if isinstance(v, dict))]:
            parameters = operation.get("parameters")
            if isinstance(parameters, list):
                operation["parameters"] = [p for p in parameters if not _is_user_agent(p)]
    return document


def _security_headers() -> dict[str, str]:
    return {"Content-Security-Policy": CONTENT_SECURITY_POLICY,
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}


def _fixed(body: bytes, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, headers=_security_headers())

    return handler


def _asset(path: Path) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(path, headers={
            "Cache-Control": f"public, max-age={ASSET_MAX_AGE_S}", **_security_headers()})

    return handler


def add_docs_routes(app: web.Application, openapi: dict[str, Any]) -> None:
    """`/docs` and what it loads; every path is in DOCS_PATHS (public)."""
    title = html.escape(str(openapi.get("info", {}).get("title", "API")) + " · API documentation")
    document = page_document(openapi)

    async def spec(request: web.Request) -> web.Response:
        # "Try it out" goes to this BFF as the browser reached it (proxy headers honoured).
        body = dumps({**document, "servers": [{"url": public_base_url(request)}]})
        return web.Response(body=body, content_type="application/json",
                            headers=_security_headers())

    router = app.router
    router.add_get(DOCS_PATH, _fixed(_PAGE.format(title=title).encode(), "text/html"))
    router.add_get(DOCS_INIT_PATH, _fixed(_INIT_JS.encode(), "text/javascript"))
    router.add_get(DOCS_SPEC_PATH, spec)
    base = Path(str(swagger_ui_path))
    for name in SWAGGER_UI_ASSETS:
        router.add_get(f"{DOCS_PATH}/{name}", _asset(base / name))
