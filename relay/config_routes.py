"""The `routes` section: the rules across a route's keys and across routes; Route values.

Pure. Each route's keys were checked by relay.config_schema.RouteSection; here: exactly one of
branch / tag, `version_control` only with `action: version`, a `source` that is configured,
no duplicate route (problems), and a route doing what an earlier one does already (a warning).
"""

from __future__ import annotations

from collections.abc import Mapping

from relay.config_problems import ConfigProblem
from relay.config_schema import RouteSection
from relay.events import Source
from relay.gates.checks import OnTimeout, WaitForChecks
from relay.gates.filters import DEFAULT_SKIP_MARKERS, FilterError, RouteFilters
from relay.secret import Secret
from relay.settings import Action, Route, VersionControlSettings

VC_FIELDS = ("type", "path", "subdir", "branch", "account")


def route_problems(raw: object, index: int, configured: set[Source]) -> list[ConfigProblem]:
    """The rules across the keys of route `index`, as written (`raw`)."""
    if not isinstance(raw, dict):
        return []  # the schema said so already
    path = f"routes[{index}]"
    found = []
    if "branch" in raw and "tag" in raw:
        found.append(ConfigProblem(path, "has both branch and tag: a route has exactly one "
                                         "(write two routes)"))
    elif "branch" not in raw and "tag" not in raw:
        found.append(ConfigProblem(path, "needs a branch or a tag"))
    action = raw.get("action")
    if "version_control" in raw and isinstance(action, str) and action.lower() == Action.HOOK:
        found.append(ConfigProblem(f"{path}.version_control", "only for action: version (an "
                                   "action: hook route forwards the delivery as it came)"))
    on_failure = raw.get("on_failure")
    if (isinstance(on_failure, str) and on_failure.lower() == "rollback"
            and isinstance(action, str) and action.lower() == Action.HOOK):
        found.append(ConfigProblem(f"{path}.on_failure", "rollback needs action: version (relay "
                                   "cannot roll back what a hook did)"))
    found += _filter_problems(raw, path)
    source = raw.get("source")
    if isinstance(source, str) and source.lower() in tuple(Source):
        if Source(source.lower()) not in configured:
            found.append(ConfigProblem(f"{path}.source", f"source {source.lower()} is not "
                                       "configured under sources: this route could never match"))
    return found


def _filter_problems(raw: dict[object, object], path: str) -> list[ConfigProblem]:
    """relay.gates.filters' own rules (a malformed glob, `paths: []`, an empty marker)."""
    def strings(key: str) -> tuple[str, ...] | None:
        value = raw.get(key)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return None
        return tuple(value)

    try:
        # Empty markers: the schema's text rule reports them already.
        RouteFilters(paths=strings("paths"), paths_ignore=strings("paths_ignore"),
                     skip_markers=())
    except FilterError as exc:
        found = []
        for problem in exc.problems:  # "paths_ignore[0]: unclosed '[' ..."
            key, _, message = problem.partition(": ")
            found.append(ConfigProblem(f"{path}.{key}", message))
        return found
    return []


def build_route(index: int, section: RouteSection,
                secrets: Mapping[str, Secret | None] | None, *,
                skip_markers: tuple[str, ...] = DEFAULT_SKIP_MARKERS) -> Route:
    """The Route of a valid route section; `secrets` None: --no-env (password not read).

    `skip_markers`: the top-level list, used when the route has none of its own.
    """
    block = section.version_control
    version_control = None
    if block is not None:
        fields = tuple((key, str(getattr(block, key))) for key in VC_FIELDS
                       if getattr(block, key) is not None)
        password = None
        if block.password_env is not None:
            path = f"routes[{index}].version_control.password_env"
            password = (secrets.get(path) if secrets is not None
                        else Secret("", source=str(block.password_env)))
        if fields or password is not None:
            version_control = VersionControlSettings(fields=fields, password=password)
    markers = (skip_markers if section.skip_markers is None
               else tuple(section.skip_markers))
    filters = RouteFilters(
        paths=None if section.paths is None else tuple(section.paths),
        paths_ignore=None if section.paths_ignore is None else tuple(section.paths_ignore),
        skip_markers=markers)
    checks = section.wait_for_checks
    return Route(index=index, repo=section.repo, branch=section.branch, tag=section.tag,
                 cluster=section.cluster, action=Action(section.action),
                 source=Source(section.source) if section.source else None,
                 version_control=version_control, environment=section.environment,
                 filters=filters,
                 on_failure=str(section.on_failure),
                 wait_for_checks=None if checks is None else WaitForChecks(
                     timeout_s=checks.timeout_s, contexts=tuple(checks.contexts),
                     on_timeout=OnTimeout(checks.on_timeout)))


def duplicates(routes: list[Route]) -> list[ConfigProblem]:
    """A route equal to an earlier one (repo ignoring case) would deploy a cluster twice."""
    found = []
    seen: dict[tuple[object, ...], int] = {}
    for route in routes:
        key = (route.repo.lower(), route.branch, route.tag, route.cluster, route.action,
               route.source)
        if key in seen:
            found.append(ConfigProblem(f"routes[{route.index}]", f"duplicates routes[{seen[key]}]:"
                                       f" one push would deploy cluster {route.cluster} twice"))
        else:
            seen.setdefault(key, route.index)
    return found


def shadowed(routes: list[Route]) -> list[ConfigProblem]:
    """Warnings: a route for the cluster and repo/ref patterns of an earlier one (differing in
    action or source) deploys that cluster a second time for the pushes both match."""
    found = []
    first: dict[tuple[object, ...], Route] = {}
    for route in routes:
        key = (route.repo.lower(), route.ref_kind, route.ref_glob, route.cluster)
        earlier = first.setdefault(key, route)
        if earlier is route:
            continue
        if (earlier.action, earlier.source) == (route.action, route.source):
            continue  # an exact duplicate: a problem, reported by duplicates()
        found.append(ConfigProblem(
            f"routes[{route.index}]",
            f"shadowed by routes[{earlier.index}]: same cluster {route.cluster}, repo "
            f"'{route.repo}' and {route.ref_kind} '{route.ref_glob}', so a push both match "
            "deploys this cluster twice (merge them, or narrow one by source)"))
    return found
