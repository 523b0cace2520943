"""Fault scenarios under load, and the invariants checked after each.

Each scenario runs a steady load through the public HAProxy listeners, injects one fault after a
warm-up, lifts it after `fault_s`, keeps the load going for a recovery period, then checks:

- every acknowledged write is in the primary database (books by ISBN, customers by id);
- every registered customer received exactly one welcome e-mail (none lost, none twice);
- no process other than the one the fault hit was restarted or died.

The figures per scenario: requests sent, status counts, failed requests (5xx or no answer)
during the fault and after it, the longest answer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from topology.cluster import DATABASES, Topology
from topology.load import Load, LoadResult

# A burst of registrations (the CRM scenario).
REGISTRATIONS = {"post_customer": 70, "get_customer": 10, "get_book": 10, "list_books": 10}
# Recommendations through both Book service replicas (the engine scenario).
RELATED = {"related_books": 50, "post_book": 10, "get_book": 30, "list_books": 10}


@dataclass
class Timing:
    warmup_s: float = 3.0
    fault_s: float = 10.0
    recovery_s: float = 8.0
    rate_per_s: float = 30.0
    mail_wait_s: float = 60.0

    @property
    def duration_s(self) -> float:
        return self.warmup_s + self.fault_s + self.recovery_s


@dataclass
class Outcome:
    scenario: str
    sent: int
    statuses: dict[int, int]
    failed_during: int
    failed_after: int
    longest_ms: float
    writes_acknowledged: int
    writes_missing: int
    customers: int
    mails_missing: int
    mails_duplicated: int
    restarted_unexpectedly: list[str]
    recovered_s: float | None
    # kind of request -> {status: count} of the failures during the fault
    failures_during: dict[str, dict[int, int]] = field(default_factory=dict)

    @property
    def invariants_hold(self) -> bool:
        return (self.writes_missing == 0 and self.mails_missing == 0
                and self.mails_duplicated == 0 and not self.restarted_unexpectedly)

    def row(self) -> str:
        statuses = ", ".join(f"{code or 'none'}: {n}" for code, n in sorted(self.statuses.items()))
        return (f"| {self.scenario} | {self.sent} | {statuses} | {self.failed_during} | "
                f"{self.failed_after} | {self.longest_ms:,.0f} | "
                f"{self.writes_acknowledged - self.writes_missing}/{self.writes_acknowledged} | "
                f"{self.customers - self.mails_missing}/{self.customers}"
                f"{f' ({self.mails_duplicated} twice)' if self.mails_duplicated else ''} | "
                f"{', '.join(self.restarted_unexpectedly) or 'none'} | "
                f"{'' if self.recovered_s is None else f'{self.recovered_s:.1f}'} |")


HEADER = ("| scenario | requests | statuses | failed during fault | failed after | longest ms "
          "| writes in DB | customers mailed once | other restarts | recovered s |\n"
          "|---|---:|---|---:|---:|---:|---:|---:|---|---:|")

Fault = Callable[[Topology], Awaitable[None]]


async def run_scenario(topology: Topology, name: str, inject: Fault, lift: Fault,
                       touched: set[str], timing: Timing,
                       mix: dict[str, int] | None = None) -> Outcome:
    """Load; after the warm-up `inject`, after `fault_s` `lift`; then check the invariants."""
    pids_before = topology.pids()
    load = Load(topology.book_url, topology.customer_url, topology.token,
                rate_per_s=timing.rate_per_s, duration_s=timing.duration_s, mix=mix,
                tag=name.replace("-", "")[:6] + str(int(time.time()) % 10000))
    running = asyncio.create_task(load.run())
    await asyncio.sleep(timing.warmup_s)
    fault_start = time.monotonic()
    await inject(topology)
    await asyncio.sleep(max(0.0, fault_start + timing.fault_s - time.monotonic()))
    lift_start = time.monotonic()
    await lift(topology)
    lifted = time.monotonic()
    result = await running
    recovered = first_success_after(result, lift_start)
    outcome = await check(topology, name, result, fault_start, lifted, pids_before, touched,
                          timing)
    outcome.recovered_s = None if recovered is None else recovered - lift_start
    return outcome


def first_success_after(result: LoadResult, since: float) -> float | None:
    """When the first request started after `since` that succeeded, with no failure after it."""
    later = sorted((r for r in result.records if r.started >= since), key=lambda r: r.started)
    last_failure = max((r.started for r in later if r.status == 0 or r.status >= 500),
                       default=None)
    ok = [r.started for r in later if 0 < r.status < 500
          and (last_failure is None or r.started > last_failure)]
    return ok[0] if ok else None


async def check(topology: Topology, name: str, result: LoadResult, fault_start: float,
                lifted: float, pids_before: dict[str, int], touched: set[str],
                timing: Timing) -> Outcome:
    acked = result.acknowledged
    missing_books = await asyncio.to_thread(missing_rows, topology, "svc_book", "books", "isbn",
                                            sorted(acked.books))
    missing_customers = await asyncio.to_thread(missing_rows, topology, "svc_customer",
                                                "customers", "id", sorted(acked.customers))
    expected = {user.lower() for user in acked.customers.values()}
    deadline = time.monotonic() + timing.mail_wait_s
    while True:
        mails = topology.mails_by_recipient()
        if expected <= mails.keys() or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(1.0)  # a late duplicate would arrive now
    mails = topology.mails_by_recipient()
    pids_after = topology.pids()
    restarted = sorted(n for n, pid in pids_before.items()
                       if n not in touched and pids_after.get(n) != pid)
    return Outcome(
        scenario=name, sent=len(result.records), statuses=dict(result.statuses()),
        failed_during=len(result.failed(fault_start, lifted)),
        failed_after=len(result.failed(lifted)), longest_ms=result.longest_ms(),
        writes_acknowledged=len(acked.books) + len(acked.customers),
        writes_missing=len(missing_books) + len(missing_customers),
        customers=len(expected), mails_missing=len(expected - mails.keys()),
        mails_duplicated=sum(1 for a in expected if mails.get(a, 0) > 1),
        restarted_unexpectedly=restarted, recovered_s=None,
        failures_during=failures_by_kind(result, fault_start, lifted))


def failures_by_kind(result: LoadResult, start: float, end: float) -> dict[str, dict[int, int]]:
    found: dict[str, dict[int, int]] = {}
    for record in result.failed(start, end):
        by_status = found.setdefault(record.kind, {})
        by_status[record.status] = by_status.get(record.status, 0) + 1
    return found


def missing_rows(topology: Topology, package: str, table: str, column: str,
                 keys: list[str] | list[int]) -> list[object]:
    if not keys:
        return []
    database = DATABASES[package]
    found: set[object] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        marks = ", ".join(["%s"] * len(chunk))
        rows = topology.db.primary.query(
            f"SELECT `{column}` AS k FROM `{database}`.`{table}` WHERE `{column}` IN ({marks})",
            tuple(chunk))
        found |= {row["k"] for row in rows}
    return [k for k in keys if k not in found]


# -- the scenarios ------------------------------------------------------------------------------


def kill_replica(tier: str) -> tuple[Fault, Fault, set[str]]:
    name = f"{tier}_1"

    async def inject(topology: Topology) -> None:
        await topology.kill(name)

    async def lift(topology: Topology) -> None:
        await topology.restart(name)

    return inject, lift, {name}


async def _kill_crm(topology: Topology) -> None:
    await topology.kill("crm")


async def _restart_crm(topology: Topology) -> None:
    await topology.restart("crm")


async def _stop_broker(topology: Topology) -> None:
    await topology.stop_process("tansu")


async def _start_broker(topology: Topology) -> None:
    await topology.restart("tansu")


async def _kill_primary(topology: Topology) -> None:
    await asyncio.to_thread(topology.db.kill_primary)


async def _start_primary(topology: Topology) -> None:
    await asyncio.to_thread(topology.db.start_primary)


async def _slow_engine_1(topology: Topology) -> None:
    await topology.set_engine_delay(1, 5000)


async def _fast_engine_1(topology: Topology) -> None:
    await topology.set_engine_delay(1, 0)


Scenario = Callable[[], tuple[Fault, Fault, set[str], dict[str, int] | None]]


def _kill_replica_scenario(tier: str) -> Scenario:
    def scenario() -> tuple[Fault, Fault, set[str], dict[str, int] | None]:
        return (*kill_replica(tier), None)
    return scenario


SCENARIOS: dict[str, Scenario] = {
    **{f"kill-{tier.replace('_', '-')}": _kill_replica_scenario(tier)
       for tier in ("bff_book", "bff_customer", "svc_book", "svc_customer")},
    "kill-crm": lambda: (_kill_crm, _restart_crm, {"crm"}, REGISTRATIONS),
    "stop-broker": lambda: (_stop_broker, _start_broker, {"tansu"}, None),
    "kill-primary-db": lambda: (_kill_primary, _start_primary, set(), None),
    "slow-engine-one-replica": lambda: (_slow_engine_1, _fast_engine_1, set(), RELATED),
}


async def run(topology: Topology, names: list[str], timing: Timing) -> list[Outcome]:
    outcomes = []
    for name in names:
        inject, lift, touched, mix = SCENARIOS[name]()
        outcomes.append(await run_scenario(topology, name, inject, lift, touched, timing, mix))
    return outcomes
