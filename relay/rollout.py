"""Is a rollout done, failed, or still going? (pure; the statuses: docs/operations.md)

The verdict compares what the cluster shows now with the snapshot stored before the trigger:
a resumed deployment is judged against the same snapshot as the original run.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass


class Verdict(enum.StrEnum):
    GOING = "going"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Observation:
    """What relay needs of a cluster (GET /api/v1/apps/{id}) to judge a rollout."""

    status: str
    replicas: int
    container_ids: tuple[str, ...]
    version: str | None

    def to_json(self) -> str:
        return json.dumps({"status": self.status, "replicas": self.replicas,
                           "containers": list(self.container_ids), "version": self.version})

    @classmethod
    def from_json(cls, text: str) -> Observation:
        data = json.loads(text)
        return cls(status=str(data["status"]), replicas=int(data["replicas"]),
                   container_ids=tuple(str(c) for c in data["containers"]),
                   version=data.get("version"))


@dataclass(frozen=True, slots=True)
class Progress:
    replaced: int  # snapshot containers no longer running
    of: int  # snapshot containers in all
    running: int  # containers running now
    replicas: int


def is_failure_status(status: str) -> bool:
    """The API lists create_fail; any status ending in _fail is a failure (docs/cluster-api.md)."""
    return status.endswith("_fail")


@dataclass(frozen=True, slots=True)
class Judge:
    """Judges observations of one rollout against the snapshot taken before its trigger."""

    snapshot: Observation
    version: str | None  # the version that must read back (action: version); None for hook

    def initial_fail_armed(self) -> bool:
        """A _fail status left over from before the trigger counts only after another status."""
        return not is_failure_status(self.snapshot.status)

    def rearm(self, armed: bool, now: Observation) -> bool:
        return armed or not is_failure_status(now.status)

    def verdict(self, now: Observation, *, fail_armed: bool) -> Verdict:
        """FAILED on an armed `_fail` status or a version set outside relay; SUCCEEDED when
        the snapshot's containers are all replaced, the count is complete and (action
        version) the new version reads back; else GOING."""
        if fail_armed and is_failure_status(now.status):
            return Verdict.FAILED
        if self.foreign_version(now) is not None:
            return Verdict.FAILED
        old = set(self.snapshot.container_ids)
        replaced = not old.intersection(now.container_ids)
        complete = len(now.container_ids) == now.replicas
        version_ok = self.version is None or now.version == self.version
        if replaced and complete and version_ok:
            return Verdict.SUCCEEDED
        return Verdict.GOING

    def foreign_version(self, now: Observation) -> str | None:
        """A third version the cluster reports (neither the one before nor the one sent):
        someone else changed it, this rollout will never read its version back."""
        if self.version is None or now.version is None:
            return None
        return None if now.version in (self.version, self.snapshot.version) else now.version

    def failure(self, now: Observation) -> str:
        """Why `now` is a failure, for the deployment's `error`."""
        foreign = self.foreign_version(now)
        if foreign is not None:
            return f"version changed to {foreign} outside relay"
        return f"cluster status {now.status}"

    def progress(self, now: Observation) -> Progress:
        remaining = set(self.snapshot.container_ids).intersection(now.container_ids)
        total = len(self.snapshot.container_ids)
        return Progress(replaced=total - len(remaining), of=total,
                        running=len(now.container_ids), replicas=now.replicas)

    def shows_effect(self, now: Observation) -> bool:
        """Has a trigger already reached the cluster? (used when resuming `triggering`)"""
        if self.version is not None:
            return now.version == self.version
        before = self.snapshot
        return now.container_ids != before.container_ids or now.status != before.status
