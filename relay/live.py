"""The settings in force: one holder, read on every use, replaced on a reload (SIGHUP).

relay reads its configuration once at start. `relay serve` re-reads it on SIGHUP: when the new
file is valid, the sections that can change in a running process (`RELOADABLE`: the routes,
the sources with their secrets, the admin token) take effect for the next delivery, admin
request, trigger, gate decision and catch-up poll; every other section, and a source's `api`,
keep their old values until a restart, and the reload says which of them changed.
An invalid file changes nothing. docs/operations.md, "Reloading the configuration".
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

from relay.settings import Settings

# The sections a reload applies; every other section needs a restart.
RELOADABLE = ("sources", "admin", "routes")


@dataclass(frozen=True, slots=True)
class Reload:
    """What a reload did: `applied` sections changed and now in force; `needs_restart`
    sections changed in the file but keep their old values until relay restarts."""

    applied: tuple[str, ...]
    needs_restart: tuple[str, ...]


class LiveSettings:
    """Holds the Settings in force; `current` is read on every use, never cached."""

    def __init__(self, settings: Settings) -> None:
        self._current = settings

    @property
    def current(self) -> Settings:
        return self._current

    def reload(self, given: Settings) -> Reload:
        """Put `given`'s reloadable sections in force; report what changed (pure, no I/O)."""
        new = given
        old = self._current
        # A source's secrets reload; its `api` (the clients built at start) needs a restart.
        sources = {source: replace(conf, api=old.sources[source].api
                                   if source in old.sources else None)
                   for source, conf in new.sources.items()}
        new = replace(new, sources=sources)
        applied = tuple(name for name in RELOADABLE if getattr(old, name) != getattr(new, name))
        # Sections only: a derived field (init=False, e.g. reads_file_lists) follows its
        # sections by itself, `replace` computes it again.
        needs_restart = tuple(f.name for f in fields(Settings) if f.init
                              and f.name not in RELOADABLE
                              and getattr(old, f.name) != getattr(new, f.name))
        if any(conf.api != sources[source].api for source, conf in given.sources.items()):
            needs_restart += ("sources.*.api",)
        self._current = replace(old, **{name: getattr(new, name) for name in RELOADABLE})
        return Reload(applied, needs_restart)
