"""Durable storage of deliveries and deployments: SQLite embedded, PostgreSQL for replicas."""

from __future__ import annotations

from relay.store.base import Accepted, NewDelivery, Store, StoredDelivery, StoreError

__all__ = ["Accepted", "NewDelivery", "Store", "StoreError", "StoredDelivery", "open_store"]


async def open_store(url: str) -> Store:
    """Open the store a `store.url` names: sqlite:///path or postgresql://..."""
    if url.startswith("sqlite:///"):
        from relay.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url[len("sqlite:///"):])
    raise StoreError(f"unsupported store url scheme: {url.split(':', 1)[0]}")
