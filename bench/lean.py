"""The durable lean reference: what this stack does with the same durability and none of
relay's features. A second yardstick beside the bare ceiling (bench/ceiling.py).

An aiohttp handler reads the body, checks its HMAC-SHA256 (X-Hub-Signature-256), decodes it
with orjson, and hands one delivery row (the body, the forwarded headers, repository, ref and
commit) and one deployment row to a writer thread. That thread owns a SQLite file in WAL mode
with synchronous=FULL and writes what queued up (at most MAX_BATCH requests) in one
transaction (an `executemany` per table); each caller gets its 202 only after that COMMIT.
A batch that fails (a delivery key seen before, a value SQLite cannot bind) is rolled back
and all its callers get a 503: a yardstick, not a server.

What it leaves out, and relay does: routing, filters and gates, duplicates answered as such,
catch-up twins, the outbox, the canonical log line, metrics, timeouts and bounds, the worker.
So the gap between relay and this reference is the cost of those features and of relay's own
structure, on the same machine, in the same run.

Run: `python -m bench.lean --port 8092 --db /tmp/lean.db` (secret from RELAY_GITHUB_SECRET).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import os
import sqlite3
import threading
from collections import deque
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

MAX_BATCH = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY, source TEXT NOT NULL, delivery_key TEXT NOT NULL,
    received_at REAL NOT NULL, headers TEXT NOT NULL, body BLOB NOT NULL,
    repo TEXT, ref TEXT, commit_sha TEXT, UNIQUE (source, delivery_key));
CREATE TABLE IF NOT EXISTS deployments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, delivery INTEGER NOT NULL, version TEXT,
    status TEXT NOT NULL);
"""

Row = tuple[str, str, float, str, bytes, Any, Any, Any]


class Writer:
    """One thread, one connection: group commits of the rows `submit` queues (unbounded: a
    benchmark reference, not a server)."""

    def __init__(self, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._queue: deque[tuple[Row, asyncio.Future[int]]] = deque()
        self._wake = threading.Event()
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode = WAL")
        self._conn.execute("PRAGMA synchronous = FULL")
        self._conn.executescript(SCHEMA)
        # The next delivery id: this thread is the only writer, and an INTEGER PRIMARY KEY
        # takes one more than the largest (a failed batch is rolled back and takes none).
        self._next = int(self._conn.execute(
            "SELECT coalesce(max(id), 0) + 1 FROM deliveries").fetchone()[0])
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="lean-writer", daemon=True)
        self._thread.start()

    def submit(self, row: Row) -> asyncio.Future[int]:
        future: asyncio.Future[int] = self._loop.create_future()
        self._queue.append((row, future))
        self._wake.set()
        return future

    def close(self) -> None:
        """Stop the thread (joined: call it off the event loop), close the connection; a
        request still queued is failed."""
        self._stop = True
        self._wake.set()
        self._thread.join(timeout=5)
        if not self._thread.is_alive():
            self._conn.close()
        left = list(self._queue)
        self._queue.clear()
        if left:
            self._loop.call_soon_threadsafe(_fail, left, sqlite3.Error("writer stopped"))

    def _run(self) -> None:
        while not self._stop:
            self._wake.wait()
            self._wake.clear()
            while self._queue and not self._stop:
                batch = [self._queue.popleft() for _ in range(min(MAX_BATCH, len(self._queue)))]
                try:
                    first = self._write([row for row, _ in batch])
                except Exception as exc:  # noqa: BLE001 - the batch's callers get a 503
                    self._loop.call_soon_threadsafe(_fail, batch, exc)
                else:
                    self._loop.call_soon_threadsafe(_answer, batch, first)

    def _write(self, rows: list[Row]) -> int:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany(
                "INSERT INTO deliveries (source, delivery_key, received_at, headers, body, "
                "repo, ref, commit_sha) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            first = self._next
            conn.executemany(
                "INSERT INTO deployments (delivery, version, status) VALUES (?, ?, 'queued')",
                [(first + i, row[7]) for i, row in enumerate(rows)])
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self._next = first + len(rows)
        return first


def _answer(batch: list[tuple[Row, asyncio.Future[int]]], first: int) -> None:
    for i, (_, future) in enumerate(batch):
        if not future.done():
            future.set_result(first + i)


def _fail(batch: list[tuple[Row, asyncio.Future[int]]], exc: BaseException) -> None:
    for _, future in batch:
        if not future.done():
            future.set_exception(exc)


SECRET_KEY = web.AppKey("secret", bytes)
WRITER_KEY = web.AppKey("writer", Writer)


async def receive(request: web.Request) -> web.Response:
    body = await request.read()
    headers = request.headers
    digest = hmac.new(request.app[SECRET_KEY], body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(headers.get("X-Hub-Signature-256", ""), "sha256=" + digest):
        return web.Response(status=401)
    try:
        push = orjson.loads(body)
        repo = push["repository"]["full_name"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        return web.Response(status=400)
    key = headers.get("X-GitHub-Delivery", "")
    forwarded = orjson.dumps([["X-GitHub-Event", headers.get("X-GitHub-Event", "")],
                              ["X-GitHub-Delivery", key]]).decode()
    row: Row = ("github", key, asyncio.get_running_loop().time(), forwarded, body, repo,
                push.get("ref"), push.get("after"))
    try:
        delivery = await request.app[WRITER_KEY].submit(row)
    except Exception:  # noqa: BLE001 - the batch failed (see Writer)
        return web.Response(status=503)
    return web.Response(body=orjson.dumps({"delivery": delivery}), status=202,
                        content_type="application/json")


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def create_lean_app(secret: bytes, db: Path) -> web.Application:
    """The reference app; its writer starts with the app and stops (joined) at cleanup."""
    app = web.Application()
    app[SECRET_KEY] = secret

    async def writer(app: web.Application) -> Any:
        app[WRITER_KEY] = Writer(db, asyncio.get_running_loop())
        yield
        await asyncio.get_running_loop().run_in_executor(None, app[WRITER_KEY].close)

    app.cleanup_ctx.append(writer)
    app.router.add_post("/hooks/github", receive)
    app.router.add_get("/readyz", ready)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", type=Path, required=True, help="the SQLite file (created)")
    args = parser.parse_args()
    secret = os.environ["RELAY_GITHUB_SECRET"].encode()
    web.run_app(create_lean_app(secret, args.db), host="127.0.0.1", port=args.port,
                access_log=None, print=None)


if __name__ == "__main__":
    main()
