"""Shared by the status page's tests: a store with the deploy gates' hold methods."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from relay.store.sqlite import SQLiteStore


class GatedStore(SQLiteStore):
    """SQLite plus in-memory holds with the signatures the status page calls:
    `pause(cluster, *, reason, until, now)`, `resume(cluster, *, now)`, `list_holds(*, now)`."""

    held: dict[int, tuple[str, datetime | None]]

    @classmethod
    async def open_gated(cls, path: Path) -> GatedStore:
        store = await cls.open(path)
        assert isinstance(store, GatedStore)
        store.held = {}
        return store

    async def pause(self, cluster: int, *, reason: str, until: datetime | None,
                    now: datetime) -> None:
        self.held[cluster] = (reason, until)

    async def resume(self, cluster: int, *, now: datetime) -> None:
        self.held.pop(cluster, None)

    async def list_holds(self, *, now: datetime) -> Sequence[dict[str, Any]]:
        return [{"cluster": c, "reason": r, "until": u, "kind": "pause", "active": True}
                for c, (r, u) in self.held.items()]
