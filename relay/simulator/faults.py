"""Fault injection for the simulator: the spec grammar, its parser, and the live fault set.

Pure: no I/O, no clock. Randomness comes from a `random.Random` seeded by the caller, so tests
are deterministic. The grammar is documented in `GRAMMAR` (shown by `relay simulator --help`).
"""

from __future__ import annotations

import dataclasses
import enum
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

OPERATIONS = (
    "images", "apps.create", "apps.update", "apps.list", "apps.get", "apps.delete",
    "apps.resize", "watch", "hook",
)
ANY = "*"

GRAMMAR = """\
fault specs (--fault SPEC, repeatable; OP is one of
  images apps.create apps.update apps.list apps.get apps.delete apps.resize watch hook, or *):
  latency:OP:SECONDS[:OPTS]     delay the answer by SECONDS
  error:OP:STATUS[:OPTS]        answer STATUS (400-599) with a JSON {"code", "msg"} body
  reset:OP[:OPTS]               close the connection without answering
  html:OP[:STATUS][:OPTS]       answer a text/html error page (STATUS 400-599, default 502)
  truncated:OP[:OPTS]           handle the request, then send only half of its JSON body
  watch-immediate[:OPTS]        a watch answers at once, without any change
  fail-version:VERSION[:OPTS]   a rolling replacement to VERSION (* = any) ends in update_fail,
                                leaving old containers behind
  OPTS, each as :key=value
    count=N        fire for the first N matching requests only (default: every one)
    rate=P         fire with probability P, 0 < P <= 1 (seedable; with count: at most N times)
    retry-after=S  error only: add a Retry-After: S header (for 429 and 503)
examples: error:apps.get:503:count=2  error:*:429:retry-after=1  reset:watch:rate=0.2
          latency:apps.update:1.5  fail-version:4f2a9c1"""


class FaultKind(enum.Enum):
    LATENCY = "latency"
    ERROR = "error"
    RESET = "reset"
    HTML = "html"
    TRUNCATED = "truncated"
    WATCH_IMMEDIATE = "watch-immediate"
    FAIL_VERSION = "fail-version"


# Kinds that answer in place of the handler; the first one that fires wins.
TERMINAL_KINDS = frozenset({FaultKind.ERROR, FaultKind.RESET, FaultKind.HTML})


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault, as parsed from a spec; `spec` keeps the text for messages."""

    kind: FaultKind
    operation: str = ANY
    status: int | None = None
    seconds: float = 0.0
    version: str | None = None
    count: int | None = None
    rate: float | None = None
    retry_after: int | None = None
    spec: str = ""

    def targets(self, operation: str) -> bool:
        return self.operation in (ANY, operation)


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What the faults say about one request: delay, replace the answer, truncate it."""

    delay_s: float = 0.0
    answer: Fault | None = None
    truncate: bool = False


def parse_fault(spec: str) -> Fault:
    """Parse one fault spec (see `GRAMMAR`); raise ValueError naming the bad part."""
    parts = spec.strip().split(":")
    try:
        kind = FaultKind(parts[0])
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(
            f"fault {spec!r}: unknown kind {parts[0]!r} (expected one of {known})"
        ) from None
    args = [p for p in parts[1:] if "=" not in p]
    opts = _parse_options(spec, [p for p in parts[1:] if "=" in p])
    if opts.get("retry-after") is not None and kind is not FaultKind.ERROR:
        raise ValueError(f"fault {spec!r}: retry-after applies to error faults only")
    return dataclasses.replace(
        _PARSERS[kind](spec, args), count=_opt_int(opts, "count"), rate=opts.get("rate"),
        retry_after=_opt_int(opts, "retry-after"), spec=spec.strip(),
    )


def _parse_options(spec: str, items: list[str]) -> dict[str, float | None]:
    opts: dict[str, float | None] = {}
    for item in items:
        key, _, raw = item.partition("=")
        if key not in ("count", "rate", "retry-after"):
            raise ValueError(
                f"fault {spec!r}: unknown option {key!r} (expected count, rate or retry-after)"
            )
        if key == "rate":
            value = _number(spec, key, raw)
            if not 0 < value <= 1:
                raise ValueError(f"fault {spec!r}: rate={raw} is not in (0, 1]")
            opts[key] = value
        else:
            opts[key] = _positive_int(spec, key, raw)
    return opts


def _opt_int(opts: dict[str, float | None], key: str) -> int | None:
    value = opts.get(key)
    return None if value is None else int(value)


def _number(spec: str, what: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"fault {spec!r}: {what} {raw!r} is not a number") from None


def _positive_int(spec: str, what: str, raw: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"fault {spec!r}: {what} {raw!r} is not a positive integer")
    return int(raw)


def _status(spec: str, raw: str) -> int:
    if not raw.isdigit() or not 400 <= int(raw) <= 599:
        raise ValueError(f"fault {spec!r}: status {raw!r} is not an HTTP error status (400-599)")
    return int(raw)


def _operation(spec: str, args: list[str]) -> str:
    if not args:
        raise ValueError(f"fault {spec!r}: missing operation (one of {', '.join(OPERATIONS)}, *)")
    if args[0] not in (*OPERATIONS, ANY):
        raise ValueError(
            f"fault {spec!r}: unknown operation {args[0]!r} "
            f"(expected one of {', '.join(OPERATIONS)}, *)"
        )
    return args[0]


