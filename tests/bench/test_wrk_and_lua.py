"""Pure parts of the wrk driver: commands, result parsing, Lua scripts that compile."""

from __future__ import annotations

import ctypes
import ctypes.util
import json

import pytest
from benchkit import wrk
from benchkit.cases import CASES

GET_LINE = wrk.RESULT_PREFIX + json.dumps({
    "duration_us": 2_000_000, "requests": 5000, "bytes": 1, "err_connect": 0, "err_read": 1,
    "err_write": 0, "err_status": 7, "err_timeout": 2, "lat_mean_us": 1500.0,
    "lat_max_us": 9000, "p50_us": 1200, "p90_us": 2500, "p99_us": 4800, "p999_us": 8000,
    "sent": None, "answered": None, "in_window": None, "statuses": None,
})
POST_LINE = wrk.RESULT_PREFIX + json.dumps({
    "duration_us": 4_000_000, "requests": 1010, "bytes": 1, "err_connect": 0, "err_read": 0,
    "err_write": 0, "err_status": 10, "err_timeout": 0, "lat_mean_us": 1.0, "lat_max_us": 1,
    "p50_us": 1, "p90_us": 1, "p99_us": 1, "p999_us": 1,
    "sent": 1013, "answered": 1010, "in_window": 1000, "statuses": {"201": 995, "422": 5,
                                                                     "500": 10},
})


def test_get_result_takes_wrk_counts_and_converts_latency_to_ms() -> None:
    result = wrk.parse_output("Running 2s test\n" + GET_LINE + "\n")
    assert result.requests == 5000
    assert result.rps == pytest.approx(2500)
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (1.2, 4.8, 9.0)
    # Without per-status counts, non-2xx is wrk's count of statuses >= 400.
    assert result.non_2xx == 7
    assert result.socket_error_total == 3
    assert result.created == 0
    assert result.unanswered is None


def test_windowed_result_counts_statuses_and_rate_within_the_window() -> None:
    result = wrk.parse_output(POST_LINE, window_s=2)
    assert result.rps == pytest.approx(500)  # in_window / window, not requests / duration
    assert result.requests == 1010
    assert result.created == 995
    assert result.non_2xx == 15
    # One request() call is wrk's script check and never sent.
    assert result.unanswered == 2


def test_missing_result_line_is_an_error() -> None:
    with pytest.raises(wrk.WrkError, match="BENCH_RESULT"):
        wrk.parse_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_command_uses_at_most_two_threads_and_never_more_than_connections(tmp_path) -> None:
    script = tmp_path / "x.lua"
    one = wrk.WrkRun("http://127.0.0.1:1", 1, 15, script).command("wrk")
    many = wrk.WrkRun("http://127.0.0.1:1", 64, 15, script).command("wrk")
    assert "-t1" in one and "-c1" in one
    assert "-t2" in many and "-c64" in many and "-d15s" in many


def test_windowed_command_drains_and_passes_arguments_after_the_url(tmp_path) -> None:
    spec = wrk.WrkRun("http://127.0.0.1:9/", 16, 15, tmp_path / "p.lua",
                      headers={"User-Agent": "ua"}, args={"nonce": "abc123"}, windowed=True)
    cmd = spec.command("/usr/bin/wrk")
    assert f"-d{15 + wrk.DRAIN_S}s" in cmd
    assert cmd[cmd.index("-H") + 1] == "User-Agent: ua"
    tail = cmd[cmd.index("http://127.0.0.1:9/") + 1:]
    assert tail == ["--", "nonce=abc123", "window=15"]


def _luajit() -> ctypes.CDLL:
    name = ctypes.util.find_library("luajit-5.1") or "libluajit-5.1.so.2"
    try:
        lib = ctypes.CDLL(name)
    except OSError:
        pytest.skip("libluajit (wrk's Lua) is not installed")
    lib.luaL_newstate.restype = ctypes.c_void_p
    lib.luaL_loadbuffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                    ctypes.c_char_p]
    lib.lua_tolstring.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.lua_tolstring.restype = ctypes.c_char_p
    lib.lua_close.argtypes = [ctypes.c_void_p]
    return lib


def lua_compile_error(source: str) -> str | None:
    """Compile (not run) with LuaJIT, as wrk does; the error message or None."""
    lib = _luajit()
    state = lib.luaL_newstate()
    try:
        data = source.encode()
        if lib.luaL_loadbuffer(state, data, len(data), b"script") == 0:
            return None
        return str(lib.lua_tolstring(state, -1, None).decode())
    finally:
        lib.lua_close(state)


@pytest.mark.slow  # starts a process
def test_the_syntax_check_catches_broken_lua() -> None:
    assert lua_compile_error("function request( return 1 end") is not None


@pytest.mark.slow  # starts a process
@pytest.mark.parametrize("case", [c for c in CASES if c.lua_pieces()], ids=lambda c: c.name)
def test_every_case_script_compiles(case) -> None:
    source = wrk.compose_script(case.lua_pieces())
    assert source.startswith("-- ===== report.lua")
    assert lua_compile_error(source) is None
