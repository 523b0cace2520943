"""A coroutine that runs for the lifetime of an app (the outbox relay, the CRM consumer)."""

from __future__ import annotations

import asyncio
import contextlib


class BackgroundWorker:
    """Subclasses implement `_run` (loops until cancelled) and may implement `_on_stop`
    (release clients after the loop has stopped)."""

    _task_name = "background-worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=self._task_name)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._on_stop()

    async def _run(self) -> None:
        raise NotImplementedError

    async def _on_stop(self) -> None:
        return None
