"""Which branch heads catch-up reads (pure: routes and sources in, targets out).

Catch-up reads the head of every branch a route names exactly, in a repository the route
names exactly, on a source whose `api` is configured. A glob (`release/*`, `acme/*`) names no
branch that can be read, a tag route has no head that moves, and a source without `api` has
no API to read: such routes are not covered, and `relay check-config` says so.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from relay.events import Source
from relay.settings import Route

_GLOB_CHARS = frozenset("*?[]{}\\")


@dataclass(frozen=True, slots=True, order=True)
class Target:
    """One branch head catch-up reads: `repo` as the route writes it, `branch` without
    refs/heads/."""

    source: Source
    repo: str
    branch: str

    @property
    def ref(self) -> str:
        return f"refs/heads/{self.branch}"


def is_exact(pattern: str) -> bool:
    """True when a glob names exactly one string (no wildcard, class, brace or escape)."""
    return not (_GLOB_CHARS & set(pattern))


def targets(routes: Iterable[Route], with_api: Collection[Source]) -> tuple[Target, ...]:
    """Every branch head to read, each once, sorted (source, repo, branch)."""
    found: set[Target] = set()
    for route in routes:
        if route.branch is None or not is_exact(route.branch) or not is_exact(route.repo):
            continue
        for source in ([route.source] if route.source is not None else list(with_api)):
            if source in with_api:
                found.add(Target(source, route.repo, route.branch))
    return tuple(sorted(found))


def uncovered(routes: Iterable[Route], with_api: Collection[Source]
              ) -> list[tuple[Route, str]]:
    """Each branch route catch-up does not cover, with the reason (empty without any `api`)."""
    if not with_api:
        return []
    found = []
    for route in routes:
        if route.branch is None:
            continue  # a tag has no head to read; pushes of tags arrive only as deliveries
        if not is_exact(route.branch) or not is_exact(route.repo):
            found.append((route, f"catch-up does not poll glob branches or repositories "
                                 f"({route.repo} {route.branch}): a push missed there is "
                                 "not caught up"))
        elif route.source is not None and route.source not in with_api:
            found.append((route, f"catch-up does not cover it: sources.{route.source} has "
                                 "no api"))
    return found
