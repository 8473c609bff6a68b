"""The route table (pure): which routes a push matches, and why the others do not.

Globs are compiled when a Route is built (relay.globs) and match in time linear in the text,
so a lookup costs at most two such matches per route, the repository first (it is short and
rules most routes out). Repositories match case-insensitively; branches and tags, like git
refs, case-sensitively. A ref longer than MAX_REF_LENGTH characters matches no route: git
itself keeps refs far shorter (a ref is a file name, at most 255 bytes on common file
systems), so such a push comes from no real repository.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relay.config import Route
from relay.events import PushEvent, Source
from relay.gates.filters import explain as explain_filters

BRANCH_PREFIX = "refs/heads/"
TAG_PREFIX = "refs/tags/"
MAX_REF_LENGTH = 1024  # characters of a full ref (refs/heads/...); longer ones match nothing


@dataclass(frozen=True, slots=True)
class RouteVerdict:
    route: Route
    matched: bool
    reasons: tuple[str, ...]  # why it did not match (empty when matched)


def lookup(routes: Sequence[Route], event: PushEvent) -> tuple[Route, ...]:
    """Return the routes `event` matches, in file order (none for a ref over MAX_REF_LENGTH)."""
    if len(event.ref) > MAX_REF_LENGTH:
        return ()
    return tuple(
        route for route in routes
        if (route.source is None or route.source == event.source)
        and route.repo_pattern.match(event.repository) is not None
        and _ref_matches(route, event.branch, event.tag)
    )


def _ref_matches(route: Route, branch: str | None, tag: str | None) -> bool:
    name = branch if route.branch is not None else tag
    return name is not None and route.ref_pattern.match(name) is not None


def ref_too_long(ref: str) -> str | None:
    """The reason a ref is refused for its length, or None when it is short enough."""
    if len(ref) <= MAX_REF_LENGTH:
        return None
    return f"ref is {len(ref)} characters long, over the {MAX_REF_LENGTH} relay accepts"


def split_ref(ref: str) -> tuple[str | None, str | None]:
    """(branch, tag) of `ref`: refs/heads/x, refs/tags/x, or a bare name (a branch)."""
    if ref.startswith(BRANCH_PREFIX):
        return ref.removeprefix(BRANCH_PREFIX), None
    if ref.startswith(TAG_PREFIX):
        return None, ref.removeprefix(TAG_PREFIX)
    if ref.startswith("refs/"):
        return None, None  # e.g. refs/pull/1/head: neither
    return ref, None


def explain(
    routes: Sequence[Route], *, source: Source | None, repo: str, ref: str
) -> tuple[RouteVerdict, ...]:
    """Judge every route against (source, repo, ref); `ref` may be full or a bare branch name.

    `source` None stands for any source: a route's source filter is then no reason.
    """
    branch, tag = split_ref(ref)
    verdicts = []
    for route in routes:
        reasons = _reasons(route, source=source, repo=repo, ref=ref, branch=branch, tag=tag)
        verdicts.append(RouteVerdict(route=route, matched=not reasons, reasons=reasons))
    return tuple(verdicts)


def _reasons(route: Route, *, source: Source | None, repo: str, ref: str,
             branch: str | None, tag: str | None) -> tuple[str, ...]:
    """Every reason `route` does not match, in the order source, repository, ref."""
    reasons = []
    if source is not None and route.source is not None and route.source != source:
        reasons.append(f"source {source} is not {route.source}")
    if route.repo_pattern.match(repo) is None:
        reasons.append(f"repository '{repo}' does not match '{route.repo}'")
    reason = ref_too_long(ref) or _ref_reason(route, ref=ref, branch=branch, tag=tag)
    if reason:
        reasons.append(reason)
    return tuple(reasons)


def _ref_reason(route: Route, *, ref: str, branch: str | None, tag: str | None) -> str | None:
    kind = route.ref_kind
    name = branch if kind == "branch" else tag
    if branch is None and tag is None:
        return f"ref '{ref}' is neither a branch nor a tag"
    if name is None:
        return f"ref is a {'tag' if tag is not None else 'branch'} but the route wants a {kind}"
    if route.ref_pattern.match(name) is None:
        return f"{kind} '{name}' does not match '{route.ref_glob}'"
    return None


def route_to_json(route: Route) -> dict[str, Any]:
    """The route as the admin API and `--json` show it (no secrets: none are in it)."""
    return {
        "index": route.index,
        "repo": route.repo,
        route.ref_kind: route.ref_glob,
        "cluster": route.cluster,
        "action": route.action.value,
        "source": route.source.value if route.source is not None else None,
    }


def verdicts_to_json(verdicts: Sequence[RouteVerdict], *, source: Source | None, repo: str,
                     ref: str, paths: Sequence[str] | None = None,
                     message: str | None = None) -> dict[str, Any]:
    """The answer of `GET /api/routes/explain` and of `relay routes explain --json`.

    With `paths` (changed files) or `message` (the head commit message), each route also
    carries `filters`: each filter's decision (relay.gates.filters.explain).
    """
    gated = paths is not None or message is not None
    is_tag = split_ref(ref)[1] is not None
    answer: dict[str, Any] = {
        "source": source.value if source is not None else None,
        "repo": repo,
        "ref": ref,
        "matched": sum(1 for verdict in verdicts if verdict.matched),
        "routes": [],
    }
    for v in verdicts:
        item = {**route_to_json(v.route), "matched": v.matched, "reasons": list(v.reasons)}
        if gated:
            item["filters"] = [
                {"filter": d.filter, "verdict": d.verdict.value, "reason": d.reason}
                for d in explain_filters(v.route.filters, paths=paths, message=message,
                                         is_tag=is_tag)]
        answer["routes"].append(item)
    return answer
