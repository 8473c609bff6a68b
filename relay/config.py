"""The configuration loader: relay.yaml (+ the environment) -> frozen Settings.

The only module that reads a configuration file; the environment is a mapping handed in
(the process environment, by the CLI). Every problem is reported at once, each with its key
path (docs/configuration.md lists the messages). The settings values live in relay.settings
and are re-exported here, so `from relay.config import Settings, Route, Action` keeps working.

Modules, each importing only the ones below it (no cycle):
  relay.config          the loader: files, the machine's checks (SQLite directory)
  relay.config_sections the whole document: rules across sections, Settings
  relay.config_routes   rules across a route's keys and across routes
  relay.config_env      variable names and values
  relay.config_schema   pydantic models of the file, its JSON Schema, the error rendering
  relay.config_yaml     YAML with keys given twice reported
  relay.config_problems ConfigProblem, ConfigError
  relay.settings        the values
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path

from relay.config_problems import ConfigError, ConfigProblem
from relay.config_schema import json_schema
from relay.config_sections import (
    ConfigReport,
    check_document,
    document_order,
    minimum_lease_s,
)
from relay.config_yaml import read_yaml
from relay.settings import (
    DEFAULT_CONFIG_PATH,
    Action,
    AdminSettings,
    ClusterApiSettings,
    LoggingSettings,
    RolloutSettings,
    Route,
    ServerSettings,
    Settings,
    SourceSettings,
    StoreSettings,
    VersionControlSettings,
)

__all__ = [
    "DEFAULT_CONFIG_PATH", "Action", "AdminSettings", "ClusterApiSettings", "ConfigError",
    "ConfigProblem", "ConfigReport", "LoggingSettings", "RolloutSettings", "Route",
    "ServerSettings", "Settings", "SourceSettings", "StoreSettings", "VersionControlSettings",
    "check_config", "json_schema", "load_routes", "load_settings", "minimum_lease_s",
    "parse_settings",
]

SQLITE = "sqlite:///"


def check_config(path: str | Path, environ: Mapping[str, str] | None) -> ConfigReport:
    """Check the file at `path`: every problem and warning, and the settings if valid.

    `environ` None (--no-env): everything but the environment and the machine - no variable
    is read and the SQLite file's directory is not looked at; `settings` is then None.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return _file_problem(f"{path}: no such file")
    except UnicodeDecodeError:
        return _file_problem(f"{path}: not UTF-8 text")
    except OSError as exc:
        return _file_problem(f"{path}: cannot read: {exc.strerror}")
    data, yaml_problems = read_yaml(text)
    if data is None and yaml_problems:
        return ConfigReport(None, (), tuple(ConfigProblem(p.path, f"{path}: {p.message}")
                                            for p in yaml_problems), ())
    report = check_document(data, environ)
    machine = sqlite_directory_problems(data) if environ is not None else []
    problems = tuple(sorted((*yaml_problems, *report.problems, *machine), key=document_order))
    if len(problems) == len(report.problems):
        return report
    return dataclasses.replace(report, settings=None, problems=problems)


def load_settings(path: str | Path, environ: Mapping[str, str]) -> Settings:
    """Read the YAML file at `path`; raise ConfigError with every problem found."""
    report = check_config(path, environ)
    if report.settings is None:
        raise ConfigError(report.problems)
    return report.settings


def parse_settings(data: object, environ: Mapping[str, str]) -> Settings:
    """Validate an already-loaded YAML document; raise ConfigError with every problem found.

    The machine is not looked at (no file, no SQLite directory check).
    """
    report = check_document(data, environ)
    if report.settings is None:
        raise ConfigError(report.problems)
    return report.settings


def load_routes(path: str | Path) -> tuple[Route, ...]:
    """The routes of the file at `path`, without the environment (`relay routes explain`).

    Raise ConfigError with every problem but the environment's. A route's password is not
    read (an empty Secret naming its variable): these routes are for explaining, not deploying.
    """
    report = check_config(path, None)
    if report.problems:
        raise ConfigError(report.problems)
    return report.routes


def sqlite_directory_problems(data: object) -> list[ConfigProblem]:
    """A `sqlite:///PATH` whose directory does not exist: relay would start a new, empty
    history there (dedup and ordering from scratch), so it is refused."""
    store = data.get("store") if isinstance(data, dict) else None
    url = store.get("url") if isinstance(store, dict) else None
    if not isinstance(url, str) or not url.strip().startswith(SQLITE):
        return []
    file = url.strip().removeprefix(SQLITE)
    if not file:
        return []  # malformed: the schema says so
    directory = Path(file).parent
    if directory.is_dir():
        return []
    return [ConfigProblem("store.url", f"directory {directory} does not exist: create it, or "
                          "fix the path (relay does not create it: a new, empty database "
                          "would forget every delivery and deployment)")]


def _file_problem(message: str) -> ConfigReport:
    return ConfigReport(None, (), (ConfigProblem("", message),), ())
