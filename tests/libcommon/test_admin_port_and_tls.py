"""ADMIN_PORT (metrics only there; /status and /ready on both ports) and HTTPS served by the
process itself (TLS_CERT_FILE / TLS_KEY_FILE), with a throwaway CA made in the test (trustme)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import trustme

from libcommon.settings import ServiceSettings, load_settings
from libcommon.web import add_ready_check, create_base_app
from tests.builders import SECRET
from tests.fixtures.procs import ServiceProcess, free_port


async def get(url: str, ssl_context: ssl.SSLContext | bool = True) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, ssl=ssl_context) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.text()


async def test_admin_port_serves_metrics_and_the_main_port_does_not(aiohttp_client: Any) -> None:
    admin_port = free_port()
    settings = ServiceSettings(host="127.0.0.1", admin_port=admin_port, access_log=False)
    app = create_base_app(settings, name="edge_test")

    async def database_down() -> str:
        return "database unreachable"

    add_ready_check(app, "database", database_down)  # registered after the admin app is made
    client = await aiohttp_client(app)
    admin = f"http://127.0.0.1:{admin_port}"

    main_metrics = await client.get("/metrics")
    assert main_metrics.status == 404
    assert (await main_metrics.json())["message"]
    status, content_type, text = await get(f"{admin}/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    assert "http_requests_total" in text
    for base_get in (client.get, None):
        if base_get is not None:
            status_answer = await base_get("/status")
            ready_answer = await base_get("/ready")
            assert (status_answer.status, await status_answer.text()) == (200, "OK")
            assert ready_answer.status == 503
            assert (await ready_answer.json())["checks"] == {"database": "database unreachable"}
        else:
            assert (await get(f"{admin}/status"))[::2] == (200, "OK")
            ready_status, _, ready_body = await get(f"{admin}/ready")
            assert ready_status == 503 and "database unreachable" in ready_body
    missing = await get(f"{admin}/books")
    assert missing[0] == 404 and missing[1].startswith("application/json")


async def test_admin_port_closes_with_the_app(aiohttp_client: Any) -> None:
    admin_port = free_port()
    client = await aiohttp_client(create_base_app(
        ServiceSettings(host="127.0.0.1", admin_port=admin_port, access_log=False), name="t"))
    assert (await get(f"http://127.0.0.1:{admin_port}/status"))[0] == 200
    await client.close()
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(f"http://127.0.0.1:{admin_port}/status")


async def test_without_admin_port_metrics_stay_on_the_main_port(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_base_app(ServiceSettings(access_log=False), name="t"))
    assert (await client.get("/metrics")).status == 200


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_cert(ca: trustme.CA, tmp_path: Path) -> tuple[Path, Path]:
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert_file, key_file = tmp_path / "server.pem", tmp_path / "server.key"
    cert.cert_chain_pems[0].write_to_path(str(cert_file))
    for extra in cert.cert_chain_pems[1:]:
        extra.write_to_path(str(cert_file), append=True)
    cert.private_key_pem.write_to_path(str(key_file))
    return cert_file, key_file


def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


@pytest.mark.slow
async def test_bff_serves_https_and_its_admin_port_serves_metrics(
    service_process: Callable[..., ServiceProcess], server_cert: tuple[Path, Path],
    ca: trustme.CA,
) -> None:
    cert_file, key_file = server_cert
    admin_port = free_port()
    bff = await asyncio.to_thread(service_process, "bff_book", {
        "BOOK_SERVICE_URL": "http://127.0.0.1:9", "JWT_SECRET": SECRET, "ACCESS_LOG": "false",
        "TLS_CERT_FILE": str(cert_file), "TLS_KEY_FILE": str(key_file),
        "ADMIN_PORT": str(admin_port)}, wait=False)
    https = f"https://127.0.0.1:{bff.port}"
    admin = f"http://127.0.0.1:{admin_port}"
    await _wait_for(f"{admin}/status")
    trusted = client_context(ca)

    assert await get(f"{https}/status", trusted) == (200, "text/plain; charset=utf-8", "OK")
    assert (await get(f"{https}/books", trusted))[0] == 401  # the API, over TLS
    assert (await get(f"{https}/metrics", trusted))[0] == 404
    assert (await get(f"{admin}/metrics"))[0] == 200
    assert (await get(f"{admin}/ready"))[0] == 503  # upstream down: same answer on both ports
    assert (await get(f"{https}/ready", trusted))[0] == 503
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await get(f"{https}/status", ssl.create_default_context())  # an unknown CA
    with pytest.raises(aiohttp.ClientError):
        await get(f"http://127.0.0.1:{bff.port}/status")  # plain HTTP on the TLS port
    tls12 = client_context(ca)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(aiohttp.ClientError):
        await get(f"{https}/status", tls12)  # nothing older than TLS 1.2


@pytest.mark.slow
async def test_two_workers_share_the_tls_and_admin_ports(
    service_process: Callable[..., ServiceProcess], server_cert: tuple[Path, Path],
    ca: trustme.CA,
) -> None:
    cert_file, key_file = server_cert
    admin_port = free_port()
    bff = await asyncio.to_thread(service_process, "bff_book", {
        "BOOK_SERVICE_URL": "http://127.0.0.1:9", "JWT_SECRET": SECRET, "ACCESS_LOG": "false",
        "TLS_CERT_FILE": str(cert_file), "TLS_KEY_FILE": str(key_file),
        "ADMIN_PORT": str(admin_port), "WORKERS": "2"}, wait=False)
    await _wait_for(f"http://127.0.0.1:{admin_port}/status")
    for _ in range(6):
        assert (await get(f"https://127.0.0.1:{bff.port}/status", client_context(ca)))[0] == 200
        assert (await get(f"http://127.0.0.1:{admin_port}/metrics"))[0] == 200


async def _wait_for(url: str, timeout_s: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        try:
            if (await get(url))[0] == 200:
                return
        except aiohttp.ClientError:
            pass
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(url)
        await asyncio.sleep(0.1)


def bad_settings(tmp_path: Path, server_cert: tuple[Path, Path],
                 other_key: Path) -> list[tuple[str, dict[str, str]]]:
    cert_file, key_file = server_cert
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    return [
        ("TLS_CERT_FILE", {"TLS_CERT_FILE": str(tmp_path / "missing.pem")}),
        ("TLS_CERT_FILE", {"TLS_CERT_FILE": str(garbage), "TLS_KEY_FILE": str(key_file)}),
        ("TLS_CERT_FILE", {"TLS_CERT_FILE": str(cert_file)}),  # no key anywhere
        ("TLS_CERT_FILE", {"TLS_CERT_FILE": str(cert_file), "TLS_KEY_FILE": str(other_key)}),
        ("TLS_KEY_FILE", {"TLS_KEY_FILE": str(key_file)}),
        ("ADMIN_PORT", {"ADMIN_PORT": "8000", "PORT": "8000"}),
        ("ADMIN_PORT", {"ADMIN_PORT": "admin"}),
        ("ADMIN_PORT", {"ADMIN_PORT": "70000"}),
    ]


def test_bad_tls_or_admin_settings_stop_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    server_cert: tuple[Path, Path], ca: trustme.CA,
) -> None:
    other_key = tmp_path / "other.key"
    ca.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(other_key))
    for name, env in bad_settings(tmp_path, server_cert, other_key):
        with monkeypatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            with pytest.raises(SystemExit):
                load_settings(ServiceSettings)
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and name in err, (env, err)
        assert "BEGIN" not in err  # no key material in the message


def test_a_certificate_file_holding_its_key_is_enough(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, ca: trustme.CA
) -> None:
    bundle = tmp_path / "bundle.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(bundle))
    monkeypatch.setenv("TLS_CERT_FILE", str(bundle))
    settings = load_settings(ServiceSettings)
    assert settings.ssl_context() is not None


def test_plain_http_by_default() -> None:
    assert ServiceSettings().ssl_context() is None
