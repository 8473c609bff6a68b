"""`relay check-config` and `relay routes explain`: output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml  # type: ignore[import-untyped, unused-ignore]

from relay.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED = REPO_ROOT / "config" / "relay.yaml"
ENV = {
    "RELAY_API_TOKEN": "api-token-Zq81",
    "RELAY_GITHUB_SECRET": "gh-secret-Yx72",
    "RELAY_GITHUB_API_TOKEN": "gh-api-token-Pw19",
    "RELAY_GITLAB_TOKEN": "gl-token-Vu54",
    "RELAY_GITEA_SECRET": "gitea-secret-Ut45",
    "RELAY_ADMIN_TOKEN": "admin-token-Ts36",
}

EMBEDDED_WARNING = (
    "warning: cluster_api.base_url: `embedded` runs an in-process cluster API simulator: relay "
    "deploys nothing real (a demo; for real use set your platform's URL, e.g. "
    "https://open.c.163.com)")

BROKEN = """\
server:
  port: 0
  hots: localhost
sources:
  github:
    secret_env: RELAY_GITHUB_SECRET
routes:
  - repo: acme/shop
    branch: main
    tag: v*
    cluster: 10702
    action: deploy
"""


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The demo variables set, and no other RELAY_* variable leaking in from the shell."""
    import os

    for name in [n for n in os.environ if n.startswith(("RELAY_", "PG"))]:
        monkeypatch.delenv(name)
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    return ENV


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    for secret in ENV.values():
        assert secret not in out + err
    return code, out, err


# -- check-config ------------------------------------------------------------------------------


