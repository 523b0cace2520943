"""The breaker's state machine with a manual clock and fake dependency calls."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from libcommon.breaker import (
    STATE_CLOSED,
    STATE_HALF_OPEN,
    STATE_OPEN,
    AsyncCircuitBreaker,
    CallTimeoutError,
    CircuitOpenError,
    FileCircuitStorage,
)
from libcommon.clock import ManualClock

TIMEOUT_S = 0.1
RESET_S = 60.0


class Engine:
    """A fake dependency: counts calls; behaviour set per test."""

    def __init__(self) -> None:
        self.calls = 0
        self.mode = "ok"
        self.release = asyncio.Event()

    async def __call__(self) -> str:
        self.calls += 1
        if self.mode == "fail":
            raise ConnectionRefusedError("engine down")
        if self.mode == "slow":
            await asyncio.sleep(10)
        if self.mode == "wait":
            await self.release.wait()
        return "result"


class Rejected(Exception):
    pass


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def state_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "breaker.json"


def make_breaker(state_file: Path, clock: ManualClock, **kwargs) -> AsyncCircuitBreaker:
    return AsyncCircuitBreaker(
        name="test",
        storage=FileCircuitStorage(state_file, name="test"),
        timeout_s=kwargs.pop("timeout_s", TIMEOUT_S),
        reset_s=RESET_S,
        clock=clock,
        **kwargs,
    )


@pytest.fixture
def breaker(state_file: Path, clock: ManualClock) -> AsyncCircuitBreaker:
    return make_breaker(state_file, clock, exclude=(Rejected,))


def stored(state_file: Path) -> dict[str, Any]:
    record: dict[str, Any] = json.loads(state_file.read_text())
    return record


async def open_circuit(breaker: AsyncCircuitBreaker, engine: Engine) -> None:
    engine.mode = "fail"
    with pytest.raises(ConnectionRefusedError):
        await breaker.call(engine)
    assert breaker.state == STATE_OPEN


async def test_closed_success_returns_result_and_writes_nothing(breaker, state_file):
    engine = Engine()
    assert await breaker.call(engine) == "result"
    assert await breaker.call(engine) == "result"
    assert engine.calls == 2
    assert breaker.state == STATE_CLOSED
    assert not state_file.exists()  # the success path never touches the disk


async def test_first_failure_opens_and_is_reraised(breaker, state_file, clock):
    engine = Engine()
    await open_circuit(breaker, engine)
    record = stored(state_file)
    assert record["state"] == "open"
    assert datetime.fromisoformat(record["opened_at"]) == clock.now()
    assert datetime.fromisoformat(record["opened_at"]).tzinfo is not None
    assert breaker.opened_at == clock.now()


async def test_first_timeout_opens_and_is_not_a_probe(breaker, state_file):
    engine = Engine()
    engine.mode = "slow"
    started = asyncio.get_running_loop().time()
    with pytest.raises(CallTimeoutError) as info:
        await breaker.call(engine)
    assert asyncio.get_running_loop().time() - started < 2
    assert info.value.probe is False
    assert breaker.state == STATE_OPEN
    assert stored(state_file)["state"] == "open"


async def test_open_rejects_without_calling_until_the_window_ends(breaker, clock):
    engine = Engine()
    await open_circuit(breaker, engine)
    engine.mode = "ok"
    for advance in (0, 30, 29.9):
        clock.advance(advance)
        with pytest.raises(CircuitOpenError) as info:
            await breaker.call(engine)
        assert info.value.probe_in_flight is False
    assert info.value.retry_after_s == pytest.approx(0.1)
    assert engine.calls == 1  # only the call that opened it
    clock.advance(0.1)
    assert await breaker.call(engine) == "result"
    assert engine.calls == 2
    assert breaker.state == STATE_CLOSED


async def test_successful_probe_closes_and_resets_counters(breaker, clock, state_file):
    engine = Engine()
    await open_circuit(breaker, engine)
    clock.advance(RESET_S)
    engine.mode = "ok"
    assert await breaker.call(engine) == "result"
    record = stored(state_file)
    assert (record["state"], record["fail_counter"], record["success_counter"]) == ("closed", 0, 0)
    assert await breaker.call(engine) == "result"


async def test_probe_timeout_reopens_with_a_new_window(breaker, clock, state_file):
    engine = Engine()
    await open_circuit(breaker, engine)
    clock.advance(RESET_S + 5)
    engine.mode = "slow"
    with pytest.raises(CallTimeoutError) as info:
        await breaker.call(engine)
    assert info.value.probe is True
    assert breaker.state == STATE_OPEN
    assert datetime.fromisoformat(stored(state_file)["opened_at"]) == clock.now()
    engine.mode = "ok"
    clock.advance(RESET_S - 1)
    with pytest.raises(CircuitOpenError):
        await breaker.call(engine)
    assert engine.calls == 2
    clock.advance(1)
    assert await breaker.call(engine) == "result"


async def test_failing_probe_reopens_with_a_new_window(breaker, clock):
    engine = Engine()
    await open_circuit(breaker, engine)
    first_opened = breaker.opened_at
    clock.advance(RESET_S)
    with pytest.raises(ConnectionRefusedError):
        await breaker.call(engine)
    assert breaker.state == STATE_OPEN
    assert breaker.opened_at == first_opened + timedelta(seconds=RESET_S)
    with pytest.raises(CircuitOpenError):
        await breaker.call(engine)
    assert engine.calls == 2


async def test_exactly_one_probe_others_rejected_at_once(breaker, clock):
    engine = Engine()
    await open_circuit(breaker, engine)
    clock.advance(RESET_S)
    engine.mode = "wait"
    probe = asyncio.create_task(breaker.call(engine))
    await asyncio.sleep(0)  # the probe is now awaiting the engine
    assert breaker.state == STATE_HALF_OPEN and breaker.probe_in_flight
    others = await asyncio.gather(*(breaker.call(engine) for _ in range(20)),
                                  return_exceptions=True)
    assert all(isinstance(o, CircuitOpenError) and o.probe_in_flight for o in others)
    assert engine.calls == 2  # the opening call and the probe
    engine.release.set()
    assert await probe == "result"
    assert breaker.state == STATE_CLOSED and not breaker.probe_in_flight


async def test_restart_keeps_an_open_circuit(breaker, clock, state_file):
    engine = Engine()
    await open_circuit(breaker, engine)
    clock.advance(10)
    restarted = make_breaker(state_file, clock)
    assert restarted.state == STATE_OPEN
    engine.mode = "ok"
    with pytest.raises(CircuitOpenError) as info:
        await restarted.call(engine)
    assert info.value.retry_after_s == pytest.approx(RESET_S - 10)
    assert engine.calls == 1
    clock.advance(RESET_S - 10)
    assert await restarted.call(engine) == "result"
    assert make_breaker(state_file, clock).state == STATE_CLOSED


async def test_restart_during_probe_lets_the_next_call_probe(breaker, clock, state_file):
    engine = Engine()
    await open_circuit(breaker, engine)
    clock.advance(RESET_S)
    engine.mode = "wait"
    probe = asyncio.create_task(breaker.call(engine))
    await asyncio.sleep(0)
    assert stored(state_file)["state"] == "half-open"
    restarted = make_breaker(state_file, clock)  # the old process died with its probe
    probe.cancel()
    engine.mode = "ok"
    assert await restarted.call(engine) == "result"
    assert restarted.state == STATE_CLOSED


async def test_wall_clock_behind_the_stored_time_does_not_stretch_the_window(state_file, clock):
    engine = Engine()
    breaker = make_breaker(state_file, clock)
    await open_circuit(breaker, engine)
    behind = ManualClock(clock.now() - timedelta(hours=5))
    restarted = make_breaker(state_file, behind)
    with pytest.raises(CircuitOpenError) as info:
        await restarted.call(engine)
    assert info.value.retry_after_s <= RESET_S
    behind.advance(RESET_S)
    engine.mode = "ok"
    assert await restarted.call(engine) == "result"


def test_missing_file_means_closed_and_is_logged(state_file, clock, caplog):
    with caplog.at_level(logging.WARNING, logger="libcommon.breaker"):
        breaker = make_breaker(state_file, clock)
    assert breaker.state == STATE_CLOSED
    assert "no state file" in caplog.text


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{not json",
        b"\xff\xfe",
        b"[]",
        b'{"state": "ajar", "fail_counter": 0, "success_counter": 0, "opened_at": null}',
        b'{"state": "open", "fail_counter": -1, "success_counter": 0, "opened_at": "2024-01-01T00:00:00+00:00"}',
        b'{"state": "open", "fail_counter": true, "success_counter": 0, "opened_at": "2024-01-01T00:00:00+00:00"}',
        b'{"state": "open", "fail_counter": 1, "success_counter": 0, "opened_at": "2024-01-01T00:00:00"}',
        b'{"state": "open", "fail_counter": 1, "success_counter": 0, "opened_at": "yesterday"}',
        b'{"state": "open", "fail_counter": 1, "success_counter": 0, "opened_at": null}',
    ],
)
async def test_corrupt_file_means_closed_and_is_logged(state_file, clock, caplog, content):
    state_file.parent.mkdir(parents=True)
    state_file.write_bytes(content)
    with caplog.at_level(logging.WARNING, logger="libcommon.breaker"):
        breaker = make_breaker(state_file, clock)
    assert breaker.state == STATE_CLOSED
    assert "corrupt state file" in caplog.text
    engine = Engine()
    assert await breaker.call(engine) == "result"


async def test_state_file_is_replaced_atomically(breaker, clock, state_file):
    engine = Engine()
    await open_circuit(breaker, engine)
    clock.advance(RESET_S)
    engine.mode = "ok"
    await breaker.call(engine)
    assert [p.name for p in state_file.parent.iterdir()] == [state_file.name]  # no temp files
    record = stored(state_file)
    assert record["version"] == 1 and record["name"] == "test"


async def test_unwritable_state_file_keeps_the_breaker_working(tmp_path, clock, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    breaker = make_breaker(blocker / "breaker.json", clock)
    engine = Engine()
    with caplog.at_level(logging.ERROR, logger="libcommon.breaker"):
        await open_circuit(breaker, engine)
    assert "cannot write" in caplog.text
    with pytest.raises(CircuitOpenError):
        await breaker.call(engine)
    clock.advance(RESET_S)
    engine.mode = "ok"
    assert await breaker.call(engine) == "result"


async def test_cancelled_call_in_closed_state_changes_nothing(breaker, state_file):
    engine = Engine()
    engine.mode = "wait"
    task = asyncio.create_task(breaker.call(engine))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == STATE_CLOSED
    assert not state_file.exists()
    engine.mode = "ok"
    assert await breaker.call(engine) == "result"


async def test_cancelled_probe_neither_closes_nor_reopens(breaker, clock, state_file):
    engine = Engine()
    await open_circuit(breaker, engine)
    opened_at = breaker.opened_at
    clock.advance(RESET_S)
    engine.mode = "wait"
    task = asyncio.create_task(breaker.call(engine))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert breaker.state == STATE_HALF_OPEN
    assert breaker.opened_at == opened_at
    assert not breaker.probe_in_flight
    # The next request is the probe, and still the only one.
    probe = asyncio.create_task(breaker.call(engine))
    await asyncio.sleep(0)
    with pytest.raises(CircuitOpenError):
        await breaker.call(engine)
    engine.release.set()
    assert await probe == "result"
    assert breaker.state == STATE_CLOSED
    assert engine.calls == 3


async def test_stale_outcomes_do_not_change_the_circuit(breaker, clock):
    release = asyncio.Event()

    async def fail_late() -> str:
        await release.wait()
        raise ConnectionRefusedError("late failure")

    async def succeed_late() -> str:
        await release.wait()
        return "late result"

    late_failure = asyncio.create_task(breaker.call(fail_late))  # both started while closed
    late_success = asyncio.create_task(breaker.call(succeed_late))
    await asyncio.sleep(0)
    await open_circuit(breaker, Engine())
    opened_at = breaker.opened_at
    clock.advance(30)
    release.set()
    with pytest.raises(ConnectionRefusedError):
        await late_failure  # reported to its caller...
    assert await late_success == "late result"
    assert breaker.state == STATE_OPEN  # ...but neither closes nor restarts the window
    assert breaker.opened_at == opened_at
    clock.advance(30)
    assert await breaker.call(Engine()) == "result"


async def test_stale_timeout_is_reported_but_not_counted(breaker, clock):
    engine = Engine()
    engine.mode = "slow"
    slow = asyncio.create_task(breaker.call(engine))
    await asyncio.sleep(0)
    await open_circuit(breaker, Engine())
    opened_at = breaker.opened_at
    clock.advance(30)
    with pytest.raises(CallTimeoutError) as info:
        await slow
    assert info.value.probe is False
    assert breaker.opened_at == opened_at  # the window was not restarted
    clock.advance(30)
    assert await breaker.call(Engine()) == "result"


async def test_excluded_error_is_reraised_but_does_not_trip(breaker, clock):
    async def reject() -> str:
        raise Rejected("bad request")

    with pytest.raises(Rejected):
        await breaker.call(reject)
    assert breaker.state == STATE_CLOSED
    await open_circuit(breaker, Engine())
    clock.advance(RESET_S)
    with pytest.raises(Rejected):
        await breaker.call(reject)  # the engine answered: a probe ending so closes
    assert breaker.state == STATE_CLOSED


def test_constructor_rejects_nonsense(state_file, clock):
    with pytest.raises(ValueError):
        make_breaker(state_file, clock, timeout_s=0)


def test_storage_refuses_naive_opened_at(state_file):
    storage = FileCircuitStorage(state_file)
    with pytest.raises(ValueError):
        storage.opened_at = datetime(2024, 1, 1)
    storage.opened_at = datetime(2024, 1, 1, tzinfo=UTC)
    assert stored(state_file)["opened_at"] == "2024-01-01T00:00:00+00:00"


def test_manual_clock():
    clock = ManualClock(datetime(2024, 1, 1, tzinfo=UTC))
    mono = clock.monotonic()
    clock.advance(1.5)
    assert clock.now() == datetime(2024, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    assert clock.monotonic() == mono + 1.5
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        ManualClock(datetime(2024, 1, 1))
