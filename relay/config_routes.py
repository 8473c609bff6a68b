"""The `routes` section: each entry checked and turned into a Route; duplicates refused."""

from __future__ import annotations

from relay.config import Action, Route, VersionControlSettings
from relay.config_schema import Env, Node, Problems, describe
from relay.events import Source
from relay.globs import GlobError, compile_glob

ROUTE_KEYS = ("repo", "branch", "tag", "cluster", "action", "source", "version_control")
ROUTE_HINTS = {
    "repository": "unknown key (did you mean 'repo'?)",
    "ref": "unknown key: write branch: NAME or tag: PATTERN",
    "cluster_id": "unknown key (did you mean 'cluster'?)",
}
VC_FIELDS = ("type", "path", "subdir", "branch", "account")
VC_HINTS = {
    "password": "secrets live in the environment: use password_env",
    "version": "relay sets the version itself, to the pushed commit",
}


def read_routes(value: object, problems: Problems, env: Env, *,
                configured: set[Source]) -> tuple[Route, ...]:
    """Every valid route of `value` (the `routes` list); problems for the others."""
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add("routes", f"must be a list of routes, got {describe(value)}")
        return ()
    routes = [_route(i, item, problems, env, configured) for i, item in enumerate(value)]
    valid = [route for route in routes if route is not None]
    _check_duplicates(valid, problems)
    return tuple(valid)


def _route(index: int, item: object, problems: Problems, env: Env,
           configured: set[Source]) -> Route | None:
    before = len(problems)
    node = Node.open(problems, f"routes[{index}]", item, allowed=ROUTE_KEYS,
                     required=("repo", "cluster", "action"), hints=ROUTE_HINTS)
    if not isinstance(item, dict):
        return None
    repo = _glob(node, "repo", ignore_case=True)
    if repo is not None and "/" not in repo and "**" not in repo:
        node.add("repo", f"'{repo}' has no '/': repositories are owner/name or "
                         "group/subgroup/project ('**' matches any)")
    branch, tag = _ref(node)
    cluster = node.integer("cluster", 1)
    action = Action(node.choice("action", Action.VERSION, tuple(Action), noun="action"))
    source = _source(node, configured)
    version_control = _version_control(node, action, env)
    if len(problems) > before or repo is None:
        return None
    return Route(index=index, repo=repo, branch=branch, tag=tag, cluster=cluster, action=action,
                 source=source, version_control=version_control)


def _ref(node: Node) -> tuple[str | None, str | None]:
    """The branch and tag globs; exactly one of them must be there."""
    if node.has("branch") and node.has("tag"):
        node.problems.add(node.path, "has both branch and tag: a route has exactly one "
                                     "(write two routes)")
    elif not node.has("branch") and not node.has("tag"):
        node.problems.add(node.path, "needs a branch or a tag")
    return _glob(node, "branch"), _glob(node, "tag")


def _glob(node: Node, key: str, *, ignore_case: bool = False) -> str | None:
    """The glob under `key` if present and well-formed."""
    if not node.has(key):
        return None
    value = node.data[key]
    if not isinstance(value, str):
        node.add(key, f"must be a string, got {describe(value)} (quote it)")
        return None
    if not value:
        node.add(key, "must not be empty")
        return None
    if any(char.isspace() for char in value):
        node.add(key, f"'{value}' contains whitespace, which names and refs never do")
        return None
    try:
        compile_glob(value, ignore_case=ignore_case)
    except GlobError as exc:
        node.add(key, f"bad glob '{value}': {exc}")
        return None
    return value


def _source(node: Node, configured: set[Source]) -> Source | None:
    if not node.has("source"):
        return None
    name = node.choice("source", "", tuple(Source), noun="source")
    if not name:
        return None
    source = Source(name)
    if source not in configured:
        node.add("source", f"source {source} is not configured under sources: "
                           "this route could never match")
    return source


def _version_control(node: Node, action: Action, env: Env) -> VersionControlSettings | None:
    """The route's version_control block (action: version only); its password from the env."""
    if not node.has("version_control"):
        return None
    if action is Action.HOOK:
        node.add("version_control", "only for action: version (an action: hook route "
                                    "forwards the delivery as it came)")
        return None
    block = node.section("version_control", allowed=(*VC_FIELDS, "password_env"),
                         hints=VC_HINTS)
    fields = tuple((key, block.choice(key, "git", ("git", "svn")) if key == "type"
                    else block.text(key, "")) for key in VC_FIELDS if block.has(key))
    password = None
    if block.has("password_env"):
        name = env.name(block.at("password_env"), block.data["password_env"])
        password = env.secret(block.at("password_env"), name) if name else None
    if not fields and password is None:
        return None
    return VersionControlSettings(fields=fields, password=password)


def _check_duplicates(routes: list[Route], problems: Problems) -> None:
    seen: dict[tuple[object, ...], int] = {}
    for route in routes:
        key = (route.repo.lower(), route.branch, route.tag, route.cluster, route.action,
               route.source)
        if key in seen:
            problems.add(f"routes[{route.index}]", f"duplicates routes[{seen[key]}]: one push "
                                                  f"would deploy cluster {route.cluster} twice")
        else:
            seen[key] = route.index
