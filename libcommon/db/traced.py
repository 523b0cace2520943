"""One OpenTelemetry span per SQL statement, around any `Database`.

`database_ctx` wraps the database in `TracedDatabase` only when tracing is on, so the adapters
and the hot path are untouched when it is off. The statement text is recorded as written: our
SQL carries `%s` placeholders only, never values.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, nullcontext
from typing import Any

from opentelemetry import trace

from libcommon.db.base import Database, Dialect, ExecResult, Executor, Params, Row
from libcommon.tracing import get_tracer

_TABLE = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN)\s+`?([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
_names: dict[str, tuple[str, str]] = {}


def _describe(sql: str) -> tuple[str, str]:
    """(span name, operation) for a statement: `SELECT books`, `INSERT outbox`, ..."""
    cached = _names.get(sql)
    if cached is None:
        operation = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else "SQL"
        table = _TABLE.search(sql)
        cached = (f"{operation} {table.group(1)}" if table else operation, operation)
        if len(_names) < 1024:  # our statements are a fixed set; a bound all the same
            _names[sql] = cached
    return cached


class _TracedExecutor:
    def __init__(self, inner: Executor, tracer: trace.Tracer, attributes: dict[str, Any]) -> None:
        self._inner = inner
        self._tracer = tracer
        self._attributes = attributes

    def _span(self, sql: str) -> Any:
        # Statements only inside a recorded trace: the relay's polling and the readiness
        # probes would otherwise start a trace of their own every second, and a request the
        # sampler dropped (parent-based: its children are dropped too) costs nothing more.
        if not trace.get_current_span().is_recording():
            return nullcontext(trace.INVALID_SPAN)
        name, operation = _describe(sql)
        return self._tracer.start_as_current_span(
            name, kind=trace.SpanKind.CLIENT,
            attributes={**self._attributes, "db.operation.name": operation, "db.query.text": sql},
        )

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None:
        with self._span(sql):
            return await self._inner.fetch_one(sql, params)

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]:
        with self._span(sql) as span:
            rows = await self._inner.fetch_all(sql, params)
            span.set_attribute("db.response.returned_rows", len(rows))
            return rows

    async def execute(self, sql: str, params: Params = ()) -> ExecResult:
        with self._span(sql) as span:
            result = await self._inner.execute(sql, params)
            span.set_attribute("db.response.affected_rows", result.rowcount)
            return result


class TracedDatabase(_TracedExecutor):
    """A `Database` whose statements (also inside `transaction()`) are spans."""

    def __init__(self, inner: Database, *, namespace: str | None = None) -> None:
        attributes: dict[str, Any] = {"db.system.name": inner.dialect}
        if namespace:
            attributes["db.namespace"] = namespace
        super().__init__(inner, get_tracer("libcommon.db"), attributes)
        self._db = inner
        self.dialect: Dialect = inner.dialect
        # The routed reads (writer/reader, libcommon/db/routing.py) are spans too.
        self.point_reads: Executor = _TracedExecutor(inner.point_reads, self._tracer,
                                                     self._attributes)
        self.list_reads: Executor = _TracedExecutor(inner.list_reads, self._tracer,
                                                    self._attributes)

    @property
    def inner(self) -> Database:
        return self._db

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Executor]:
        if not trace.get_current_span().is_recording():
            async with self._db.transaction() as tx:
                yield tx
            return
        with self._tracer.start_as_current_span(
            "transaction", kind=trace.SpanKind.CLIENT, attributes=self._attributes
        ):
            async with self._db.transaction() as tx:
                yield _TracedExecutor(tx, self._tracer, self._attributes)

    async def ping(self) -> None:
        await self._db.ping()  # readiness probes: not worth a span each

    async def close(self) -> None:
        await self._db.close()
