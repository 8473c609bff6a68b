"""`relay prune`, `relay backup` and `relay migrate`: the store, from the shell.

Each loads the configuration as `relay serve` does (the environment included) and opens the
store it names. Exit status: 0 done, 1 the store failed, 2 bad configuration or usage
(`relay backup` of a PostgreSQL store: use pg_dump).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relay.cli import EXIT_OK, EXIT_USAGE, fail
from relay.cli.config_cmds import load_or_report
from relay.config import DEFAULT_CONFIG_PATH, Settings


def register(sub: Any) -> None:
    """Add `prune`, `backup` and `migrate` to the `relay` parser."""
    prune = sub.add_parser(
        "prune", help="delete old deliveries and deployments now (retention)",
        description="Delete deliveries older than retention.deliveries_days and finished "
                    "deployments older than retention.deployments_days, in small batches, "
                    "keeping what ordering, rollbacks, the outbox and quarantines need; "
                    "safe while relay runs. Prints what it removed.")
    _config(prune)
    prune.add_argument("--dry-run", action="store_true",
                       help="count what would be removed; remove nothing")
    prune.set_defaults(func=prune_now)

    backup = sub.add_parser(
        "backup", help="copy a SQLite store to PATH, consistently, while relay runs",
        description="Copy the SQLite store to PATH with SQLite's online backup API: the copy "
                    "holds every delivery acknowledged before it finished. For PostgreSQL, "
                    "use pg_dump (exit 2).")
    backup.add_argument("path", type=Path, metavar="PATH", help="the file to write (replaced)")
    _config(backup)
    backup.set_defaults(func=backup_now)

    migrate = sub.add_parser(
        "migrate", help="bring the store's schema up to date, or list its migrations",
        description="Apply the store's pending schema migrations (relay serve does too, at "
                    "start), then list them; --status and --dry-run change nothing.")
    _config(migrate)
    what = migrate.add_mutually_exclusive_group()
    what.add_argument("--status", action="store_true",
                      help="list applied and pending migrations")
    what.add_argument("--dry-run", action="store_true",
                      help="list the migrations that would be applied, apply none")
    migrate.set_defaults(func=migrate_now)


def _config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, metavar="PATH",
                        help=f"configuration file (default: {DEFAULT_CONFIG_PATH})")


def _store_error() -> type[Exception]:
    from relay.store import StoreError

    return StoreError


def prune_now(args: argparse.Namespace) -> int:
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_USAGE
    from relay.retention import prune
    from relay.store import open_store

    async def run() -> str:
        conf = settings.store
        store = await open_store(conf.url, pool_size=conf.pool_size,
                                 connect_timeout_s=conf.connect_timeout_s,
                                 query_timeout_s=conf.query_timeout_s)
        try:
            report = await prune(store, settings.retention, datetime.now(UTC),
                                 dry_run=args.dry_run)
        finally:
            await store.close()
        return report.describe()

    try:
        print(asyncio.run(run()))
    except _store_error() as exc:
        return fail(f"prune: {exc}")
    return EXIT_OK


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file of the configured store, or None for PostgreSQL."""
    url = settings.store.url
    return Path(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else None


def backup_now(args: argparse.Namespace) -> int:
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_USAGE
    path = sqlite_path(settings)
    if path is None:
        return fail("backup: the store is PostgreSQL: use pg_dump (docs/operations.md, "
                    "\"Backups\")", EXIT_USAGE)
    if not path.exists():
        return fail(f"backup: {path}: no such store")
    target: Path = args.path
    if target.resolve() == path.resolve():
        return fail("backup: PATH is the store itself", EXIT_USAGE)
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    from relay.store.sqlite import SQLiteStore

    async def run() -> None:
        store = await SQLiteStore.open(path)
        try:
            await store.backup(partial)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except _store_error() as exc:
        partial.unlink(missing_ok=True)
        return fail(f"backup: {exc}")
    partial.replace(target)  # a reader of PATH never sees half a copy
    print(f"backed up {path} to {target}")
    return EXIT_OK


def migrate_now(args: argparse.Namespace) -> int:
    settings = load_or_report(args.config)
    if settings is None:
        return EXIT_USAGE
    from relay.store.rows import migrations

    engine = "sqlite" if sqlite_path(settings) is not None else "postgres"
    known = [version for version, _ in migrations(engine)]
    try:
        if args.status or args.dry_run:
            applied = asyncio.run(_applied_without_migrating(settings))
        else:
            applied = asyncio.run(_migrate(settings))
    except (_store_error(), sqlite3.Error, OSError) as exc:
        return fail(f"migrate: {exc}")
    done = dict(applied)
    pending = [v for v in known if v not in done]
    for version in known:
        if version in done:
            print(f"{version:03d}  applied  {done[version]}")
        else:
            print(f"{version:03d}  {'would apply' if args.dry_run else 'pending'}")
    print(f"schema version {max(done, default=0)}, {len(pending)} pending")
    return EXIT_OK


async def _migrate(settings: Settings) -> list[tuple[int, str]]:
    from relay.store import open_store

    conf = settings.store
    store = await open_store(conf.url, pool_size=conf.pool_size,
                             connect_timeout_s=conf.connect_timeout_s,
                             query_timeout_s=conf.query_timeout_s)
    try:
        return await store.schema_versions()
    finally:
        await store.close()


async def _applied_without_migrating(settings: Settings) -> list[tuple[int, str]]:
    path = sqlite_path(settings)
    if path is not None:
        from relay.store.sqlite_retention import schema_versions

        if not path.exists():
            return []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return schema_versions(conn)
        finally:
            conn.close()
    import asyncpg  # type: ignore[import-untyped, unused-ignore]

    from relay.store.postgres_retention import schema_versions as pg_versions

    conf = settings.store
    try:
        conn = await asyncpg.connect(conf.url, timeout=conf.connect_timeout_s,
                                     command_timeout=conf.query_timeout_s)
    except (asyncpg.PostgresError, OSError, TimeoutError) as exc:
        raise _store_error()(f"postgresql: {type(exc).__name__}") from exc
    try:
        return await pg_versions(conn)
    finally:
        await conn.close()
