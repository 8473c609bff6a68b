"""relay.config: YAML + environment -> Settings, and every problem with its key path."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from relay.cli import main
from relay.cluster.retry import RetryPolicy
from relay.config import (
    Action,
    ConfigError,
    ConfigProblem,
    Settings,
    check_config,
    json_schema,
    load_routes,
    load_settings,
    minimum_lease_s,
    parse_settings,
)
from relay.events import Source

REPO_ROOT = Path(__file__).resolve().parents[2]

ENV = {
    "RELAY_API_TOKEN": "api-token-Zq81",
    "RELAY_GITHUB_SECRET": "gh-secret-Yx72",
    "RELAY_GITHUB_SECRET_OLD": "gh-secret-old-Wv63",
    "RELAY_GITHUB_API_TOKEN": "gh-api-token-Pw19",
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
        "sources.github.api.token_env: environment variable RELAY_GITHUB_API_TOKEN is not set",
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
    ("cluster_api.hook_hosts", ["hooks.example.com:0"], "cluster_api.hook_hosts[0]",
     "must be a host name or host:port"),
    ("cluster_api.hook_hosts", ["hooks.example.com:https"], "cluster_api.hook_hosts[0]",
     "must be a host name or host:port"),
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


def test_a_key_given_twice_is_reported_at_its_key_path(tmp_path: Path) -> None:
    message = message_at(tmp_path, "server:\n  port: 1\n  port: 2\n", "server.port")
    assert "line 3, column 3: found duplicate key 'port' (first given at line 2" in message


def test_a_key_given_twice_does_not_hide_the_other_problems(tmp_path: Path) -> None:
    text = "server:\n  port: 1\n  port: 0\nroutes:\n  - {repo: shop, branch: main, " \
           "cluster: 1, action: version, cluster: 2}\n"
    assert [p.path for p in problems(tmp_path, text)] == [
        "server.port", "server.port", "routes[0].repo", "routes[0].cluster"]


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
def test_shipped_examples_load(tmp_path: Path, name: str) -> None:
    env = {**ENV, "RELAY_GITHUB_SECRET_NEXT": "gh-next-Po09"}
    text = (REPO_ROOT / "config" / "examples" / name).read_text()
    # /var/lib/relay is where the example keeps its SQLite file; it is not on this machine
    s = load(tmp_path, text.replace("sqlite:////var/lib/relay/", f"sqlite:///{tmp_path}/"), env)
    assert s.routes and not s.cluster_api.embedded


# -- issue 11: configuration that catches real mistakes ----------------------------------------


def test_issue_11_full_ref_in_a_route_is_an_error_with_the_fix(tmp_path: Path) -> None:
    text = "routes:\n  - {repo: acme/shop, branch: refs/heads/main, cluster: 10702, " \
           "action: version}\n"
    assert message_at(tmp_path, text, "routes[0].branch") == (
        "write branch: main (without refs/heads/): a route matches the branch name, so "
        "'refs/heads/main' would never match")


@pytest.mark.parametrize(("key", "value", "fragment"), [
    ("routes.1.tag", "refs/tags/v*", "write tag: v* (without refs/tags/)"),
    ("routes.0.branch", "refs/tags/v1", "write tag: v1 (without refs/tags/)"),
    ("routes.1.tag", "refs/heads/main", "write branch: main (without refs/heads/)"),
])
def test_full_refs_are_errors(tmp_path: Path, key: str, value: str, fragment: str) -> None:
    path = "routes[{}].{}".format(*key.split(".")[1:])
    assert fragment in message_at(tmp_path, changed(key, value), path)


@pytest.mark.parametrize("url", [
    "https://github.com/acme/shop", "https://github.com/acme/shop.git",
    "git@github.com:acme/shop.git", "ssh://git@gitlab.example.com:2222/acme/shop.git",
    "http://gitea.local/acme/shop/",
])
def test_a_repository_given_as_a_url_is_an_error_with_the_fix(tmp_path: Path, url: str) -> None:
    message = message_at(tmp_path, changed("routes.1.repo", url), "routes[1].repo")
    assert message.startswith(f"'{url}' is a URL: write repo: acme/shop (")


def test_a_repository_with_dot_git_is_an_error(tmp_path: Path) -> None:
    assert message_at(tmp_path, changed("routes.1.repo", "acme/shop.git"), "routes[1].repo") \
        .startswith("write repo: acme/shop (without .git)")


@pytest.mark.parametrize("value", ["gl-token\n", " gl-token", "gl-token ", "gl-token\r\n",
                                   "gl\ntoken"])
def test_issue_11_a_secret_with_whitespace_or_a_line_break_is_an_error(
        tmp_path: Path, value: str) -> None:
    env = {**ENV, "RELAY_GITLAB_TOKEN": value}
    found = problems(tmp_path, base(), env)
    assert [p.path for p in found] == ["sources.gitlab.token_env"]
    assert found[0].message.startswith("environment variable RELAY_GITLAB_TOKEN has leading or "
                                       "trailing whitespace or a line break")
    assert "gl-token" not in str(found[0]) and "gl\ntoken" not in str(found[0])


@pytest.mark.parametrize(("name", "path"), [
    ("RELAY_API_TOKEN", "cluster_api.token_env"), ("RELAY_ADMIN_TOKEN", "admin.token_env"),
    ("RELAY_VC_PASSWORD", "routes[0].version_control.password_env"),
    ("RELAY_GITHUB_SECRET_OLD", "sources.github.secret_env[1]"),
])
def test_every_secret_is_checked_for_a_line_break(tmp_path: Path, name: str, path: str) -> None:
    env = {**ENV, name: ENV[name] + "\n"}
    assert "has leading or trailing whitespace" in message_at(tmp_path, base(), path, env)


def test_a_sqlite_file_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/missing/relay.db"
    message = message_at(tmp_path, changed("store.url", url), "store.url")
    assert message.startswith(f"directory {tmp_path}/missing does not exist: create it")
    assert not (tmp_path / "missing").exists()


def test_check_config_without_the_environment(tmp_path: Path) -> None:
    data = base()
    data["store"] = {"url": f"sqlite:///{tmp_path}/missing/relay.db"}
    report = check_config(write(tmp_path, data), None)
    assert report.problems == () and report.settings is None
    assert [r.index for r in report.routes] == [0, 1]
    data["server"]["port"] = 0
    report = check_config(write(tmp_path, data), None)
    assert [str(p) for p in report.problems] == ["server.port: must be between 1 and 65535, got 0"]


def test_routes_load_without_any_secret(tmp_path: Path) -> None:
    routes = load_routes(write(tmp_path, base()))
    assert [(r.repo, r.cluster) for r in routes] == [("acme/shop", 10702), ("acme/shop", 10800)]
    block = routes[0].version_control
    assert block is not None and block.password is not None
    assert block.password.source == "RELAY_VC_PASSWORD" and not block.password


@pytest.mark.parametrize("value", ["", "  ", "https://CHANGE-ME", "<your platform URL>",
                                   "https://example.com"])
def test_a_missing_or_placeholder_base_url_says_what_to_set(tmp_path: Path, value: str) -> None:
    assert message_at(tmp_path, changed("cluster_api.base_url", value), "cluster_api.base_url") \
        == ("set cluster_api.base_url to your platform's URL (https://open.c.163.com) or "
            "`embedded` for a demo")


# -- warnings: reported, never refusing ----------------------------------------------------------


def warnings_of(tmp_path: Path, data: object) -> list[str]:
    report = check_config(write(tmp_path, data), ENV)
    assert report.problems == () and report.settings is not None
    return [str(w) for w in report.warnings]


def test_a_full_configuration_has_no_warning(tmp_path: Path) -> None:
    assert warnings_of(tmp_path, base()) == []


def test_embedded_always_warns(tmp_path: Path) -> None:
    assert warnings_of(tmp_path, changed("cluster_api.base_url", "embedded")) == [
        "cluster_api.base_url: `embedded` runs an in-process cluster API simulator: relay "
        "deploys nothing real (a demo; for real use set your platform's URL, e.g. "
        "https://open.c.163.com)"]


def test_no_sources_and_no_routes_warn(tmp_path: Path) -> None:
    data = changed("sources", DELETE)
    data["routes"] = []
    assert warnings_of(tmp_path, data) == [
        "sources: no source is configured: every /hooks endpoint answers 404, so no push "
        "deploys anything",
        "routes: no route: deliveries are verified and stored, but none deploys anything"]


def test_a_route_shadowed_by_an_earlier_one_for_the_same_cluster_warns(tmp_path: Path) -> None:
    data = base()
    data["routes"].append({"repo": "ACME/shop", "tag": "v*", "cluster": 10800,
                           "action": "version"})
    data["routes"].append({"repo": "acme/shop", "tag": "v*", "cluster": 10801, "action": "hook"})
    assert warnings_of(tmp_path, data) == [
        "routes[2]: shadowed by routes[1]: same cluster 10800, repo 'ACME/shop' and tag 'v*', "
        "so a push both match deploys this cluster twice (merge them, or narrow one by source)"]


# -- new keys ------------------------------------------------------------------------------------


def test_new_server_and_cluster_api_keys_have_defaults(tmp_path: Path) -> None:
    s = load(tmp_path, base())
    assert (s.server.header_timeout_s, s.server.body_timeout_s, s.server.idle_timeout_s) == (
        10.0, 30.0, 30.0)
    assert (s.server.max_connections, s.server.max_body_memory_bytes) == (900, 67_108_864)
    assert s.server.trusted_proxies == ()
    assert s.cluster_api.max_response_bytes == 16_777_216


def test_new_keys_are_read(tmp_path: Path) -> None:
    data = base()
    data["server"].update(header_timeout_s=2, body_timeout_s=5.5, idle_timeout_s=7,
                          max_connections=50, max_body_memory_bytes=4096,
                          trusted_proxies=["10.0.0.0/8", "192.0.2.1", "2001:db8::/32"])
    data["cluster_api"].update(max_response_bytes=1024,
                               hook_hosts=["Hooks.Example.com:8443", "[::1]:80", "10.0.0.7"])
    s = load(tmp_path, data)
    assert (s.server.header_timeout_s, s.server.body_timeout_s, s.server.idle_timeout_s) == (
        2.0, 5.5, 7.0)
    assert (s.server.max_connections, s.server.max_body_memory_bytes) == (50, 4096)
    assert s.server.trusted_proxies == (ipaddress.ip_network("10.0.0.0/8"),
                                        ipaddress.ip_network("192.0.2.1/32"),
                                        ipaddress.ip_network("2001:db8::/32"))
    assert s.cluster_api.max_response_bytes == 1024
    assert s.cluster_api.hook_hosts == ("hooks.example.com:8443", "[::1]:80", "10.0.0.7")


NEW_KEY_CASES = [
    ("server.header_timeout_s", 0, "server.header_timeout_s", "must be a positive number, got 0"),
    ("server.body_timeout_s", "30", "server.body_timeout_s", "must be a number, got a string"),
    ("server.idle_timeout_s", -1, "server.idle_timeout_s", "must be a positive number"),
    ("server.max_connections", 0, "server.max_connections",
     "must be between 1 and 1000000, got 0"),
    ("server.max_connections", 1_000_001, "server.max_connections", "between 1 and 1000000"),
    ("server.max_body_memory_bytes", 0, "server.max_body_memory_bytes",
     "must be a positive integer, got 0"),
    ("server.max_body_memory_bytes", 100, "server.max_body_memory_bytes",
     "must be at least server.max_body_bytes (1024), got 100"),
    ("server.trusted_proxies", "10.0.0.0/8", "server.trusted_proxies",
     "must be a list of IP addresses or networks, got a string"),
    ("server.trusted_proxies", ["proxy.internal"], "server.trusted_proxies[0]",
     "'proxy.internal' is not an IP address or network"),
    ("server.trusted_proxies", ["10.0.0.1/8"], "server.trusted_proxies[0]",
     "'10.0.0.1/8' has host bits set: write 10.0.0.0/8"),
    ("cluster_api.max_response_bytes", 0, "cluster_api.max_response_bytes",
     "must be a positive integer, got 0"),
]


@pytest.mark.parametrize(("key", "value", "path", "fragment"), NEW_KEY_CASES,
                         ids=[f"{c[0]}={c[1]!r}" for c in NEW_KEY_CASES])
def test_new_keys_are_checked(tmp_path: Path, key: str, value: object, path: str,
                              fragment: str) -> None:
    assert fragment in message_at(tmp_path, changed(key, value), path)


# -- the lease rule ------------------------------------------------------------------------------


def test_lease_must_outlast_a_trigger(tmp_path: Path) -> None:
    data = changed("rollout.lease_s", 49)  # base(): request_timeout_s 2.5 -> at least 45 + 5
    assert message_at(tmp_path, data, "rollout.lease_s") == (
        "must be at least 50 (cluster_api.retry_total_s 45 + 2 x cluster_api.request_timeout_s "
        "2.5), got 49: a trigger may be retried for retry_total_s, and a lease shorter than that "
        "lets another worker take over a deployment that is still being triggered")
    assert load(tmp_path, changed("rollout.lease_s", 50)).rollout.lease_s == 50.0
    short = changed("cluster_api.retry_total_s", 1)
    short["rollout"]["lease_s"] = 6
    assert load(tmp_path, short).rollout.lease_s == 6.0


def test_lease_defaults_to_the_rule_s_minimum_and_never_below_30(tmp_path: Path) -> None:
    assert load(tmp_path, base()).rollout.lease_s == 50.0
    fast = changed("cluster_api.retry_total_s", 5)
    assert load(tmp_path, fast).rollout.lease_s == 30.0
    assert minimum_lease_s(10, 45) == 65


def test_the_rule_uses_the_cluster_client_s_retry_budget(tmp_path: Path) -> None:
    assert load(tmp_path, base()).cluster_api.retry_total_s == RetryPolicy().total_s


# -- the schema --------------------------------------------------------------------------------


def test_every_message_of_the_docs_table_holds(tmp_path: Path) -> None:
    """Each example of docs/configuration.md's messages table comes out of a real file."""
    text = (REPO_ROOT / "docs" / "configuration.md").read_text()
    table = text[text.index("## What `check-config` reports"):text.index("### Warnings")]
    examples = [example for row in table.splitlines() if row.startswith("| ")
                for example in re.findall(r"`([^`]+)`", row.split("|")[2])]
    produced = "\n".join(str(p) for data, env in TABLE_INPUTS(tmp_path)
                         for p in _all_problems(tmp_path, data, env)
                         ).replace(f"{tmp_path}/missing", "/var/lib/relay")
    # the file's own problems (missing, unreadable, YAML syntax) have tests of their own
    missing = [e.rstrip(".").removesuffix("...").strip() for e in examples
               if not e.startswith("relay.yaml: ")]
    missing = [e for e in missing if e.split("...")[0].strip() not in produced]
    assert not missing, missing


