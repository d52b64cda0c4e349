"""The tasks one feed or one stream runs for itself (seeds, fills, catch-up reads).

Both need the same three things: a strong reference while a task runs (the event loop keeps only
weak ones), a name that says whose work it is in a task dump, and a stop that cancels every task
at once and hands them back so that the caller can await them: that is how a stop stays
immediate and still leaves nothing behind."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


class OwnedTasks:
    """The running tasks of one owner, named ``woox-stream-{what}-{owner}``."""

    __slots__ = ("_owner", "_tasks")

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None], what: str) -> asyncio.Task[None]:
        name = f"woox-stream-{what}-{self._owner}"
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> list[asyncio.Task[None]]:
        """Cancel every task still running (except the caller's own, which is ending anyway)
        and return them, to be awaited."""
        tasks = [t for t in self._tasks if not t.done() and t is not asyncio.current_task()]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        return tasks
