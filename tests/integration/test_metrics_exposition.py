"""/metrics as Prometheus reads it: `promtool check metrics` clean, every CONTRACT metric
present with its labels, and docs/metrics.md describing each one."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from relay.metrics import API_ENDPOINTS, WEBHOOK_EVENTS, WEBHOOK_OUTCOMES, Metrics
from tests.conftest import SHARED
from tests.harness import Factory
from tests.ops.test_deploy import PROMTOOL_HINT, require_tool
from tests.payloads import OTHER_SECRET, github_headers, github_push, sha

ROOT = Path(__file__).resolve().parents[2]
METRICS_DOC = ROOT / "docs" / "metrics.md"

SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
            "histogram": ("_bucket", "_count", "_sum", "_created")}


def exposed_sample_names() -> set[str]:
    """Every sample name relay's registry can expose (families from relay/metrics.py)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        names.update(family.name + suffix for suffix in SUFFIXES[family.type])
    return names


def contract_metrics() -> dict[str, tuple[str, set[str]]]:
    """CONTRACT section 6: metric -> (type, label names)."""
    text = (SHARED / "CONTRACT.md").read_text()
    section = text.split("## 6. Metrics", 1)[1]
    table: dict[str, tuple[str, set[str]]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`relay_"):
            names = re.sub(r"\([^)]*\)", "", cells[2])  # drop the lists of values
            labels = set(re.findall(r"`(\w+)`", names))
            table[cells[0].strip("`")] = (cells[1].split()[0], labels)
    return table


async def scrape(harness: Factory) -> str:
    """Exercise every metric for real, then fetch /metrics."""
    h = await harness()
    h.fault("error:apps.get:503:count=1")  # one retried request: a 503 and a retry
    [ok] = await h.push(after=sha("exposition-ok"))
    assert (await h.final(ok)).status.value == "succeeded"
    body = github_push("acme/shop", "refs/heads/main", after=sha("exposition-401"))
    resp = await h.client.post("/hooks/github", data=body,
                               headers=github_headers(body, secret=OTHER_SECRET + b"x"))
    assert resp.status == 401
    resp = await h.client.get("/metrics")
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/plain")
    return await resp.text()


def promtool_check_metrics(exposition: str) -> subprocess.CompletedProcess[str]:
    promtool = require_tool("promtool", PROMTOOL_HINT)
    return subprocess.run([promtool, "check", "metrics"], input=exposition, text=True,
                          capture_output=True, timeout=60, check=False)


async def test_metrics_pass_promtool_check_metrics(harness: Factory) -> None:
    exposition = await scrape(harness)
    result = promtool_check_metrics(exposition)
    # promtool's lint findings (missing HELP, unit suffixes, counter names) are errors here.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr)


def test_promtool_check_metrics_can_fail() -> None:
    result = promtool_check_metrics("# TYPE relay_things counter\nrelay_things 1\n")
    assert result.returncode != 0 and "no help text" in result.stdout + result.stderr


async def test_every_contract_metric_is_exposed_with_its_labels(harness: Factory) -> None:
    if not (SHARED / "CONTRACT.md").exists():
        pytest.skip("../shared/CONTRACT.md is not beside this checkout")
    exposition = await scrape(harness)
    families = {f.name: f for f in text_string_to_metric_families(exposition)}
    for name, (kind, labels) in contract_metrics().items():
        family_name = name.removesuffix("_total") if kind == "counter" else name
        family = families.get(family_name)
        assert family is not None, f"{name} is not exposed"
        assert family.type == kind, f"{name} is a {family.type}, CONTRACT says {kind}"
        samples = [s for s in family.samples if not s.name.endswith("_created")]
        assert samples, f"{name} has no samples after a delivery and a deployment"
        seen = set().union(*(set(s.labels) - {"le"} for s in samples))
        assert seen == labels, f"{name} labels {sorted(seen)}, CONTRACT says {sorted(labels)}"


def test_contract_table_is_read() -> None:
    table = contract_metrics()
    assert len(table) == 10
    assert table["relay_webhooks_received_total"] == ("counter", {"source", "event", "outcome"})
    assert table["relay_delivery_to_trigger_seconds"] == ("histogram", set())


def test_metrics_doc_describes_every_metric_and_label_value() -> None:
    doc = METRICS_DOC.read_text()
    sections = {m.group(1): m.start() for m in re.finditer(r"^### `(relay_\w+)`", doc, re.M)}
    families = {f.name + ("_total" if f.type == "counter" else "") for f in
                Metrics().registry.collect()}
    assert set(sections) == families, "docs/metrics.md: one ### section per metric"
    for value in (*WEBHOOK_EVENTS, *WEBHOOK_OUTCOMES, *API_ENDPOINTS):
        assert f"`{value}`" in doc, f"docs/metrics.md does not explain the label value {value}"
