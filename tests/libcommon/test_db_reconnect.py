"""The MySQL adapter survives a server restart: simulated by a TCP proxy in front of MariaDB
that drops every connection (restart) or stops listening (outage)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from libcommon.db import DatabaseUnavailable, connect
from tests.fixtures.mariadb import HOST, PORT
from tests.fixtures.procs import free_port


class TcpProxy:
    def __init__(self, listen_port: int) -> None:
        self.listen_port = listen_port
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", self.listen_port)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(HOST, PORT)
        self.writers.update({writer, up_writer})
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def drop_connections(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        self.drop_connections()
        await self.server.wait_closed()


@pytest.mark.mariadb
async def test_reads_recover_after_restart_and_outage(mysql_database: Callable[[], str]) -> None:
    url = mysql_database()
    proxy = TcpProxy(free_port())
    await proxy.start()
    db = await connect(url.replace(f"{HOST}:{PORT}", f"127.0.0.1:{proxy.listen_port}"),
                       pool_min=2, pool_max=4, connect_timeout_s=1)
    try:
        assert await db.fetch_one("SELECT 1 AS one") == {"one": 1}
        proxy.drop_connections()  # the server "restarted": pooled connections are dead
        await asyncio.sleep(0.05)
        assert await db.fetch_one("SELECT 2 AS two") == {"two": 2}

        await proxy.stop()  # outage
        with pytest.raises(DatabaseUnavailable):
            await db.fetch_one("SELECT 3")
        await proxy.start()  # back
        assert await db.fetch_one("SELECT 4 AS four") == {"four": 4}
    finally:
        await db.close()
        await proxy.stop()
