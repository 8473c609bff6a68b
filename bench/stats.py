"""Small statistics helpers (pure): percentiles, medians, ratios, formatting."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def ratio(a: float, b: float) -> float:
    return a / b if b else math.nan


def ms(seconds: float) -> str:
    if math.isnan(seconds):
        return "n/a"
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.1f} s"


def histogram_quantile(text: str, name: str, labels: str, q: float) -> float:
    """The q-quantile (0..1) of a Prometheus histogram in exposition `text`, as PromQL's
    histogram_quantile computes it: linear within the bucket the rank falls in. `labels` is
    the series' other labels as they print before `le`, e.g. 'lane="ingest",'. NaN when the
    series is missing or empty; the largest finite bound when the rank is in +Inf."""
    buckets: list[tuple[float, float]] = []
    prefix = f"{name}_bucket{{{labels}le=\""
    for line in text.splitlines():
        if line.startswith(prefix):
            le, _, value = line[len(prefix):].partition("\"} ")
            buckets.append((float(le), float(value)))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return math.nan
    rank = q * buckets[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if math.isinf(bound):
                return lower
            inside = cumulative - below
            return lower + (bound - lower) * ((rank - below) / inside if inside else 0.0)
        lower, below = bound, cumulative
    return lower
