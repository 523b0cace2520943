"""CORS with a real browser: a page on another origin calls the Book BFF from headless Chromium
(Debian chromium + chromium-driver through Selenium). The browser itself sends the preflight
and enforces the answer, so this checks what HTTP-level tests cannot: that a browser lets
the page read the answers."""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.builders import DESKTOP_UA, SECRET, make_token
from tests.fixtures.procs import ServiceProcess, free_port

BOOK = {"ISBN": "978-0134494166", "title": "Clean Architecture", "Author": "Martin, R.",
        "description": "craftsman's guide", "genre": "non-fiction", "price": 29.99, "quantity": 5}

# Runs in the page: the calls a web shop on another origin makes. Each result is what the
# page could read: the status and body, or the browser's refusal (a TypeError in fetch).
CALLS = """
const [bff, token, book, done] = arguments;
const auth = {"Authorization": "Bearer " + token};
async function call(path, init) {
  try {
    const r = await fetch(bff + path, init);
    return {status: r.status, body: await r.text(), requestId: r.headers.get("X-Request-ID"),
            retryAfter: r.headers.get("Retry-After")};
  } catch (e) {
    return {error: String(e)};
  }
}
(async () => done({
  get: await call("/books/" + book.ISBN, {headers: auth}),
  put: await call("/books/" + book.ISBN, {method: "PUT", body: JSON.stringify(book),
                   headers: {...auth, "Content-Type": "application/json"}}),
  noToken: await call("/books/" + book.ISBN, {}),
}))();
"""


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>shop</title><p>a web shop on another origin</p>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def shop_page() -> Iterator[int]:
    """A page server (another origin than the BFF: another port); yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def run_calls(driver: Any, page_url: str, bff_url: str, token: str) -> dict[str, Any]:
    driver.set_script_timeout(30)
    driver.get(page_url)
    result: dict[str, Any] = driver.execute_async_script(CALLS, bff_url, token, BOOK)
    return result


@pytest.mark.slow
def test_a_page_on_an_allowed_origin_reads_the_answers_and_others_cannot(
    chromium: Any,
    service_process: Callable[..., ServiceProcess], tmp_path: Path, shop_page: int,
) -> None:
    book = service_process("svc_book", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/books.db", "ACCESS_LOG": "false",
        "BREAKER_STATE_FILE": str(tmp_path / "breaker.json")})
    allowed_origin = f"http://127.0.0.1:{shop_page}"
    bff = service_process("bff_book", {
        "BOOK_SERVICE_URL": book.url, "JWT_SECRET": SECRET, "ACCESS_LOG": "false",
        "CORS_ALLOW_ORIGINS": allowed_origin})
    token = make_token()
    request = urllib.request.Request(
        f"{bff.url}/books", data=orjson.dumps(BOOK), method="POST",
        headers={"Authorization": f"Bearer {token}", "User-Agent": DESKTOP_UA,
                 "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201

    allowed = run_calls(chromium, f"{allowed_origin}/shop.html", bff.url, token)

    assert allowed["get"]["status"] == 200, allowed
    assert orjson.loads(allowed["get"]["body"])["title"] == BOOK["title"]
    assert allowed["get"]["requestId"]  # an exposed header the page can read
    assert allowed["put"]["status"] == 200, allowed  # preflighted: Authorization + JSON
    assert allowed["noToken"]["status"] == 401  # errors are readable too
    assert "message" in orjson.loads(allowed["noToken"]["body"])

    # The same page from another origin (localhost is not 127.0.0.1 to a browser): refused.
    other = run_calls(chromium, f"http://localhost:{shop_page}/shop.html", bff.url, token)
    assert set(other) == {"get", "put", "noToken"}
    for name, outcome in other.items():
        assert "error" in outcome and "Failed to fetch" in outcome["error"], (name, outcome)
