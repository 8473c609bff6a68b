"""deploy/grafana/relay.json: valid Grafana JSON whose queries promtool parses and whose metric
names relay exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.ops.test_deploy import DEPLOY, check_promql

DASHBOARD = DEPLOY / "grafana" / "relay.json"


def dashboard_panels() -> list[dict[str, Any]]:
    return [p for p in json.loads(DASHBOARD.read_text())["panels"] if p["type"] != "row"]


def dashboard_exprs() -> list[str]:
    return [t["expr"] for p in dashboard_panels() for t in p["targets"]]


GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$job": "relay", "$cluster": ".*"}


def as_promql(expr: str) -> str:
    for variable, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, value)
    assert "$" not in expr, f"unknown dashboard variable in {expr}"
    return expr


def test_dashboard_is_grafana_json_with_unique_panel_ids() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["title"] == "relay"
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job", "cluster"}
    for panel in dashboard_panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query once Grafana's variables are replaced."""
    result = check_promql([as_promql(expr) for expr in dashboard_exprs()], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dashboard_uses_only_metrics_relay_exposes() -> None:
    from tests.integration.test_metrics_exposition import exposed_sample_names

    exposed = exposed_sample_names() | {"up"}
    used = {name for expr in dashboard_exprs() for name in re.findall(r"\b(relay_\w+)", expr)}
    assert used and used <= exposed, f"not exposed by relay: {sorted(used - exposed)}"


def test_dashboard_shows_what_an_operator_looks_for() -> None:
    exprs = "\n".join(dashboard_exprs())
    for needle in ("relay_webhooks_received_total", "by (outcome)",
                   "relay_deployments_total", "relay_deployment_duration_seconds_bucket",
                   "relay_delivery_to_trigger_seconds_bucket", "relay_deployments_queued",
                   "relay_deployments_in_progress", 'code=~"5..|error"',
                   "relay_cluster_api_retries_total", "by (endpoint)"):
        assert needle in exprs, f"the dashboard has no panel with {needle}"
