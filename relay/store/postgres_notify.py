"""Wake-ups across replicas: one dedicated connection that LISTENs, reconnecting when it drops.

A pooled connection cannot listen (the pool resets it on release, and a transaction pooler
hands it to someone else), so the listener owns a connection of its own. A notification that
arrives while it reconnects is lost; the worker's idle poll finds that work a little later, and
every (re)connection wakes the subscribers once, in case something was missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable

import asyncpg  # type: ignore[import-untyped, unused-ignore]
import structlog

log = structlog.get_logger("relay.store")

Connect = Callable[[], Awaitable[asyncpg.Connection]]
_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError,
           OSError, TimeoutError)


class Listener:
    """LISTEN on one channel in a background task; call every subscriber on each NOTIFY."""

    def __init__(self, connect: Connect, channel: str, *, keepalive_s: float = 10.0,
                 ping_timeout_s: float = 5.0, max_backoff_s: float = 5.0,
                 describe: Callable[[BaseException], str] = str) -> None:
        self._connect = connect
        self._channel = channel
        self._keepalive_s = keepalive_s
        self._ping_timeout_s = ping_timeout_s
        self._max_backoff_s = max_backoff_s
        self._describe = describe  # error text without secrets
        self._callbacks: list[Callable[[], None]] = []
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()  # set while LISTEN is in effect

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Add a subscriber; start listening if not yet; return the way to unsubscribe."""
        self._callbacks.append(callback)
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"relay-listen-{self._channel}")

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._callbacks.remove(callback)

        return unsubscribe

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.listening.clear()

    def _fire(self) -> None:
        for callback in list(self._callbacks):
            try:
                callback()
            except Exception:  # noqa: BLE001 - one subscriber must not starve the others
                log.exception("wake-up subscriber failed")

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                conn = await self._connect()
            except _ERRORS as exc:
                log.warning("cannot listen for wake-ups; retrying", error=self._describe(exc),
                            retry_in_s=round(backoff, 2))
                await asyncio.sleep(backoff * random.uniform(0.5, 1.0))
                backoff = min(backoff * 2, self._max_backoff_s)
                continue
            backoff = 0.1
            try:
                await self._listen(conn)
            except _ERRORS as exc:
                log.warning("wake-up connection lost; reconnecting", error=self._describe(exc))
            finally:
                self.listening.clear()
                await _close(conn)

    async def _listen(self, conn: asyncpg.Connection) -> None:
        """Listen until the connection ends; a periodic ping notices a silent network drop."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _conn: lost.set())
        await conn.add_listener(self._channel, lambda *_args: self._fire())
        self.listening.set()
        log.info("listening for wake-ups", channel=self._channel)
        self._fire()  # anything stored while we were not listening
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._keepalive_s):
                    await lost.wait()
                    return
            await conn.fetchval("SELECT 1", timeout=self._ping_timeout_s)


async def _close(conn: asyncpg.Connection) -> None:
    """Close politely if the server answers quickly, else drop the socket."""
    try:
        await conn.close(timeout=2.0)
    except asyncio.CancelledError:
        conn.terminate()
        raise
    except Exception:  # noqa: BLE001 - dropping it anyway
        conn.terminate()
