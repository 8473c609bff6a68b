"""deploy/systemd/: systemd-analyze verify and security, the hardening the unit promises, and its
fit with config/examples/single-node-sqlite.yaml."""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

import pytest
import yaml

from tests.ops.test_deploy import (
    BIN,
    DEPLOY,
    ROOT,
    check_config_cli,
    env_names,
    in_place_of_the_volume,
    load_config,
    placeholders_only,
    read_env_file,
    run,
    shutdown_bound_s,
)

UNIT = DEPLOY / "systemd" / "relay.service"


def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def _unit_for_this_machine(tmp_path: Path) -> Path:
    """The unit with ExecStart pointing at this venv's relay (verify checks it exists)."""
    relay = BIN / "relay"
    text = UNIT.read_text().replace("/opt/relay/bin/relay", str(relay))
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    return copy


def _systemd_analyze() -> str:
    found = shutil.which("systemd-analyze")
    if found is None:
        pytest.skip("systemd-analyze is not installed (Debian package systemd)")
    return found


def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    result = run(_systemd_analyze(), "verify", str(_unit_for_this_machine(tmp_path)))
    # Unknown or misspelt directives are only warnings for systemd: any output fails here.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr)


def test_systemd_analyze_verify_reports_a_misspelt_directive(tmp_path: Path) -> None:
    unit = _unit_for_this_machine(tmp_path)
    unit.write_text(unit.read_text().replace("ProtectHome=yes", "ProtectHom=yes"))
    result = run(_systemd_analyze(), "verify", str(unit))
    assert "ProtectHom" in result.stdout + result.stderr


def test_unit_exposure_is_low(tmp_path: Path) -> None:
    """systemd's own hardening score: "OK" is 2.0 or less (threshold is in tenths)."""
    unit = _unit_for_this_machine(tmp_path)
    result = run(_systemd_analyze(), "security", "--offline=yes", "--threshold=20", str(unit))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr


def test_unit_hardening_restart_and_stop_timeout() -> None:
    s = unit_settings()
    expected = {
        "NoNewPrivileges": "yes", "ProtectSystem": "strict", "ReadWritePaths": "/var/lib/relay",
        "PrivateTmp": "yes", "ProtectHome": "yes", "CapabilityBoundingSet": "",
        "SystemCallFilter": "@system-service", "Restart": "on-failure",
        "EnvironmentFile": "/etc/relay/relay.env", "User": "relay",
    }
    for key, value in expected.items():
        assert value in s.get(key, []), f"{key}={value} missing"
    assert set(s["RestrictAddressFamilies"][0].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}
    assert s["RestartPreventExitStatus"] == ["2"]  # exit 2: bad configuration
    example = yaml.safe_load((ROOT / "config/examples/single-node-sqlite.yaml").read_text())
    stop = s["TimeoutStopSec"][0]
    assert stop.endswith("s") and float(stop[:-1]) > shutdown_bound_s(example)
    exec_start = shlex.split(s["ExecStart"][0])
    assert exec_start[1:] == ["serve", "--config", "/etc/relay/relay.yaml"]


def test_unit_env_example_fits_the_single_node_example(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    shipped = ROOT / "config/examples/single-node-sqlite.yaml"
    # the SQLite file (and its -wal, -shm) lie in the only writable directory
    assert "sqlite:////var/lib/relay/" in shipped.read_text()
    config = in_place_of_the_volume(shipped, tmp_path)  # /var/lib/relay is not on this machine
    env = read_env_file(DEPLOY / "systemd" / "relay.env.example")
    placeholders_only(env, "relay.env.example")
    assert set(env) == env_names(yaml.safe_load(config.read_text()))
    check_config_cli(config, env, monkeypatch, capsys)
    settings = load_config(config, env)
    assert settings.store.url == f"sqlite:///{tmp_path}/relay.db"


# server.max_connections' default (docs/configuration.md): relay accepts at most that many.
MAX_CONNECTIONS_DEFAULT = 900


def test_unit_open_file_limit_is_well_above_the_connection_cap() -> None:
    """1,024 open files (systemd's default soft limit) made every request fail under 1,074
    idle sockets; the unit must leave room for the cap plus the store and the API client."""
    [limit] = unit_settings()["LimitNOFILE"]
    assert int(limit) >= 2 * MAX_CONNECTIONS_DEFAULT + 1024
