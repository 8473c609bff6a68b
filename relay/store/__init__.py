"""Durable storage of deliveries and deployments: SQLite embedded, PostgreSQL for replicas."""

from __future__ import annotations

from relay.store.base import Accepted, NewDelivery, Store, StoredDelivery, StoreError

__all__ = ["Accepted", "NewDelivery", "Store", "StoreError", "StoredDelivery", "open_store"]


async def open_store(url: str, *, pool_size: int = 10, connect_timeout_s: float = 5.0,
                     query_timeout_s: float = 5.0) -> Store:
    """Open the store a `store.url` names: sqlite:///path or postgresql://...

    The keyword arguments tune the PostgreSQL connection pool; SQLite ignores them.
    """
    if url.startswith("sqlite:///"):
        from relay.store.sqlite import SQLiteStore

        return await SQLiteStore.open(url[len("sqlite:///"):])
    if url.startswith(("postgresql://", "postgres://")):
        from relay.store.postgres import PostgresStore

        return await PostgresStore.open(url, pool_size=pool_size,
                                        connect_timeout_s=connect_timeout_s,
                                        query_timeout_s=query_timeout_s)
    raise StoreError(f"unsupported store url scheme: {url.split(':', 1)[0]}")
