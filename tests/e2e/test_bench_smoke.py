"""A quick run of the benchmark harness (bench/): no benchmark runs here, only its parts."""

from __future__ import annotations

import math
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from bench.ceiling import create_ceiling_app
from bench.ingest import CEILING, IDLE, Measured, _budget
from bench.lean import create_lean_app
from bench.loadgen import run_at_rate, send_all
from bench.payload import SECRET, github_headers, push_body, sha
from bench.profile import summarise
from bench.results import Table, Target, append, render_run, targets_table
from bench.stats import percentile
from bench.wrk import WrkResult, parse_summary, run_timed
from relay.events import Source, parse_delivery


def test_payload_is_a_signed_4kb_push_relay_accepts() -> None:
    body = push_body(seq=7)
    assert 3800 <= len(body) <= 4600
    delivery = parse_delivery(Source.GITHUB, github_headers(body, "d-1"), body,
                              [SECRET.encode()], now=datetime.now(UTC))
    assert delivery.push is not None
    assert delivery.push.commit == sha("bench/app-7")
    assert delivery.push.before == sha("bench/app-6")


async def test_load_generator_against_the_ceiling() -> None:
    server = TestServer(create_ceiling_app(SECRET.encode()))
    await server.start_server()
    try:
        url = str(server.make_url("/hooks/github"))
        body = push_body()
        result = await run_at_rate(url, lambda i: (body, github_headers(body, f"s-{i}")),
                                   rate=40, duration_s=0.5, warmup_s=0.1)
        assert result.sent == 20
        assert result.statuses == {202: 20}
        assert result.all_statuses == {202: 24}
        assert 0 < result.p(50) <= result.p(99) < 1.0
        bad = github_headers(body, "x", secret="wrong")
        statuses, _ = await send_all(url, [(body, bad)] * 3, connections=2)
        assert statuses == {401: 3}
    finally:
        await server.close()


async def test_the_lean_reference_stores_before_it_answers(tmp_path: Path) -> None:
    db = tmp_path / "lean.db"
    server = TestServer(create_lean_app(SECRET.encode(), db))
    await server.start_server()
    try:
        url = str(server.make_url("/hooks/github"))
        pushes = [push_body(seq=i) for i in range(5)]
        statuses, _ = await send_all(
            url, [(b, github_headers(b, f"lean-{i}")) for i, b in enumerate(pushes[:4])],
            connections=4)
        assert statuses == {202: 4}
        bad = github_headers(pushes[0], "x", secret="wrong")
        assert (await send_all(url, [(pushes[0], bad)], connections=1))[0] == {401: 1}
        # A value SQLite cannot bind fails its batch (503); the writer goes on.
        huge = pushes[0].replace(b'"after":"', b'"after":9223372036854775808,"x":"', 1)
        assert huge != pushes[0]
        assert (await send_all(url, [(huge, github_headers(huge, "lean-huge"))],
                               connections=1))[0] == {503: 1}
        last = github_headers(pushes[4], "lean-4")
        assert (await send_all(url, [(pushes[4], last)], connections=1))[0] == {202: 1}
        with sqlite3.connect(db) as conn:  # every 202 was committed before it was sent
            rows = conn.execute("SELECT d.delivery_key, d.body, p.version FROM deliveries d "
                                "JOIN deployments p ON p.delivery = d.id ORDER BY d.id").fetchall()
        assert sorted(r[0] for r in rows) == [f"lean-{i}" for i in range(5)]
        assert {r[1] for r in rows} == set(pushes)
        assert {r[2] for r in rows} == {sha(f"bench/app-{i}") for i in range(5)}
    finally:
        await server.close()


def test_results_section_is_appended_with_machine_and_targets(tmp_path: Path) -> None:
    table = Table("1. Ingest", ["target", "requests/s"])
    table.add("relay", 1234)
    table.notes.append("every 202 stored")
    targets = targets_table([Target("ingest", ">= 0.5x ceiling", "0.3x", False),
                             Target("idle", "ready < 2 s", "0.6 s", True),
                             Target("ingest", ">= 2x webhook", "not installed", None)])
    text = render_run([targets, table], commit="abc123", label="smoke",
                      when=datetime(2026, 11, 27, tzinfo=UTC))
    out = tmp_path / "RESULTS.md"
    append(text, out)
    append(text, out)
    written = out.read_text()
    assert written.count("# relay benchmark results") == 1
    assert written.count("## 2026-11-27 00:00 UTC: smoke") == 2
    assert "- commit: abc123" in written and "CPUs" in written and "Python 3." in written
    assert "| ingest | >= 0.5x ceiling | 0.3x | **missed** |" in written
    assert "| idle | ready < 2 s | 0.6 s | met |" in written
    assert "| ingest | >= 2x webhook | not installed | n/a |" in written
    assert "| relay | 1234 |" in written and "- every 202 stored" in written
    out.write_text(written + "A note written by hand, without its newline.")
    append(text, out)
    assert "without its newline.\n\n## 2026-11-27 00:00 UTC: smoke" in out.read_text()


