"""deploy/prometheus/alerts.yml: promtool checks and unit tests, metric names and label values
that relay really exposes, a runbook section per alert, and the Kubernetes PrometheusRule
carrying the same rules.

To rewrite deploy/kubernetes/prometheusrule.yaml after changing alerts.yml:
    RELAY_WRITE_PROMETHEUSRULE=1 .venv/bin/python -m pytest tests/ops/test_alerts.py \
        -k prometheusrule
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import yaml

from relay.deployment import DeploymentStatus
from relay.metrics import API_ENDPOINTS, WEBHOOK_EVENTS, WEBHOOK_OUTCOMES
from tests.integration.test_metrics_exposition import exposed_sample_names
from tests.ops.test_deploy import PROMTOOL_HINT, require_tool, run

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
PROMETHEUS_RULE = ROOT / "deploy" / "kubernetes" / "prometheusrule.yaml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
RUNBOOK_PREFIX = "https://github.com/acme/relay/blob/main/docs/runbooks.md#"

FINAL_STATUSES = {"succeeded", "failed", "timed_out", "superseded", "skipped", "error",
                  "canceled"}
LABEL_VALUES = {  # label -> values relay can give it (CONTRACT section 6)
    "outcome": set(WEBHOOK_OUTCOMES) | FINAL_STATUSES,
    "event": set(WEBHOOK_EVENTS),
    "endpoint": set(API_ENDPOINTS),
    "source": {"github", "gitlab", "gitea"},
}


def groups() -> list[dict[str, Any]]:
    data: dict[str, Any] = yaml.safe_load(ALERTS.read_text())
    return list(data["groups"])


def alerts() -> list[dict[str, Any]]:
    return [rule for group in groups() for rule in group["rules"] if "alert" in rule]


def github_anchor(heading: str) -> str:
    """The fragment GitHub gives a Markdown heading."""
    text = unicodedata.normalize("NFKC", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def runbook_anchors() -> set[str]:
    return {github_anchor(m.group(1)) for m in
            re.finditer(r"^#{1,6} (.+)$", RUNBOOKS.read_text(), re.M)}


# -- promtool ---------------------------------------------------------------------------------


def test_alerts_pass_promtool_check_rules() -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    result = run(promtool, "check", "rules", str(ALERTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_alerts_pass_their_promtool_unit_tests() -> None:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    result = run(promtool, "test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_unit_tests_fail_when_an_alert_changes(tmp_path: Path) -> None:
    """promtool compares labels and annotations: the unit tests above can fail."""
    promtool = require_tool("promtool", PROMTOOL_HINT)
    original = ALERTS.read_text()
    changed = re.sub(r"^(\s+)severity: page$", r"\1severity: ticket", original, count=1,
                     flags=re.M)
    assert changed != original
    (tmp_path / ALERTS.name).write_text(changed)
    unit_tests = yaml.safe_load(ALERTS_TEST.read_text())
    unit_tests["tests"] = unit_tests["tests"][:1]  # RelayDown firing: enough, and fast
    (tmp_path / ALERTS_TEST.name).write_text(yaml.safe_dump(unit_tests))
    result = run(promtool, "test", "rules", ALERTS_TEST.name, cwd=tmp_path)
    assert result.returncode != 0 and "FAILED" in result.stdout + result.stderr


def test_every_alert_has_a_test_that_fires_and_one_that_does_not() -> None:
    fires: set[str] = set()
    quiet: set[str] = set()
    for case in yaml.safe_load(ALERTS_TEST.read_text())["tests"]:
        for check in case.get("alert_rule_test", []):
            (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = {a["alert"] for a in alerts()}
    assert names - fires == set(), "alerts never shown firing"
    assert names - quiet == set(), "alerts never shown staying quiet"


# -- contents ---------------------------------------------------------------------------------


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    anchors = runbook_anchors()
    for alert in alerts():
        name = alert["alert"]
        assert alert["labels"]["severity"] in {"page", "ticket"}, name
        notes = alert["annotations"]
        assert set(notes) == {"summary", "description", "runbook_url"}, name
        url = notes["runbook_url"]
        assert url.startswith(RUNBOOK_PREFIX), f"{name}: every runbook_url shares one prefix"
        anchor = url.removeprefix(RUNBOOK_PREFIX)
        assert anchor == github_anchor(name), f"{name}: link the section named after the alert"
        assert anchor in anchors, f"{name}: docs/runbooks.md has no section #{anchor}"


def test_runbooks_have_a_section_for_each_alert_and_no_stale_ones() -> None:
    sections = set(re.findall(r"^## (Relay\w+)$", RUNBOOKS.read_text(), re.M))
    assert sections == {a["alert"] for a in alerts()}


def test_alerts_use_metrics_relay_exposes() -> None:
    exposed = exposed_sample_names()
    for alert in alerts():
        used = set(re.findall(r"\b(relay_\w+)", alert["expr"]))
        assert used <= exposed, f"{alert['alert']}: not exposed by relay: {used - exposed}"


def test_alerts_match_label_values_relay_gives() -> None:
    """A matcher like outcome="store_eror" would never match: every value must exist."""
    for alert in alerts():
        for label, op, value in re.findall(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"', alert["expr"]):
            if label not in LABEL_VALUES:
                continue
            known = LABEL_VALUES[label]
            values = value.split("|") if op in {"=~", "!~"} else [value]
            assert set(values) <= known, f"{alert['alert']}: {label} has no value {values}"


def test_deployment_outcomes_are_relays_final_statuses() -> None:
    statuses = {s.value for s in DeploymentStatus}
    assert FINAL_STATUSES <= statuses
    assert statuses - FINAL_STATUSES == {"queued", "triggering", "rolling_out", "held",
                                         "waiting_checks"}


# -- Kubernetes PrometheusRule --------------------------------------------------------------


class _Block(str):
    """A string YAML writes as a literal block (multi-line PromQL stays readable)."""


class _Dumper(yaml.SafeDumper):
    """SafeDumper plus literal blocks for _Block (a subclass: the global one is untouched)."""


_Dumper.add_representer(
    _Block, lambda dumper, data: dumper.represent_scalar("tag:yaml.org,2002:str", data,
                                                        style="|"))


def render_prometheus_rule() -> str:
    def convert(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: convert(v) for k, v in node.items()}
        if isinstance(node, list):
            return [convert(v) for v in node]
        if isinstance(node, str) and "\n" in node:
            return _Block(node)
        return node

    document = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "relay", "labels": {"app.kubernetes.io/name": "relay",
                                                 "app.kubernetes.io/part-of": "relay"}},
        "spec": {"groups": convert(groups())},
    }
    header = (
        "# relay's alerts for the Prometheus Operator: the groups of\n"
        "# deploy/prometheus/alerts.yml, unchanged (tests/ops/test_alerts.py checks it).\n"
        "# Do not edit by hand: edit alerts.yml, then\n"
        "#   RELAY_WRITE_PROMETHEUSRULE=1 .venv/bin/python -m pytest tests/ops/test_alerts.py"
        " -k prometheusrule\n"
        "# Your Prometheus must select it: for kube-prometheus-stack, add the label its\n"
        "# ruleSelector wants (often `release: <release name>`).\n"
    )
    return header + yaml.dump(document, Dumper=_Dumper, sort_keys=False, width=100,
                              allow_unicode=True)


def test_prometheusrule_carries_the_same_alerts() -> None:
    if os.environ.get("RELAY_WRITE_PROMETHEUSRULE") == "1":
        PROMETHEUS_RULE.write_text(render_prometheus_rule())
    rule = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["kind"] == "PrometheusRule"
    assert rule["metadata"]["name"] and set(rule["spec"]) == {"groups"}
    assert rule["spec"]["groups"] == groups(), (
        "deploy/kubernetes/prometheusrule.yaml differs from deploy/prometheus/alerts.yml; "
        "regenerate it (see this module's docstring)")


def test_prometheusrule_spec_passes_promtool(tmp_path: Path) -> None:
    """The CRD's spec is a Prometheus rule file: promtool checks it as one."""
    promtool = require_tool("promtool", PROMTOOL_HINT)
    spec = yaml.safe_load(PROMETHEUS_RULE.read_text())["spec"]
    path = tmp_path / "prometheusrule-spec.yml"
    path.write_text(yaml.safe_dump(spec))
    result = run(promtool, "check", "rules", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
