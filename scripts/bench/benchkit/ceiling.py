"""The commit-ceiling case: how many two-insert transactions MariaDB commits per second.

The same shape as POST /customers (a customer-like row and an outbox-like row in one
transaction), without HTTP, validation or JSON, through aiomysql like the services. When the
Customer service is far below its target this tells whether the database is the limit.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import aiomysql

TABLES = (
    "CREATE TABLE IF NOT EXISTS ceiling_customers (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " user_id VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL, city VARCHAR(255) NOT NULL,"
    " UNIQUE KEY uq_user (user_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
    "CREATE TABLE IF NOT EXISTS ceiling_outbox (id BIGINT AUTO_INCREMENT PRIMARY KEY,"
    " event_id VARCHAR(64) NOT NULL, payload LONGBLOB NOT NULL, created_at_ms BIGINT NOT NULL,"
    " UNIQUE KEY uq_event (event_id)) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
)
PAYLOAD = b'{"id":1,"userId":"x@example.com","name":"Bench","city":"Pittsburgh"}' * 3


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(pct / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


async def run_ceiling(host: str, port: int, user: str, password: str, database: str,
                      concurrency: int, duration_s: float, warmup_s: float) -> dict[str, float]:
    """Transactions per second and latency percentiles (ms) over `duration_s`."""
    pool = await aiomysql.create_pool(host=host, port=port, user=user, password=password,
                                      db=database, minsize=concurrency, maxsize=concurrency,
                                      autocommit=False)
    try:
        async with pool.acquire() as conn, conn.cursor() as cur:
            for ddl in TABLES:
                await cur.execute(ddl)
            await conn.commit()
        nonce = uuid.uuid4().hex[:8]
        latencies: list[float] = []
        errors = [0]

        async def worker(worker_id: int, until: float, record: bool) -> int:
            done = 0
            async with pool.acquire() as conn:
                while time.monotonic() < until:
                    key = f"{nonce}-{worker_id}-{done}-{int(record)}"
                    started = time.perf_counter()
                    try:
                        async with conn.cursor() as cur:
                            await cur.execute(
                                "INSERT INTO ceiling_customers (user_id, name, city)"
                                " VALUES (%s, %s, %s)", (f"{key}@bench.example.com", key, "X"))
                            await cur.execute(
                                "INSERT INTO ceiling_outbox (event_id, payload, created_at_ms)"
                                " VALUES (%s, %s, %s)", (key, PAYLOAD, int(time.time() * 1000)))
                        await conn.commit()
                    except Exception:
                        errors[0] += 1
                        await conn.rollback()
                        continue
                    done += 1
                    if record:
                        latencies.append((time.perf_counter() - started) * 1000)
            return done

        if warmup_s > 0:
            until = time.monotonic() + warmup_s
            await asyncio.gather(*(worker(i, until, False) for i in range(concurrency)))
        started = time.monotonic()
        until = started + duration_s
        counts = await asyncio.gather(*(worker(i, until, True) for i in range(concurrency)))
        elapsed = time.monotonic() - started
        latencies.sort()
        return {
            "requests": float(sum(counts)),
            "duration_s": elapsed,
            "rps": sum(counts) / elapsed if elapsed > 0 else 0.0,
            "p50_ms": percentile(latencies, 50),
            "p90_ms": percentile(latencies, 90),
            "p99_ms": percentile(latencies, 99),
            "max_ms": latencies[-1] if latencies else 0.0,
            "mean_ms": sum(latencies) / len(latencies) if latencies else 0.0,
            "errors": float(errors[0]),
        }
    finally:
        pool.close()
        await pool.wait_closed()
