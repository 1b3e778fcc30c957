"""What ring and perf buffer readers share: waiting on an epoll fd (blocking,
iteration, asyncio) around the reader's own ``read_available()``."""

from __future__ import annotations

import select
import time

TYPE_CHECKING = False  # importing typing costs ms of start-up
if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from typing import Any


class EpollReader:
    """What ring and perf buffer readers share: waiting on their epoll fd
    (blocking, iteration, asyncio) around ``read_available()``. Subclasses
    set ``_ep``, ``interval`` and ``_stopped`` and define read_available/close."""

    _ep: select.epoll
    interval: float
    _stopped: bool

    def read_available(self) -> list[Any]:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def fileno(self) -> int:
        return self._ep.fileno()

    def poll(self, timeout: float | None = None) -> list[Any]:
        """Wait up to ``timeout`` seconds (None: until data) and return what arrived."""
        batch = self.read_available()
        if batch:
            return batch
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._stopped:
            wait = self.interval if deadline is None else min(self.interval, deadline - time.monotonic())
            if wait > 0:
                try:
                    self._ep.poll(wait)
                except InterruptedError:  # pragma: no cover - PEP 475 retries
                    pass
            batch = self.read_available()
            if batch or (deadline is not None and time.monotonic() >= deadline):
                return batch
        return []

    def __iter__(self) -> Iterator[Any]:
        while not self._stopped:
            yield from self.poll(None)

    def __aiter__(self) -> AsyncIterator[Any]:
        return aiter_epoll(self)

    def stop(self) -> None:
        """Make a blocked ``poll(None)``/iteration return (within ``interval``)."""
        self._stopped = True

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


async def aiter_epoll(reader: Any) -> AsyncIterator[Any]:
    """``async for`` over a ring or perf buffer reader: waits on its epoll fd
    in the event loop, never in a thread."""
    import asyncio

    loop = asyncio.get_running_loop()
    ready = asyncio.Event()
    fd = reader.fileno()
    loop.add_reader(fd, ready.set)
    try:
        while not reader._stopped:
            for ev in reader.read_available():
                yield ev
            ready.clear()
            try:
                await asyncio.wait_for(ready.wait(), reader.interval)
            except TimeoutError:
                pass
            reader._ep.poll(0)  # re-arm the level-triggered epoll
    finally:
        loop.remove_reader(fd)


__all__ = ["EpollReader", "aiter_epoll"]
