"""With WORKERS > 1 a scrape reaches one worker at random; /metrics must still count every
request served by every worker (prometheus-client's multiprocess mode)."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Callable

import pytest

from tests.fixtures.procs import ServiceProcess

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

ROUTE = "/recommended-titles/isbn/{isbn}"


def get(url: str) -> bytes:
    # A new connection per request: SO_REUSEPORT spreads connections over the workers.
    request = urllib.request.Request(url, headers={"Connection": "close"})
    with urllib.request.urlopen(request, timeout=10) as response:
        body: bytes = response.read()
        return body


def served(metrics: str) -> float:
    pattern = re.compile(r'^http_requests_total\{[^}]*route="' + re.escape(ROUTE)
                         + r'"[^}]*\} (\S+)$', re.M)
    return sum(float(value) for value in pattern.findall(metrics))


def test_every_scrape_counts_the_requests_of_all_workers(
        service_process: Callable[..., ServiceProcess]) -> None:
    engine = service_process("recommender", {"WORKERS": "2"})
    deadline = time.monotonic() + 30
    while engine.log().count("serving recommender") < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    for n in range(60):
        get(f"{engine.url}/recommended-titles/isbn/978-{n:010d}")
    scrapes = [served(get(f"{engine.url}/metrics").decode()) for _ in range(8)]
    assert scrapes == [60.0] * 8, scrapes