def _all_problems(tmp_path: Path, data: object, env: dict[str, str]) -> list[ConfigProblem]:
    path = tmp_path / "relay.yaml"
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data), encoding="utf-8")
    return list(check_config(path, env).problems)


def TABLE_INPUTS(tmp_path: Path) -> list[tuple[object, dict[str, str]]]:  # noqa: N802
    vc_hook = base()
    vc_hook["routes"][1]["version_control"] = {"account": "a"}
    vc_password = base()
    vc_password["routes"][0]["version_control"]["password"] = "x"
    gitea_route = base()
    del gitea_route["sources"]["gitea"]
    gitea_route["routes"][1]["source"] = "gitea"
    duplicate = base()
    duplicate["routes"].append(dict(duplicate["routes"][1]))
    return [
        ("", ENV), ("- a\n", ENV), ("server:\n  port: [1,\n  x: y:\n", ENV),
        ("server:\n  port: 1\n  port: 2\n", ENV),
        ({**base(), "sever": {}}, ENV), (changed("sources.bitbucket", {}), ENV),
        (changed("server.port", "8080"), ENV), (changed("server.port", True), ENV),
        (changed("server.port", 0), ENV), (changed("rollout.timeout_s", 0), ENV),
        (changed("routes.1.cluster", DELETE), ENV),
        (changed("sources.github", {}), ENV),
        (changed("sources.github.secret_env", ["RELAY_GITHUB_SECRET", "RELAY_GITHUB_SECRET_OLD"]),
         without_env("RELAY_GITHUB_SECRET_OLD")),
        (base(), {**ENV, "RELAY_ADMIN_TOKEN": ""}),
        (changed("sources.gitea.secret_env", "not a name"), ENV),
        (changed("routes.0.tag", "v*"), ENV), (changed("routes.1.tag", DELETE), ENV),
        (changed("routes.0.branch", "release/[0-9"), ENV),
        (changed("routes.1.repo", "shop"), ENV), (changed("routes.1.action", "deploy"), ENV),
        (gitea_route, ENV), (vc_hook, ENV), (vc_password, ENV), (duplicate, ENV),
        (changed("store.url", "mysql://x"), ENV),
        (changed("store.url", "postgresql://relay:pw@db/relay"), ENV),
        (changed("store.url", f"sqlite:///{tmp_path}/missing/relay.db"), ENV),
        (changed("cluster_api.base_url", "ftp://x"), ENV),
        (changed("cluster_api.base_url", ""), ENV),
        (changed("cluster_api.hook_hosts", ["https://x/y"]), ENV),
        (changed("routes.0.branch", "refs/heads/main"), ENV),
        (changed("routes.1.tag", "refs/tags/v*"), ENV),
        (changed("routes.1.repo", "https://github.com/acme/shop"), ENV),
        (base(), {**ENV, "RELAY_GITLAB_TOKEN": "gl-token\n"}),
        (changed("cluster_api", {"request_timeout_s": 10}) | {"rollout": {"lease_s": 10}},
         ENV),
        (changed("server.trusted_proxies", ["10.0.0.1/8"]), ENV),
        ({**base(), "report": {}}, ENV),
        (changed("sources.github.api", {"url": "ftp://x", "token_env": "RELAY_API_TOKEN"}), ENV),
        ({**base(), "notify": [
            {"name": "ops", "type": "webhook", "url_env": "RELAY_API_TOKEN"},
            {"name": "ops", "type": "slack", "url_env": "RELAY_API_TOKEN"}]}, ENV),
        (changed("routes.1.on_failure", "rollback"), ENV), (changed("routes.0.paths", []), ENV),
        ({**base(), "holds": [{"name": "f", "schedule": "0 18 * * FRI", "duration_s": 60,
                               "timezone": "Mars/Base"}]}, ENV),
    ]


