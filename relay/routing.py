"""The route table (pure): which routes a push matches, and why the others do not."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relay.config import Route
from relay.events import PushEvent, Source


@dataclass(frozen=True, slots=True)
class RouteVerdict:
    route: Route
    matched: bool
    reasons: tuple[str, ...]  # why it did not match (empty when matched)


def lookup(routes: Sequence[Route], event: PushEvent) -> tuple[Route, ...]:
    """Return the routes `event` matches, in file order."""
    raise NotImplementedError


def explain(
    routes: Sequence[Route], *, source: Source | None, repo: str, ref: str
) -> tuple[RouteVerdict, ...]:
    """Judge every route against (source, repo, ref); `ref` may be full or a bare branch name."""
    raise NotImplementedError