def _arity(spec: str, args: list[str], low: int, high: int, missing: str = "") -> None:
    if len(args) > high:
        raise ValueError(f"fault {spec!r}: unexpected argument {':'.join(args[high:])!r}")
    if len(args) < low:
        raise ValueError(f"fault {spec!r}: missing {missing}")


def _p_latency(spec: str, args: list[str]) -> Fault:
    op = _operation(spec, args)
    _arity(spec, args, 2, 2, "SECONDS")
    seconds = _number(spec, "seconds", args[1])
    if seconds < 0:
        raise ValueError(f"fault {spec!r}: seconds {args[1]!r} is negative")
    return Fault(FaultKind.LATENCY, op, seconds=seconds)


def _p_error(spec: str, args: list[str]) -> Fault:
    op = _operation(spec, args)
    _arity(spec, args, 2, 2, "STATUS")
    return Fault(FaultKind.ERROR, op, status=_status(spec, args[1]))


def _p_reset(spec: str, args: list[str]) -> Fault:
    op = _operation(spec, args)
    _arity(spec, args, 1, 1)
    return Fault(FaultKind.RESET, op)


def _p_html(spec: str, args: list[str]) -> Fault:
    op = _operation(spec, args)
    _arity(spec, args, 1, 2)
    return Fault(FaultKind.HTML, op, status=_status(spec, args[1]) if len(args) > 1 else 502)


def _p_truncated(spec: str, args: list[str]) -> Fault:
    op = _operation(spec, args)
    _arity(spec, args, 1, 1)
    return Fault(FaultKind.TRUNCATED, op)


def _p_watch_immediate(spec: str, args: list[str]) -> Fault:
    _arity(spec, args, 0, 0)
    return Fault(FaultKind.WATCH_IMMEDIATE, "watch")


def _p_fail_version(spec: str, args: list[str]) -> Fault:
    if not args or not args[0]:
        raise ValueError(f"fault {spec!r}: missing version (a commit, or * for any)")
    _arity(spec, args, 1, 1)
    return Fault(FaultKind.FAIL_VERSION, ANY, version=args[0])


_PARSERS = {
    FaultKind.LATENCY: _p_latency,
    FaultKind.ERROR: _p_error,
    FaultKind.RESET: _p_reset,
    FaultKind.HTML: _p_html,
    FaultKind.TRUNCATED: _p_truncated,
    FaultKind.WATCH_IMMEDIATE: _p_watch_immediate,
    FaultKind.FAIL_VERSION: _p_fail_version,
}


class Faults:
    """The faults in force; counts and rates are consumed as requests match them."""

    def __init__(self, faults: Iterable[Fault | str] = (), *, seed: int | None = None) -> None:
        self._rng = random.Random(seed)
        self._faults: list[Fault] = []
        self._remaining: list[int | None] = []
        self.fired: list[Fault] = []  # every firing, in order: tests assert on it
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault | str) -> None:
        """Add a fault (a `Fault`, or a spec string parsed with `parse_fault`)."""
        if isinstance(fault, str):
            fault = parse_fault(fault)
        self._faults.append(fault)
        self._remaining.append(fault.count)

    def clear(self) -> None:
        self._faults.clear()
        self._remaining.clear()

    @property
    def active(self) -> tuple[Fault, ...]:
        """The faults that can still fire."""
        return tuple(f for f, n in zip(self._faults, self._remaining, strict=True) if n != 0)

    def plan(self, operation: str) -> FaultPlan:
        """Decide, for one request to `operation`, which request-level faults fire."""
        delay, answer, truncate = 0.0, None, False
        for index, fault in enumerate(self._faults):
            if not fault.targets(operation):
                continue
            if fault.kind is FaultKind.LATENCY and self._fire(index):
                delay += fault.seconds
            elif fault.kind in TERMINAL_KINDS and answer is None and self._fire(index):
                answer = fault
            elif fault.kind is FaultKind.TRUNCATED and not truncate and self._fire(index):
                truncate = True
        return FaultPlan(delay_s=delay, answer=answer, truncate=truncate)

    def watch_immediate(self) -> bool:
        """Whether this watch should answer at once."""
        return self._first(FaultKind.WATCH_IMMEDIATE, lambda f: True)

    def fails_version(self, version: str) -> bool:
        """Whether a rolling replacement to `version` should fail."""
        return self._first(FaultKind.FAIL_VERSION, lambda f: f.version in (ANY, version))

    def _first(self, kind: FaultKind, wanted: Callable[[Fault], bool]) -> bool:
        for index, fault in enumerate(self._faults):
            if fault.kind is kind and wanted(fault) and self._fire(index):
                return True
        return False

    def _fire(self, index: int) -> bool:
        """Consume one firing of fault `index` if it has any left and its rate allows it."""
        remaining, fault = self._remaining[index], self._faults[index]
        if remaining == 0:
            return False
        if fault.rate is not None and self._rng.random() >= fault.rate:
            return False
        if remaining is not None:
            self._remaining[index] = remaining - 1
        self.fired.append(fault)
        return True