def test_committed_schema_equals_the_command_s_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", "--schema"]) == 0
    printed = json.loads(capsys.readouterr().out)
    committed = json.loads((REPO_ROOT / "config" / "relay.schema.json").read_text())
    assert printed == committed == json_schema(), \
        "regenerate: relay check-config --schema > config/relay.schema.json"


SHIPPED_FILES = ["config/relay.yaml", "config/examples/single-node-sqlite.yaml",
                 "config/examples/replicas-postgres.yaml", "deploy/compose/relay.yaml"]


@pytest.mark.parametrize("name", SHIPPED_FILES)
def test_shipped_files_validate_against_the_schema_and_name_it(name: str) -> None:
    path = REPO_ROOT / name
    first = path.read_text().splitlines()[0]
    assert first.startswith("# yaml-language-server: $schema=")
    target = (path.parent / first.split("$schema=", 1)[1]).resolve()
    assert target == REPO_ROOT / "config" / "relay.schema.json"
    validator = jsonschema.Draft202012Validator(json_schema())
    errors = [e.message for e in validator.iter_errors(yaml.safe_load(path.read_text()))]
    assert errors == []


def test_the_schema_rejects_what_relay_rejects() -> None:
    validator = jsonschema.Draft202012Validator(json_schema())
    container = yaml.safe_load((REPO_ROOT / "deploy" / "relay.container.yaml").read_text())
    assert not validator.is_valid(container)  # base_url: "" until set
    for key, value in [("server.prot", 1), ("server.port", "8080"), ("routes.0.branch",
                       "refs/heads/main"), ("routes.1.repo", "https://github.com/acme/shop"),
                       ("logging.level", "verbose"), ("sources.github.secret_env", [])]:
        assert not validator.is_valid(changed(key, value)), key
    assert validator.is_valid(changed("logging.level", "DEBUG"))
    assert validator.is_valid(base())