def test_wrk_summary_line_is_parsed() -> None:
    out = ("Running 1s test\nBENCH {\"requests\": 900, \"duration_us\": 3000000, "
           "\"p50_us\": 1500, \"p99_us\": 9000, \"max_us\": 12000, \"errors\": 0, "
           "\"timeouts\": 1, \"codes\": {\"202\": 899, \"503\": 1}}\n")
    result = parse_summary(out)
    assert result.rps == 300
    assert (result.p50_s, result.p99_s) == (0.0015, 0.009)
    assert result.count(202) == 899 and result.count(503) == 1
    assert math.isnan(result.cpu_s) and math.isnan(result.cpu_us_per_request)
    timed = parse_summary(out, "some warning\nWRK_CPU_S 0.45\n")
    assert timed.cpu_s == 0.45 and timed.cpu_us_per_request == 500


def test_cpu_budget_note_takes_the_generator_share_off() -> None:
    def run(rps: float, loop_s: float, other_s: float, generator_s: float) -> Measured:
        wrk = WrkResult(requests=int(rps * 10), duration_s=10, p50_s=0.001, p99_s=0.002,
                        max_s=0.003, errors=0, timeouts=0, codes={202: int(rps * 10)},
                        cpu_s=generator_s)
        return Measured(wrk, loop_s, other_s)

    series = {CEILING: [run(10_000, 7.0, 0.0, 8.0)], IDLE: [run(2_000, 6.0, 2.0, 1.8)]}
    (note,) = _budget(series)
    cpus = os.cpu_count() or 1
    # 0.40 x 10,000/s = 4,000/s: each delivery may take cpus * 250 µs, less wrk's 90 µs
    assert "0.40x of the ceiling is 4000 deliveries/s" in note
    assert f"give {cpus * 250} µs per delivery, {cpus * 250 - 90} once" in note
    assert "(relay used 400;" in note and "one thread at most 250 µs" in note
    assert "event loop used 300)" in note
    assert _budget({IDLE: series[IDLE]}) == []
    unmeasured = {CEILING: series[CEILING], IDLE: [run(2_000, 6.0, 2.0, math.nan)]}
    assert _budget(unmeasured) == []  # an older wrk runner: no generator figure, no budget


def test_the_timing_shim_reports_its_commands_cpu_and_exit_status() -> None:
    burn = "import sys\nx = sum(i * i for i in range(300000))\nprint('done')\nsys.exit({})"
    out, err = run_timed([sys.executable, "-c", burn.format(0)], timeout_s=60)
    assert out == "done\n"
    (line,) = [ln for ln in err.splitlines() if ln.startswith("WRK_CPU_S ")]
    assert 0 < float(line.split()[1]) < 60
    with pytest.raises(subprocess.CalledProcessError) as failed:
        run_timed([sys.executable, "-c", burn.format(3)], timeout_s=60)
    assert failed.value.returncode == 3
    with pytest.raises(subprocess.TimeoutExpired):
        run_timed([sys.executable, "-c", "import time; time.sleep(60)"], timeout_s=0.5)


def test_percentile_and_profile_summary(tmp_path: Path) -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3
    assert percentile(list(range(1, 101)), 99) == 99
    stacks = tmp_path / "p.txt"
    stacks.write_text("main;serve;commit 30\nmain;serve;parse 10\nsqlite;commit 60\n")
    summary = summarise(stacks)
    assert "100 samples" in summary
    assert "90.0%  commit" in summary


def test_wrk_pool_signs_a_distinct_commit_per_request_over_the_branches() -> None:
    from bench.payload import fill, push_template
    from bench.wrk import pool_lines

    template = push_template()
    lines = pool_lines(template, tag="t", size=4, branches=["b0", "b1"])
    commits = []
    for i, line in enumerate(lines):
        commit, branch, signature = line.split(" ")
        body = fill(template, commit, branch)
        headers = {**github_headers(body, f"d-{i}"), "X-Hub-Signature-256": signature}
        delivery = parse_delivery(Source.GITHUB, headers, body, [SECRET.encode()],
                                  now=datetime.now(UTC))
        assert delivery.push is not None
        assert (delivery.push.commit, delivery.push.branch) == (commit, f"b{i % 2}")
        commits.append(commit)
    assert len(set(commits)) == 4


def test_histogram_quantile_reads_the_exposition_as_promql_does() -> None:
    """Real exposition text from prometheus_client: 10 observations of 1 ms and 10 of 3 ms
    in buckets (0.001, 0.0025, 0.005, +Inf) give PromQL's interpolated quantiles."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest

    from bench.stats import histogram_quantile

    registry = CollectorRegistry()
    h = Histogram("t_seconds", "test", ["lane"], buckets=(0.001, 0.0025, 0.005),
                  registry=registry)
    for _ in range(10):
        h.labels(lane="a").observe(0.001)
        h.labels(lane="a").observe(0.003)
    h.labels(lane="b").observe(60)
    text = generate_latest(registry).decode()
    assert histogram_quantile(text, "t_seconds", 'lane="a",', 0.5) == 0.001
    # rank 15 of 20 falls in (0.0025, 0.005], which holds ranks 11-20: halfway in.
    assert abs(histogram_quantile(text, "t_seconds", 'lane="a",', 0.75) - 0.00375) < 1e-12
    assert histogram_quantile(text, "t_seconds", 'lane="b",', 0.99) == 0.005  # in +Inf
    assert math.isnan(histogram_quantile(text, "t_seconds", 'lane="c",', 0.5))