def test_check_config_summarises_a_valid_file(env: dict[str, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check-config", "--config", str(SHIPPED))
    assert code == 0 and err == EMBEDDED_WARNING + "\n"
    assert out.splitlines() == [
        f"{SHIPPED}: OK",
        "  server       127.0.0.1:8080",
        "  store        sqlite:///relay.db",
        "  cluster API  embedded (token from RELAY_API_TOKEN)",
        "  sources      github (RELAY_GITHUB_SECRET), gitlab (RELAY_GITLAB_TOKEN), "
        "gitea (RELAY_GITEA_SECRET)",
        "  admin API    on (token from RELAY_ADMIN_TOKEN)",
        "  routes       3",
        "  gates        none (docs/gates.md)",
        "  catch-up     off (reconcile.interval_s is 0)",
    ]


def test_check_config_defaults_to_config_relay_yaml(env: dict[str, str], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "relay.yaml").write_text("routes: []\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RELAY_ADMIN_TOKEN")
    code, out, _ = run(capsys, "check-config")
    assert code == 0
    assert out.startswith("config/relay.yaml: OK")
    assert "admin API    off" in out and "sources      none" in out


def test_check_config_prints_every_problem_and_exits_2(env: dict[str, str], tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(BROKEN)
    monkeypatch.delenv("RELAY_GITHUB_SECRET")
    monkeypatch.setenv("RELAY_ADMIN_TOKEN", "")
    code, out, err = run(capsys, "check-config", "--config", str(config))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "server.hots: unknown key (did you mean 'host'?)",
        "server.port: must be between 1 and 65535, got 0",
        "sources.github.secret_env: environment variable RELAY_GITHUB_SECRET is not set",
        "admin.token_env: environment variable RELAY_ADMIN_TOKEN is set but empty",
        "routes[0]: has both branch and tag: a route has exactly one (write two routes)",
        "routes[0].action: unknown action 'deploy' (allowed: version, hook)",
        EMBEDDED_WARNING,
        f"relay: {config}: 6 problems",
    ]


def test_check_config_missing_file(env: dict[str, str], tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "check-config", "--config", str(tmp_path / "none.yaml"))
    assert code == 2
    assert err.splitlines()[0] == f"{tmp_path / 'none.yaml'}: no such file"


# -- routes explain ----------------------------------------------------------------------------


def test_explain_a_match_exits_0_with_a_table(env: dict[str, str],
                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "routes", "explain", "--source", "github", "--repo", "Acme/Shop",
                       "--ref", "refs/heads/main", "--config", str(SHIPPED))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "source github, repository Acme/Shop, ref refs/heads/main"
    assert lines[2].split() == ["#", "MATCH", "REPO", "REF", "CLUSTER", "ACTION", "SOURCE",
                                "WHY", "NOT"]
    assert lines[3].split() == ["0", "yes", "acme/shop", "branch", "main", "10702", "version",
                                "any"]
    assert lines[4].endswith("hook     any     ref is a branch but the route wants a tag")
    assert lines[5].endswith("repository 'Acme/Shop' does not match 'acme/api'")
    assert lines[-1] == "1 of 3 routes match."


def test_explain_no_match_exits_1(env: dict[str, str],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "routes", "explain", "--repo", "acme/shop", "--ref", "dev",
                       "--config", str(SHIPPED))
    assert code == 1
    assert "branch 'dev' does not match 'main'" in out
    assert out.splitlines()[-1] == "0 of 3 routes match."


def test_explain_json(env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "routes", "--config", str(SHIPPED), "explain", "--json",
                       "--repo", "acme/shop", "--ref", "refs/tags/v1.0", "--source", "gitea")
    assert code == 0
    answer = json.loads(out)
    assert (answer["source"], answer["repo"], answer["ref"]) == ("gitea", "acme/shop",
                                                                 "refs/tags/v1.0")
    assert [(r["index"], r["matched"]) for r in answer["routes"]] == [
        (0, False), (1, True), (2, False)]
    assert answer["routes"][1] == {"index": 1, "repo": "acme/shop", "tag": "v*",
                                   "cluster": 10800, "action": "hook", "source": None,
                                   "matched": True, "reasons": []}


def test_explain_bad_config_exits_2(env: dict[str, str], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "broken.yaml"
    config.write_text(BROKEN)
    code, out, err = run(capsys, "routes", "explain", "--repo", "acme/shop", "--ref", "main",
                         "--config", str(config))
    assert code == 2 and out == ""
    assert "routes[0].action: unknown action 'deploy' (allowed: version, hook)" in err


@pytest.mark.parametrize("argv", [
    ["routes", "explain", "--repo", "acme/shop"],  # --ref missing
    ["routes", "explain", "--repo", "a/b", "--ref", "main", "--source", "bitbucket"],
    ["routes"],  # no subcommand
])
def test_explain_usage_errors_exit_2(env: dict[str, str], capsys: pytest.CaptureFixture[str],
                                     argv: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.slow
def test_check_config_as_a_process(tmp_path: Path) -> None:
    """The real command, its exit status, and the demo environment from CONTRACT section 3."""
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO_ROOT)}
    ok = subprocess.run([sys.executable, "-m", "relay", "check-config", "--config", str(SHIPPED)],
                        env={**base, **ENV}, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run([sys.executable, "-m", "relay", "check-config", "--config", str(SHIPPED)],
                         env=base, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "cluster_api.token_env: environment variable RELAY_API_TOKEN is not set" in bad.stderr


# -- issue 11: without the environment, warnings, the schema -----------------------------------


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Not one RELAY_* (or PG*) variable set."""
    import os

    for name in [n for n in os.environ if n.startswith(("RELAY_", "PG"))]:
        monkeypatch.delenv(name)


def test_check_config_no_env_checks_everything_but_the_environment(
        no_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check-config", "--no-env", "--config", str(SHIPPED))
    assert code == 0 and out.splitlines() == [f"{SHIPPED}: OK (environment not checked)",
                                              "  routes       3"]
    assert err == EMBEDDED_WARNING + "\n"
    config = tmp_path / "broken.yaml"
    config.write_text(BROKEN.replace("  hots: localhost\n", ""))
    code, out, err = run(capsys, "check-config", "--no-env", "--config", str(config))
    assert code == 2 and out == ""
    assert "environment variable" not in err
    assert err.splitlines()[0] == "server.port: must be between 1 and 65535, got 0"


def test_routes_explain_needs_no_secret(no_env: None,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "routes", "explain", "--repo", "acme/shop", "--ref", "main",
                       "--config", str(SHIPPED))
    assert code == 0 and out.splitlines()[-1] == "1 of 3 routes match."


def test_issue_11_full_ref_route_fails_check_config(env: dict[str, str], tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "relay.yaml"
    config.write_text("sources: {github: {secret_env: RELAY_GITHUB_SECRET}}\nroutes:\n"
                      "  - {repo: acme/shop, branch: refs/heads/main, cluster: 10702, "
                      "action: version}\n")
    code, _, err = run(capsys, "check-config", "--config", str(config))
    assert code == 2
    assert err.splitlines()[0].startswith(
        "routes[0].branch: write branch: main (without refs/heads/)")


def test_issue_11_token_with_a_line_break_fails_check_config(
        env: dict[str, str], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RELAY_GITLAB_TOKEN", "gl-token\n")
    code, out, err = run(capsys, "check-config", "--config", str(SHIPPED))
    assert code == 2 and out == ""
    assert err.splitlines()[0].startswith(
        "sources.gitlab.token_env[0]: environment variable RELAY_GITLAB_TOKEN has leading or "
        "trailing whitespace or a line break (the value is not shown)")
    assert "gl-token" not in err


def test_warnings_do_not_change_the_exit_status(env: dict[str, str], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "relay.yaml"
    config.write_text("cluster_api: {base_url: https://open.c.163.com}\n")
    code, out, err = run(capsys, "check-config", "--config", str(config))
    assert code == 0 and out.startswith(f"{config}: OK")
    assert err.splitlines() == [
        "warning: sources: no source is configured: every /hooks endpoint answers 404, so no "
        "push deploys anything",
        "warning: routes: no route: deliveries are verified and stored, but none deploys "
        "anything"]


def test_schema_is_printed_as_json(no_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check-config", "--schema")
    schema = json.loads(out)
    assert code == 0 and err == ""
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is False
    assert set(schema["properties"]) == {"server", "store", "cluster_api", "sources", "admin",
                                         "rollout", "logging", "routes", "report", "notify",
                                         "holds", "skip_markers", "reconcile", "retention"}


def test_check_config_says_which_routes_have_gates(env: dict[str, str], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = yaml.safe_load(SHIPPED.read_text())
    data["routes"][0]["paths_ignore"] = ["docs/**"]
    data["routes"][0]["on_failure"] = "rollback"
    data["holds"] = [{"name": "freeze", "schedule": "0 18 * * FRI", "duration_s": 3600}]
    path = tmp_path / "relay.yaml"
    path.write_text(yaml.safe_dump(data))
    code, out, _ = run(capsys, "check-config", "--config", str(path))
    assert code == 0
    assert "  gates        routes[0] (paths_ignore, on_failure: rollback); 1 scheduled hold" \
        in out.splitlines()
