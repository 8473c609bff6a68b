"""The configuration of reporting back: sources' api, report, routes' environment, notify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from relay.config import check_config
from relay.events import Source
from relay.settings import SinkType
from tests.unit.test_config import ENV, base

API = {"url": "https://ghe.example.com/api/v3/", "token_env": "RELAY_GITHUB_API_TOKEN"}
ENV_API = {**ENV, "RELAY_GITHUB_API_TOKEN": "ghp-api-Qp18", "RELAY_SLACK_URL":
           "https://hooks.slack.com/services/T/B/x", "RELAY_AUDIT_SECRET": "whsec-Xa91"}


def check(tmp_path: Path, data: dict[str, Any], env: dict[str, str] = ENV_API) -> Any:
    path = tmp_path / "relay.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return check_config(path, env)


def with_api() -> dict[str, Any]:
    data = base()
    data["sources"]["github"]["api"] = API
    return data


def test_api_report_environment_and_notify_are_read(tmp_path: Path) -> None:
    data = with_api()
    data["report"] = {"context": "deploy/{environment}", "public_url": "https://relay.x/",
                      "max_age_s": 600, "deployments": False}
    data["routes"][0]["environment"] = "production"
    data["notify"] = [{"name": "ops", "type": "slack", "url_env": "RELAY_SLACK_URL"},
                      {"name": "audit", "type": "webhook", "url_env": "RELAY_SLACK_URL",
                       "secret_env": "RELAY_AUDIT_SECRET", "on": ["succeeded"],
                       "clusters": [10702], "repos": ["acme/*"]}]
    report = check(tmp_path, data)
    assert report.problems == () and report.warnings == ()
    s = report.settings
    api = s.sources[Source.GITHUB].api
    assert api.url == "https://ghe.example.com/api/v3" and api.token.reveal() == "ghp-api-Qp18"
    assert s.sources[Source.GITLAB].api is None
    assert s.report.context == "deploy/{environment}" and s.report.max_age_s == 600
    assert s.report.public_url == "https://relay.x" and not s.report.deployments
    assert s.routes[0].environment == "production" and s.routes[1].environment is None
    ops, audit = s.notify
    assert ops.type is SinkType.SLACK and ops.on == ("failed", "timed_out", "error", "rollback")
    assert audit.secret is not None and audit.clusters == (10702,)
    assert "hooks.slack.com" not in repr(s) and "ghp-api" not in repr(s)


def test_report_without_any_api_is_an_error(tmp_path: Path) -> None:
    report = check(tmp_path, {**base(), "report": {"commit_status": True}})
    assert [p.path for p in report.problems] == ["report"]


def test_an_environment_whose_source_has_no_api_is_a_warning(tmp_path: Path) -> None:
    data = base()
    data["routes"][0]["environment"] = "production"
    report = check(tmp_path, data)
    assert report.problems == ()
    assert [w.path for w in report.warnings] == ["routes[0].environment"]


def test_the_api_token_variable_must_be_set(tmp_path: Path) -> None:
    env = {k: v for k, v in ENV.items() if k != "RELAY_GITHUB_API_TOKEN"}
    report = check(tmp_path, with_api(), env)
    assert [str(p) for p in report.problems] == [
        "sources.github.api.token_env: environment variable RELAY_GITHUB_API_TOKEN is not set"]


def test_a_context_with_an_unknown_placeholder_is_an_error(tmp_path: Path) -> None:
    report = check(tmp_path, {**with_api(), "report": {"context": "relay/{repo}"}})
    assert [p.path for p in report.problems] == ["report.context"]


def test_sink_names_are_unique_and_webhooks_are_signed(tmp_path: Path) -> None:
    data = {**with_api(), "notify": [
        {"name": "ops", "type": "webhook", "url_env": "RELAY_SLACK_URL"},
        {"name": "ops", "type": "slack", "url_env": "RELAY_SLACK_URL",
         "secret_env": "RELAY_AUDIT_SECRET"}]}
    paths = [p.path for p in check(tmp_path, data).problems]
    assert paths == ["notify[0]", "notify[1].name", "notify[1].secret_env"]
