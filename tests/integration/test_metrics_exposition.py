"""/metrics as Prometheus reads it: `promtool check metrics` clean, every metric of
docs/metrics.md (and of the project contract, when it is beside the checkout) present with its
labels, and docs/metrics.md describing each one."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import pytest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

from relay.metrics import API_ENDPOINTS, WEBHOOK_EVENTS, WEBHOOK_OUTCOMES, Metrics
from relay.secret import Secret
from relay.settings import NotifySettings, Settings, SinkType
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


def metric_table(text: str, heading: str) -> dict[str, tuple[str, set[str]]]:
    """The `| metric | type | labels |` rows after `heading`: metric -> (type, label names)."""
    section = text.split(heading, 1)[1]
    table: dict[str, tuple[str, set[str]]] = {}
    for line in section.splitlines():
        if line.startswith("#") and not line.startswith("###") and table:
            break  # the next section of the same or a higher level
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`relay_"):
            names = re.sub(r"\([^)]*\)", "", cells[2])  # drop the lists of values
            labels = set(re.findall(r"`(\w+)`", names))
            table[cells[0].strip("`")] = (cells[1].split()[0], labels)
    return table


def contract_metrics() -> dict[str, tuple[str, set[str]]]:
    """The project contract's section 6 (beside the checkout, in ../shared, when it is there)."""
    return metric_table((SHARED / "CONTRACT.md").read_text(), "## 6. Metrics")


def doc_metrics() -> dict[str, tuple[str, set[str]]]:
    """docs/metrics.md's summary table: the repository's own list of metrics."""
    return metric_table(METRICS_DOC.read_text(), "## Summary")


def contract_params() -> list[object]:
    if not (SHARED / "CONTRACT.md").exists():
        return [pytest.param(None, marks=pytest.mark.skip(
            reason="the project contract (../shared/CONTRACT.md) is not beside this checkout; "
                   "docs/metrics.md is checked instead"))]
    return [pytest.param(name, id=name) for name in contract_metrics()]


_exposition: list[str] = []  # one scrape serves every parametrized check of this module


async def exposition(harness: Factory) -> dict[str, Metric]:
    if not _exposition:
        _exposition.append(await scrape(harness))
    return {f.name: f for f in text_string_to_metric_families(_exposition[0])}


def check_exposed(families: dict[str, Metric], name: str, kind: str, labels: set[str],
                  source: str, *, more_labels_allowed: bool = False) -> None:
    family_name = name.removesuffix("_total") if kind == "counter" else name
    family = families.get(family_name)
    assert family is not None, f"{name} is not exposed"
    assert family.type == kind, f"{name} is a {family.type}, {source} says {kind}"
    samples = [s for s in family.samples if not s.name.endswith("_created")]
    assert samples, f"{name} has no samples after a delivery and a deployment"
    seen = set().union(*(set(s.labels) - {"le"} for s in samples))
    assert seen == labels or (more_labels_allowed and labels <= seen), (
        f"{name} labels {sorted(seen)}, {source} says {sorted(labels)}")


def with_a_sink(settings: Settings) -> Settings:
    sink = NotifySettings(name="ops", type=SinkType.SLACK, url=Secret("https://x.invalid/h"))
    return dataclasses.replace(settings, notify=(sink,))


async def scrape(harness: Factory) -> str:
    """Exercise every metric for real, then fetch /metrics."""
    h = await harness(configure=with_a_sink)  # a sink: relay_notifications_total has series
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


@pytest.mark.parametrize("name", contract_params())
async def test_every_contract_metric_is_exposed_with_its_labels(harness: Factory,
                                                                name: str) -> None:
    kind, labels = contract_metrics()[name]
    # The contract asks for at least its labels (relay_build_info has revision and python too).
    check_exposed(await exposition(harness), name, kind, labels, "the contract",
                  more_labels_allowed=True)


@pytest.mark.parametrize("name", sorted(doc_metrics()))
async def test_every_documented_metric_is_exposed_with_its_labels(harness: Factory,
                                                                  name: str) -> None:
    kind, labels = doc_metrics()[name]
    check_exposed(await exposition(harness), name, kind, labels, "docs/metrics.md")


def test_contract_table_is_read() -> None:
    if not (SHARED / "CONTRACT.md").exists():
        pytest.skip("the project contract (../shared/CONTRACT.md) is not beside this checkout")
    table = contract_metrics()
    assert table["relay_missed_pushes_total"] == ("counter", {"source"})
    assert table["relay_webhooks_received_total"] == ("counter", {"source", "event", "outcome"})
    assert table["relay_delivery_to_trigger_seconds"] == ("histogram", set())
    assert table["relay_store_pruned_total"] == ("counter", {"kind"})


def test_doc_table_is_read() -> None:
    table = doc_metrics()
    assert table["relay_webhooks_received_total"] == ("counter", {"source", "event", "outcome"})
    assert table["relay_delivery_to_trigger_seconds"] == ("histogram", set())
    assert table["relay_build_info"] == ("gauge", {"version", "revision", "python", "schema"})


def test_metrics_doc_describes_every_metric_and_label_value() -> None:
    doc = METRICS_DOC.read_text()
    sections = {m.group(1): m.start() for m in re.finditer(r"^### `(relay_\w+)`", doc, re.M)}
    families = {f.name + ("_total" if f.type == "counter" else "") for f in
                Metrics().registry.collect() if f.name.startswith("relay_")}
    assert set(sections) == families, "docs/metrics.md: one ### section per metric"
    assert set(doc_metrics()) == families, "docs/metrics.md: one summary row per metric"
    for value in (*WEBHOOK_EVENTS, *WEBHOOK_OUTCOMES, *API_ENDPOINTS):
        assert f"`{value}`" in doc, f"docs/metrics.md does not explain the label value {value}"
