"""The BFFs' documentation page (`/docs`): public, offline (every asset from this BFF), and
usable: in headless Chromium (Debian chromium + chromium-driver through Selenium) it renders
the operations, takes a token in Authorize, and "Try it out" of `GET /books/{ISBN}` answers 200.
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from libcommon.docs_page import DOCS_PATHS, page_document
from libcommon.web.openapi import load_openapi
from tests.bff.support import BFFS, Bff, MakeClient
from tests.builders import DESKTOP_UA, SECRET, headers, make_token
from tests.fixtures.procs import ServiceProcess

# Where the browser test also saves its screenshot (for the docs), when set.
SCREENSHOT_ENV = "DOCS_SCREENSHOT"
BOOK: dict[str, Any] = {"ISBN": "978-0321815736", "title": "Software Architecture in Practice",
        "Author": "Bass, L.", "description": "seminal book on software architecture",
        "genre": "non-fiction", "price": 59.95, "quantity": 106}

Client = TestClient[web.Request, web.Application]


async def test_the_page_and_everything_it_loads_need_no_token(
    make_client: MakeClient, bff: Bff
) -> None:
    client: Client = await make_client(bff)
    page = await client.get("/docs", headers={"User-Agent": DESKTOP_UA})
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    html = await page.text()
    # Offline: nothing is loaded from another origin.
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    loaded = re.findall(r"(?:src|href)=\"([^\"]+)\"", html)
    assert {"docs/swagger-ui-bundle.js", "docs/init.js", "docs/swagger-ui.css"} <= set(loaded)
    for relative in loaded:
        asset = await client.get(f"/{relative}")
        assert asset.status == 200, relative
        assert len(await asset.read()) > 0, relative
    init = await (await client.get("/docs/init.js")).text()
    assert "validatorUrl: null" in init and 'url: "docs/openapi.json"' in init
    for path in DOCS_PATHS:
        assert (await client.get(path)).status == 200, path
    # The API behind the page still needs the token, and so does /openapi.json.
    assert (await client.get("/openapi.json", headers={"User-Agent": DESKTOP_UA})).status == 401
    assert (await client.get(bff.get_path, headers={"User-Agent": DESKTOP_UA})).status == 401


async def test_the_pages_document_points_try_it_out_at_this_bff(
    make_client: MakeClient, bff: Bff
) -> None:
    client: Client = await make_client(bff)
    spec = await (await client.get("/docs/openapi.json")).json()
    assert spec["servers"] == [{"url": f"http://{client.host}:{client.port}"}]
    proxied = await (await client.get("/docs/openapi.json", headers={
        "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"})).json()
    assert proxied["servers"] == [{"url": "https://shop.example.com"}]
    full = await (await client.get("/openapi.json", headers=headers())).json()
    # Same operations; only the User-Agent parameter (browsers send their own) is gone.
    assert spec["paths"].keys() == full["paths"].keys()
    assert "UserAgent" not in orjson.dumps(spec["paths"]).decode()
    assert "UserAgent" in orjson.dumps(full["paths"]).decode()


def test_page_document_drops_only_the_user_agent_parameter() -> None:
    def is_user_agent(parameter: dict[str, Any]) -> bool:
        return "UserAgent" in parameter.get("$ref", "") or parameter.get("name") == "User-Agent"

    for bff in BFFS:
        spec = load_openapi(Path(f"bff_{bff.name}/openapi.yaml"))
        page = page_document(spec)
        dropped = 0
        for path, item in spec["paths"].items():
            for key, operation in item.items():
                parameters = operation if key == "parameters" else operation.get("parameters")
                if not isinstance(parameters, list):
                    continue
                page_item = page["paths"][path]
                kept = page_item[key] if key == "parameters" else page_item[key]["parameters"]
                assert kept == [p for p in parameters if not is_user_agent(p)]
                dropped += len(parameters) - len(kept)
        assert dropped >= 3, bff.name


@pytest.mark.slow
def test_try_it_out_in_headless_chromium(
    chromium: Any, service_process: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ready
    from selenium.webdriver.support.ui import WebDriverWait

    book = service_process("svc_book", {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/books.db", "ACCESS_LOG": "false",
        "BREAKER_STATE_FILE": str(tmp_path / "breaker.json")})
    bff = service_process("bff_book", {"BOOK_SERVICE_URL": book.url, "JWT_SECRET": SECRET,
                                       "ACCESS_LOG": "false"})
    token = make_token()
    request = urllib.request.Request(f"{bff.url}/books", data=orjson.dumps(BOOK), method="POST",
                                     headers={"Authorization": f"Bearer {token}",
                                              "User-Agent": DESKTOP_UA,
                                              "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201

    driver = chromium
    wait = WebDriverWait(driver, 30)
    driver.get(f"{bff.url}/docs")
    wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, ".opblock")))
    operations = {e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, ".opblock")}
    assert {"operations-books-post_books", "operations-books-get_books__ISBN_",
            "operations-books-put_books__ISBN_", "operations-books-delete_books__ISBN_",
            "operations-books-get_books__ISBN__related_books"} <= operations, operations

    driver.find_element(By.CSS_SELECTOR, "button.authorize").click()
    wait.until(ready.visibility_of_element_located(
        (By.CSS_SELECTOR, ".auth-container input"))).send_keys(token)
    driver.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.authorize").click()
    driver.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper button.btn-done").click()

    operation = "#operations-books-get_books__ISBN_"
    driver.find_element(By.CSS_SELECTOR, f"{operation} .opblock-summary-control").click()
    wait.until(ready.element_to_be_clickable((By.CSS_SELECTOR, f"{operation} .try-out__btn"))).click()
    wait.until(ready.visibility_of_element_located(
        (By.CSS_SELECTOR, f"{operation} input[placeholder='ISBN']"))).send_keys(BOOK["ISBN"])
    driver.find_element(By.CSS_SELECTOR, f"{operation} .execute").click()
    status = wait.until(ready.visibility_of_element_located(
        (By.CSS_SELECTOR, f"{operation} .live-responses-table .response .response-col_status")))
    assert status.text.strip() == "200"
    answer = driver.find_element(By.CSS_SELECTOR, f"{operation} .live-responses-table").text
    assert BOOK["title"] in answer

    # Offline: every resource the page loaded came from this BFF.
    loaded = driver.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(bff.url + "/") for url in loaded), loaded
    assert f"{bff.url}/books/{BOOK['ISBN']}" in loaded

    driver.execute_script("arguments[0].scrollIntoView()",
                          driver.find_element(By.CSS_SELECTOR, operation))
    screenshot = tmp_path / "docs-page.png"
    assert driver.save_screenshot(str(screenshot))
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(screenshot, os.environ[SCREENSHOT_ENV])
