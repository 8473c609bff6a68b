"""Fault specs of the fake git hosts: the simulator's grammar over the git-host operations.

The fault values and the live set are relay.simulator.faults' (`Fault`, `Faults`: counts,
rates, seeds, the `fired` list); only the operation names differ. A 429 or 403 `error`
fault answers as that host's rate limit (see `GRAMMAR`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from relay.simulator.faults import Fault, FaultKind, Faults
from relay.simulator.faults import parse_fault as parse_simulator_fault

OPERATIONS = ("commit_status", "deployment", "deployment_status", "checks", "branch",
              "compare")
ANY = "*"
KINDS = (FaultKind.LATENCY, FaultKind.ERROR, FaultKind.RESET, FaultKind.HTML,
         FaultKind.TRUNCATED)

GRAMMAR = """\
fault specs (--fault SOURCE:SPEC or SPEC for all three hosts, repeatable; OP is one of
  commit_status deployment deployment_status checks branch compare, or *):
  latency:OP:SECONDS[:OPTS]   delay the answer (a hang, when longer than the client waits)
  error:OP:STATUS[:OPTS]      answer STATUS (400-599) with the host's error body;
                              429, and 403 on GitHub, answer as the host's rate limit:
                              with retry-after=S a Retry-After: S header (GitHub's
                              secondary limit), else GitHub's X-RateLimit-Remaining: 0 and
                              X-RateLimit-Reset (GitLab: RateLimit-Reset) 60 s ahead
  reset:OP[:OPTS]             close the connection without answering
  html:OP[:STATUS][:OPTS]     a text/html error page (default 502), as a proxy sends
  truncated:OP[:OPTS]         send only half of the JSON body
  OPTS: count=N (first N matching requests), rate=P (probability), retry-after=S
examples: error:commit_status:502:count=2  github:error:*:403:retry-after=7  reset:branch"""


def parse_fault(spec: str) -> Fault:
    """Parse one spec (without its SOURCE: prefix); ValueError naming the bad part."""
    parts = spec.strip().split(":")
    if parts[0] not in {k.value for k in KINDS}:
        known = ", ".join(k.value for k in KINDS)
        raise ValueError(f"fault {spec!r}: unknown kind {parts[0]!r} (expected one of {known})")
    if len(parts) < 2 or "=" in parts[1]:
        raise ValueError(f"fault {spec!r}: missing operation (one of {', '.join(OPERATIONS)}, *)")
    operation = parts[1]
    if operation not in (*OPERATIONS, ANY):
        raise ValueError(f"fault {spec!r}: unknown operation {operation!r} "
                         f"(expected one of {', '.join(OPERATIONS)}, *)")
    rewritten = ":".join([parts[0], ANY, *parts[2:]])
    try:
        parsed = parse_simulator_fault(rewritten)
    except ValueError as exc:
        raise ValueError(str(exc).replace(repr(rewritten), repr(spec.strip()))) from None
    return dataclasses.replace(parsed, operation=operation, spec=spec.strip())


class GitFaults(Faults):
    """The simulator's live fault set, parsing spec strings with this module's grammar."""

    def __init__(self, faults: Iterable[Fault | str] = (), *, seed: int | None = None) -> None:
        super().__init__((), seed=seed)
        for fault in faults:
            self.add(fault)

    def add(self, fault: Fault | str) -> None:
        """Add a fault (a `Fault`, or a spec string of `GRAMMAR`)."""
        super().add(parse_fault(fault) if isinstance(fault, str) else fault)