def test_check_jsonschema_validates_the_shipped_config() -> None:
    """The command-line validator CI and editors use, against the committed schema."""
    checker = shutil.which("check-jsonschema") or str(
        Path(sys.executable).parent / "check-jsonschema")
    if not Path(checker).exists():
        pytest.skip("check-jsonschema is not installed (pip install -e '.[test]')")
    files = [str(REPO_ROOT / name) for name in SHIPPED_FILES]
    result = subprocess.run([checker, "--schemafile", str(REPO_ROOT / "config" /
                             "relay.schema.json"), *files], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


# -- issue 10: the loader's modules form no cycle -----------------------------------------------

CONFIG_MODULES = ["settings", "config", "config_problems", "config_yaml", "config_schema",
                  "config_env", "config_routes", "config_sections"]


def _relay_imports(name: str) -> tuple[set[str], list[str]]:
    """(relay modules imported at module level, imports hidden inside a function)."""
    import ast

    tree = ast.parse((REPO_ROOT / "relay" / f"{name}.py").read_text())
    hidden = [ast.dump(node) for fn in ast.walk(tree)
              if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
              for node in ast.walk(fn) if isinstance(node, ast.Import | ast.ImportFrom)]
    top = {node.module.removeprefix("relay.") for node in tree.body
           if isinstance(node, ast.ImportFrom) and node.module
           and node.module.startswith("relay.")}
    return top, hidden


def test_the_configuration_modules_import_downwards_only() -> None:
    graph = {}
    for name in CONFIG_MODULES:
        top, hidden = _relay_imports(name)
        assert hidden == [], f"relay/{name}.py hides an import in a function"
        graph[name] = top & set(CONFIG_MODULES)
    done: list[str] = []
    while len(done) < len(graph):  # topological order exists <=> no cycle
        ready = [n for n in graph if n not in done and graph[n] <= set(done)]
        assert ready, f"import cycle among {sorted(set(graph) - set(done))}"
        done += ready
    assert done[-1] == "config" and "config" not in {d for n in graph for d in graph[n]}


def test_the_config_s_source_list_derives_from_the_table_of_hosts() -> None:
    from relay.config_schema import SOURCE_KEY, SourcesSection
    from relay.hosts import HOSTS

    assert set(SourcesSection.model_fields) == {source.value for source in HOSTS}
    assert SOURCE_KEY == {source: host.config_key for source, host in HOSTS.items()}
    for source, host in HOSTS.items():
        section = SourcesSection.model_fields[source.value].annotation
        assert host.config_key in str(section) or any(
            host.config_key in getattr(arg, "model_fields", {})
            for arg in getattr(section, "__args__", ()))


# -- deploy gates (docs/gates.md) --------------------------------------------------------------


def test_gate_keys_are_read_into_routes_and_holds(tmp_path: Path) -> None:
    data = base()
    data["skip_markers"] = ["[nodeploy]"]
    data["holds"] = [{"name": "freeze", "schedule": "0 18 * * FRI", "duration_s": 3600,
                      "timezone": "Europe/Berlin", "clusters": [10702]}]
    data["routes"][0] |= {"paths": ["src/**"], "paths_ignore": ["docs/**"],
                          "on_failure": "rollback",
                          "wait_for_checks": {"timeout_s": 60, "contexts": ["ci"],
                                              "on_timeout": "deploy"}}
    data["routes"][1]["skip_markers"] = []
    settings = load(tmp_path, data)
    first, second = settings.routes
    assert first.filters.paths == ("src/**",) and first.filters.paths_ignore == ("docs/**",)
    assert first.filters.skip_markers == ("[nodeploy]",) and second.filters.skip_markers == ()
    assert first.on_failure == "rollback" and second.on_failure == "none"
    assert first.wait_for_checks is not None and first.wait_for_checks.contexts == ("ci",)
    assert [h.name for h in settings.holds] == ["freeze"]
    assert settings.holds[0].clusters == (10702,)


def test_default_skip_markers_apply_to_every_route(tmp_path: Path) -> None:
    settings = load(tmp_path, base())
    assert "[skip ci]" in settings.routes[0].filters.skip_markers
    assert settings.holds == ()


def test_rollback_with_a_hook_route_is_an_error(tmp_path: Path) -> None:
    assert message_at(tmp_path, changed("routes.1.on_failure", "rollback"),
                      "routes[1].on_failure") == (
        "rollback needs action: version (relay cannot roll back what a hook did)")


def test_a_bad_path_glob_names_its_index(tmp_path: Path) -> None:
    assert message_at(tmp_path, changed("routes.0.paths_ignore", ["ok/**", "docs/[x"]),
                      "routes[0].paths_ignore[1]") == "unclosed '[' at position 6"


def test_yaml_booleans_are_yaml_1_2_s_so_a_notify_on_key_stays_a_key() -> None:
    from relay.config_yaml import read_yaml

    data, problems = read_yaml("notify:\n  - name: ops\n    on: [failed]\nflag: yes\nx: true\n")
    assert problems == []
    assert data == {"notify": [{"name": "ops", "on": ["failed"]}], "flag": "yes", "x": True}
