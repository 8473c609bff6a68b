"""relay.config: YAML + environment -> Settings, and every problem with its key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from relay.config import (
    Action,
    ConfigError,
    ConfigProblem,
    Settings,
    load_settings,
    parse_settings,
)
from relay.events import Source

REPO_ROOT = Path(__file__).resolve().parents[2]

ENV = {
    "RELAY_API_TOKEN": "api-token-Zq81",
    "RELAY_GITHUB_SECRET": "gh-secret-Yx72",
    "RELAY_GITHUB_SECRET_OLD": "gh-secret-old-Wv63",
    "RELAY_GITLAB_TOKEN": "gl-token-Vu54",
    "RELAY_GITEA_SECRET": "gitea-secret-Ut45",
    "RELAY_ADMIN_TOKEN": "admin-token-Ts36",
    "RELAY_VC_PASSWORD": "vc-password-Sr27",
}
SECRET_VALUES = list(ENV.values())


def base() -> dict[str, Any]:
    """A valid configuration touching every section."""
    return {
        "server": {"host": "0.0.0.0", "port": 9090, "max_body_bytes": 1024,
                   "shutdown_timeout_s": 5},
        "store": {"url": "postgresql://relay@db.internal:5432/relay"},
        "cluster_api": {"base_url": "https://open.c.163.com/", "token_env": "RELAY_API_TOKEN",
                        "request_timeout_s": 2.5, "watch_timeout_s": 30,
                        "hook_hosts": ["Hooks.Example.com", "10.0.0.7"]},
        "sources": {
            "github": {"secret_env": ["RELAY_GITHUB_SECRET", "RELAY_GITHUB_SECRET_OLD"]},
            "gitlab": {"token_env": "RELAY_GITLAB_TOKEN"},
            "gitea": {"secret_env": ["RELAY_GITEA_SECRET"]},
        },
        "admin": {"token_env": "RELAY_ADMIN_TOKEN"},
        "rollout": {"timeout_s": 600},
        "logging": {"level": "DEBUG", "format": "json"},
        "routes": [
            {"repo": "acme/shop", "branch": "main", "cluster": 10702, "action": "version",
             "source": "github",
             "version_control": {"type": "git", "account": "deploy@example.com",
                                 "password_env": "RELAY_VC_PASSWORD"}},
            {"repo": "acme/shop", "tag": "v*", "cluster": 10800, "action": "hook"},
        ],
    }


def write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "relay.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return path


def load(tmp_path: Path, data: object, env: dict[str, str] = ENV) -> Settings:
    return load_settings(write(tmp_path, data), env)


def problems(tmp_path: Path, data: object, env: dict[str, str] = ENV) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, env)
    return list(info.value.problems)


def message_at(tmp_path: Path, data: object, path: str, env: dict[str, str] = ENV) -> str:
    """The one problem reported at `path` (and fail if it is not the only problem)."""
    found = problems(tmp_path, data, env)
    assert [p.path for p in found] == [path], found
    return found[0].message


def changed(path: str, value: object) -> dict[str, Any]:
    """base() with the value at dotted `path` (list indexes as numbers) replaced or deleted."""
    data = base()
    *parents, last = [int(part) if part.isdigit() else part for part in path.split(".")]
    target: Any = data
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


DELETE = object()


def without_env(*names: str) -> dict[str, str]:
    return {k: v for k, v in ENV.items() if k not in names}


# -- valid configurations --------------------------------------------------------------------


def test_full_configuration_is_read_into_settings(tmp_path: Path) -> None:
    s = load(tmp_path, base())
    assert (s.server.host, s.server.port, s.server.max_body_bytes) == ("0.0.0.0", 9090, 1024)
    assert s.server.shutdown_timeout_s == 5.0
    assert s.store.url == "postgresql://relay@db.internal:5432/relay"
    assert s.cluster_api.base_url == "https://open.c.163.com"  # trailing slash dropped
    assert not s.cluster_api.embedded
    assert s.cluster_api.token.reveal() == ENV["RELAY_API_TOKEN"]
    assert s.cluster_api.token.source == "RELAY_API_TOKEN"
    assert (s.cluster_api.request_timeout_s, s.cluster_api.watch_timeout_s) == (2.5, 30.0)
    assert s.cluster_api.hook_hosts == ("hooks.example.com", "10.0.0.7")
    assert [secret.source for secret in s.sources[Source.GITHUB].secrets] == [
        "RELAY_GITHUB_SECRET", "RELAY_GITHUB_SECRET_OLD"]
    assert s.sources[Source.GITLAB].secrets[0].reveal() == ENV["RELAY_GITLAB_TOKEN"]
    assert s.admin.token is not None and s.admin.token.reveal() == ENV["RELAY_ADMIN_TOKEN"]
    assert s.rollout.timeout_s == 600.0 and isinstance(s.rollout.timeout_s, float)
    assert (s.logging.level, s.logging.format) == ("debug", "json")
    first, second = s.routes
    assert (first.index, first.repo, first.branch, first.tag) == (0, "acme/shop", "main", None)
    assert (first.cluster, first.action, first.source) == (10702, Action.VERSION, Source.GITHUB)
    assert first.version_control is not None
    assert first.version_control.to_api() == {
        "type": "git", "account": "deploy@example.com", "password": ENV["RELAY_VC_PASSWORD"]}
    assert (second.tag, second.branch, second.action, second.source) == (
        "v*", None, Action.HOOK, None)


def test_defaults_apply_to_what_the_file_leaves_out(tmp_path: Path) -> None:
    s = load(tmp_path, "rollout: {}\n", {"RELAY_API_TOKEN": "t0k"})
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8080)
    assert s.server.max_body_bytes == 5_242_880 and s.server.shutdown_timeout_s == 10.0
    assert s.store.url == "sqlite:///relay.db"
    assert s.cluster_api.embedded and s.cluster_api.token.source == "RELAY_API_TOKEN"
    assert (s.cluster_api.request_timeout_s, s.cluster_api.watch_timeout_s) == (10.0, 60.0)
    assert s.cluster_api.hook_hosts == ()
    assert dict(s.sources) == {} and s.routes == ()
    assert s.admin.token is None  # RELAY_ADMIN_TOKEN unset: admin API off
    assert s.rollout.timeout_s == 900.0
    assert (s.logging.level, s.logging.format) == ("info", "auto")


def test_null_sections_read_as_empty(tmp_path: Path) -> None:
    s = load(tmp_path, "server:\nstore:\nsources:\nroutes:\n", {"RELAY_API_TOKEN": "t"})
    assert s.server.port == 8080 and s.routes == () and dict(s.sources) == {}


def test_admin_token_env_defaults_to_relay_admin_token(tmp_path: Path) -> None:
    data = base()
    del data["admin"]
    token = load(tmp_path, data).admin.token
    assert token is not None and token.source == "RELAY_ADMIN_TOKEN"


def test_admin_api_is_off_when_its_variable_is_unset(tmp_path: Path) -> None:
    assert load(tmp_path, base(), without_env("RELAY_ADMIN_TOKEN")).admin.token is None


def test_sqlite_url_and_postgres_scheme_alias_are_accepted(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/relay.db"  # an absolute path: four slashes
    assert url.startswith("sqlite:////")
    assert load(tmp_path, changed("store.url", url)).store.url == url
    assert load(tmp_path, changed("store.url", "postgres://relay@db/relay")).store.url \
        == "postgres://relay@db/relay"


def test_store_pool_settings_are_read_with_defaults(tmp_path: Path) -> None:
    default = load(tmp_path, base()).store
    assert (default.pool_size, default.connect_timeout_s, default.query_timeout_s) == (
        10, 5.0, 5.0)
    data = changed("store.pool_size", 25)
    data["store"].update(connect_timeout_s=2, query_timeout_s=7.5)
    tuned = load(tmp_path, data).store
    assert (tuned.pool_size, tuned.connect_timeout_s, tuned.query_timeout_s) == (25, 2.0, 7.5)


def test_settings_are_frozen(tmp_path: Path) -> None:
    s = load(tmp_path, base())
    with pytest.raises(AttributeError):
        s.server.port = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.sources[Source.GITEA] = s.sources[Source.GITHUB]  # type: ignore[index]


def test_shipped_config_loads_with_the_demo_environment() -> None:
    s = load_settings(REPO_ROOT / "config" / "relay.yaml", ENV)
    assert (s.server.host, s.server.port) == ("127.0.0.1", 8080)
    assert s.store.url == "sqlite:///relay.db" and s.cluster_api.embedded
    assert set(s.sources) == {Source.GITHUB, Source.GITLAB, Source.GITEA}
    assert s.admin.token is not None and s.rollout.timeout_s == 900.0
    assert [(r.repo, r.branch, r.tag, r.cluster, r.action) for r in s.routes] == [
        ("acme/shop", "main", None, 10702, Action.VERSION),
        ("acme/shop", None, "v*", 10800, Action.HOOK),
        ("acme/api", "main", None, 10703, Action.VERSION),
    ]


def test_shipped_config_without_environment_names_every_missing_variable() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(REPO_ROOT / "config" / "relay.yaml", {})
    assert [str(p) for p in info.value.problems] == [
        "cluster_api.token_env: environment variable RELAY_API_TOKEN is not set",
        "sources.github.secret_env[0]: environment variable RELAY_GITHUB_SECRET is not set",
        "sources.gitlab.token_env[0]: environment variable RELAY_GITLAB_TOKEN is not set",
        "sources.gitea.secret_env[0]: environment variable RELAY_GITEA_SECRET is not set",
    ]


# -- one problem each, at its exact key path ---------------------------------------------------

CASES = [
    # unknown keys, at every level, with a suggestion when one is close
    ("sever", {}, "sever", "unknown section (did you mean 'server'?)"),
    ("server.prot", 8080, "server.prot", "unknown key (did you mean 'port'?)"),
    ("server.colour", 1, "server.colour", "unknown key (allowed: host, port, max_body_bytes"),
    ("cluster_api.base_ulr", "embedded", "cluster_api.base_ulr", "did you mean 'base_url'?"),
    ("sources.bitbucket", {}, "sources.bitbucket", "unknown source (allowed: github, gitlab"),
    ("sources.githbu", {}, "sources.githbu", "unknown source (did you mean 'github'?)"),
    ("sources.github.secret", "X", "sources.github.secret", "did you mean 'secret_env'?"),
    ("sources.gitlab.secret_env", "X", "sources.gitlab.secret_env", "use token_env"),
    ("sources.github.token_env", "X", "sources.github.token_env", "use secret_env"),
    ("routes.0.brnach", "x", "routes[0].brnach", "unknown key (did you mean 'branch'?)"),
    ("routes.0.version_control.acount", "x", "routes[0].version_control.acount",
     "did you mean 'account'?"),
    # wrong types and ranges
    ("server.port", "8080", "server.port", "must be an integer, got a string (write it without"),
    ("server.port", True, "server.port", "must be an integer, got a boolean"),
    ("server.port", 0, "server.port", "must be between 1 and 65535, got 0"),
    ("server.port", 65536, "server.port", "must be between 1 and 65535, got 65536"),
    ("server.port", None, "server.port", "must be an integer, got null"),
    ("server.max_body_bytes", -1, "server.max_body_bytes", "must be a positive integer, got -1"),
    ("server.max_body_bytes", 1.5, "server.max_body_bytes", "must be an integer, got a number"),
    ("server.host", "", "server.host", "must not be empty"),
    ("server.host", ["a"], "server.host", "must be a string, got a list"),
    ("server.shutdown_timeout_s", 0, "server.shutdown_timeout_s", "must be a positive number"),
    ("cluster_api.request_timeout_s", -2.5, "cluster_api.request_timeout_s",
     "must be a positive number, got -2.5"),
    ("cluster_api.watch_timeout_s", "60", "cluster_api.watch_timeout_s",
     "must be a number, got a string (write it without quotes)"),
    ("cluster_api.watch_timeout_s", False, "cluster_api.watch_timeout_s",
     "must be a number, got a boolean"),
    ("rollout.timeout_s", float("inf"), "rollout.timeout_s", "must be a positive number"),
    ("server", [1], "server", "must be a mapping, got a list"),
    ("routes", {"repo": "a/b"}, "routes", "must be a list of routes, got a mapping"),
    ("routes.1", "acme/shop", "routes[1]", "must be a mapping, got a string"),
    ("logging.level", "verbose", "logging.level",
     "unknown value 'verbose' (allowed: debug, info, warning, error)"),
    ("logging.format", "xml", "logging.format", "unknown value 'xml' (allowed: auto, json"),
    # required keys
    ("routes.1.cluster", DELETE, "routes[1].cluster", "required key is missing"),
    ("routes.1.repo", DELETE, "routes[1].repo", "required key is missing"),
    ("routes.1.action", DELETE, "routes[1].action", "required key is missing"),
    ("sources.gitea", None, "sources.gitea.secret_env", "required key is missing"),
    ("sources.github.secret_env", [], "sources.github.secret_env",
     "must name at least one environment variable"),
    # routes
    ("routes.0.tag", "v*", "routes[0]", "has both branch and tag"),
    ("routes.1.tag", DELETE, "routes[1]", "needs a branch or a tag"),
    ("routes.0.branch", "release/[0-9", "routes[0].branch",
     "bad glob 'release/[0-9': unclosed '[' at position 9"),
    ("routes.0.branch", "", "routes[0].branch", "must not be empty"),
    ("routes.0.branch", "[z-a]", "routes[0].branch", "bad glob '[z-a]'"),
    ("routes.0.branch", "main ", "routes[0].branch", "contains whitespace"),
    ("routes.0.branch", 1.0, "routes[0].branch", "must be a string, got a number (quote it)"),
    ("routes.1.repo", "[acme/shop", "routes[1].repo", "unclosed '['"),
    ("routes.1.repo", "shop", "routes[1].repo", "'shop' has no '/'"),
    ("routes.1.action", "deploy", "routes[1].action",
     "unknown action 'deploy' (allowed: version, hook)"),
    ("routes.1.cluster", "10800", "routes[1].cluster",
     "must be an integer, got a string (write it without quotes)"),
    ("routes.1.cluster", 0, "routes[1].cluster", "must be a positive integer, got 0"),
    ("routes.1.cluster", True, "routes[1].cluster", "must be an integer, got a boolean"),
    ("routes.1.source", "bitbucket", "routes[1].source",
     "unknown source 'bitbucket' (allowed: github, gitlab, gitea)"),
    ("routes.1.version_control", {"account": "a"}, "routes[1].version_control",
     "only for action: version"),
    ("routes.0.version_control.password", "hunter2", "routes[0].version_control.password",
     "secrets live in the environment: use password_env"),
    ("routes.0.version_control.version", "abc", "routes[0].version_control.version",
     "relay sets the version itself"),
    ("routes.0.version_control.type", "hg", "routes[0].version_control.type",
     "unknown value 'hg' (allowed: git, svn)"),
    ("routes.0.version_control.password_env", "RELAY_NOPE", "routes[0].version_control"
     ".password_env", "environment variable RELAY_NOPE is not set"),
    # store, cluster API
    ("store.url", "mysql://db/relay", "store.url", "must be sqlite:///PATH or postgresql://"),
    ("store.url", "sqlite:///", "store.url", "must be sqlite:///PATH"),
    ("store.url", "sqlite://relay.db", "store.url", "must be sqlite:///PATH"),
    ("store.url", "postgresql://relay:pw@db/relay", "store.url",
     "has a password in it: secrets live in the environment"),
    ("store.pool_size", 0, "store.pool_size", "must be between 1 and 1000, got 0"),
    ("store.pool_size", "10", "store.pool_size", "must be an integer, got a string"),
    ("store.connect_timeout_s", 0, "store.connect_timeout_s", "must be a positive number"),
    ("store.query_timeout_s", "5s", "store.query_timeout_s", "must be a number, got a string"),
    ("store.pool", 5, "store.pool", "unknown key"),
    ("cluster_api.base_url", "open.c.163.com", "cluster_api.base_url",
     "must be 'embedded' or an http(s) URL"),
    ("cluster_api.base_url", "ftp://open.c.163.com", "cluster_api.base_url", "http(s) URL"),
    ("cluster_api.base_url", "https://u:p@open.c.163.com", "cluster_api.base_url",
     "must not carry credentials"),
    ("cluster_api.hook_hosts", "hooks.example.com", "cluster_api.hook_hosts",
     "must be a list of host names, got a string"),
    ("cluster_api.hook_hosts", ["ok.example.com", "https://hooks.example.com/x"],
     "cluster_api.hook_hosts[1]", "must be a host name"),
    ("cluster_api.hook_hosts", ["hooks.example.com:8443"], "cluster_api.hook_hosts[0]",
     "must be a host name"),
    ("cluster_api.hook_hosts", [7], "cluster_api.hook_hosts[0]", "must be a host name"),
    # environment variable names
    ("cluster_api.token_env", "RELAY_NOPE", "cluster_api.token_env",
     "environment variable RELAY_NOPE is not set"),
    ("cluster_api.token_env", 5, "cluster_api.token_env",
     "must be an environment variable name, got an integer"),
    ("sources.github.secret_env", ["RELAY_GITHUB_SECRET", "RELAY_NOPE"],
     "sources.github.secret_env[1]", "environment variable RELAY_NOPE is not set"),
    ("sources.gitlab.token_env", "RELAY_NOPE", "sources.gitlab.token_env",
     "environment variable RELAY_NOPE is not set"),
    ("admin.token_env", "not a name!", "admin.token_env",
     "is not an environment variable name"),
]


@pytest.mark.parametrize(("key", "value", "path", "fragment"), CASES,
                         ids=[f"{c[0]}={c[1]!r}" for c in CASES])
def test_each_problem_is_reported_at_its_key_path(
    tmp_path: Path, key: str, value: object, path: str, fragment: str
) -> None:
    assert fragment in message_at(tmp_path, changed(key, value), path)


def test_route_source_not_configured_could_never_match(tmp_path: Path) -> None:
    data = base()
    del data["sources"]["gitea"]
    data["routes"][1]["source"] = "gitea"
    assert message_at(tmp_path, data, "routes[1].source") == (
        "source gitea is not configured under sources: this route could never match")


def test_duplicate_route_is_refused(tmp_path: Path) -> None:
    data = base()
    data["routes"].append({**data["routes"][1], "repo": "ACME/Shop"})
    assert message_at(tmp_path, data, "routes[2]") == (
        "duplicates routes[1]: one push would deploy cluster 10800 twice")


@pytest.mark.parametrize(("key", "path"), [
    ("RELAY_API_TOKEN", "cluster_api.token_env"),
    ("RELAY_GITHUB_SECRET_OLD", "sources.github.secret_env[1]"),
    ("RELAY_GITLAB_TOKEN", "sources.gitlab.token_env"),
    ("RELAY_ADMIN_TOKEN", "admin.token_env"),
    ("RELAY_VC_PASSWORD", "routes[0].version_control.password_env"),
])
def test_a_variable_set_but_empty_is_a_problem(tmp_path: Path, key: str, path: str) -> None:
    env = {**ENV, key: "  "}
    assert message_at(tmp_path, base(), path, env) == f"environment variable {key} is set but empty"


def test_api_token_is_required_even_for_the_embedded_simulator(tmp_path: Path) -> None:
    message = message_at(tmp_path, changed("cluster_api.base_url", "embedded"),
                         "cluster_api.token_env", without_env("RELAY_API_TOKEN"))
    assert message == "environment variable RELAY_API_TOKEN is not set"


def test_a_source_with_one_unset_secret_refuses_to_start(tmp_path: Path) -> None:
    found = problems(tmp_path, base(), without_env("RELAY_GITHUB_SECRET"))
    assert [str(p) for p in found] == [
        "sources.github.secret_env[0]: environment variable RELAY_GITHUB_SECRET is not set"]


# -- the file itself -----------------------------------------------------------------------


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "the configuration is empty"),
    ("# only a comment\n", "the configuration is empty"),
    ("- server\n- store\n", "must be a mapping, got a list"),
    ("just text\n", "must be a mapping, got a string"),
])
def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str, fragment: str) -> None:
    assert fragment in message_at(tmp_path, text, "")


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    text = "server:\n  port: 8080\n  host: [unclosed\nstore: {}\n"
    message = message_at(tmp_path, text, "")
    assert message.startswith(f"{tmp_path / 'relay.yaml'}: YAML syntax error at line 4, column ")


def test_a_key_given_twice_is_a_yaml_error(tmp_path: Path) -> None:
    message = message_at(tmp_path, "server:\n  port: 1\n  port: 2\n", "")
    assert "line 3, column 3: found duplicate key 'port'" in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path / "nope.yaml", ENV)
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_unreadable_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, ENV)
    assert str(info.value).startswith(f"{tmp_path}: cannot read: ")


def test_parse_settings_takes_a_loaded_document() -> None:
    s = parse_settings(base(), ENV)
    assert s.server.port == 9090
    with pytest.raises(ConfigError) as info:
        parse_settings(["not", "a", "mapping"], ENV)
    assert info.value.problems == (ConfigProblem("", "must be a mapping, got a list"),)


# -- all at once, and no secrets anywhere -------------------------------------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    data = base()
    data["server"]["port"] = "http"
    data["store"]["url"] = "redis://x"
    data["sources"]["github"]["secret_env"] = ["RELAY_NOPE"]
    data["routes"][0]["action"] = "ship"
    data["routes"][1]["branch"] = "main"
    data["routes"].append({"repo": "acme/api", "branch": "[", "cluster": -1, "action": "hook"})
    data["extra"] = 1
    paths = [p.path for p in problems(tmp_path, data, without_env("RELAY_API_TOKEN"))]
    assert paths == [
        "extra", "server.port", "store.url", "cluster_api.token_env",
        "sources.github.secret_env[0]", "routes[0].action", "routes[1]", "routes[2].branch",
        "routes[2].cluster",
    ]


def test_no_secret_in_reprs_or_strings(tmp_path: Path) -> None:
    s = load(tmp_path, base())
    shown = repr(s) + str(s) + repr(s.routes[0].version_control)
    for value in SECRET_VALUES:
        assert value not in shown
    assert "RELAY_GITHUB_SECRET" in shown  # the variable name is safe to show


def test_no_secret_in_error_messages(tmp_path: Path) -> None:
    data = base()
    data["routes"][0]["version_control"]["password"] = "literal-pw-Qp18"
    data["sources"]["gitea"]["secret_env"] = "gitea-secret-Ut45!"  # a value where a name goes
    env = {**ENV, "RELAY_ADMIN_TOKEN": ""}
    with pytest.raises(ConfigError) as info:
        load(tmp_path, data, env)
    text = str(info.value) + repr(info.value.problems)
    assert len(info.value.problems) == 3
    for value in [*SECRET_VALUES, "literal-pw-Qp18"]:
        assert value not in text


def test_yaml_anchors_and_merge_keys_work(tmp_path: Path) -> None:
    text = """\
routes:
  - &shop {repo: acme/shop, branch: main, cluster: 10702, action: version}
  - <<: *shop
    cluster: 10703
"""
    s = load(tmp_path, text)
    assert [(r.repo, r.cluster) for r in s.routes] == [("acme/shop", 10702), ("acme/shop", 10703)]


def test_a_mapping_as_a_key_is_a_yaml_error(tmp_path: Path) -> None:
    assert "found unhashable key" in message_at(tmp_path, "? [1, 2]\n: x\n", "")


@pytest.mark.parametrize("name", ["single-node-sqlite.yaml", "replicas-postgres.yaml"])
def test_shipped_examples_load(name: str) -> None:
    env = {**ENV, "RELAY_GITHUB_SECRET_NEXT": "gh-next-Po09"}
    s = load_settings(REPO_ROOT / "config" / "examples" / name, env)
    assert s.routes and not s.cluster_api.embedded
