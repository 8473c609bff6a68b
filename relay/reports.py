"""What relay reports back to a git host, and notifies, for a deployment's status change (pure).

`messages_for(deployment, policy)` is called by the store inside the transaction that changes
a deployment's status; the messages it returns are written to the outbox in that same
transaction (docs/reporting.md). The state table (docs/reporting.md, "What is reported") is
the dict `REPORTS`: one row per relay status, host-neutral states that each git-host client
maps to its host's names (relay.githost.github / gitlab / gitea `COMMIT_STATES`).
Adding a status (e.g. `held`, `waiting_checks`) is one row here.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from relay.deployment import Deployment, DeploymentStatus
from relay.events import Source
from relay.hoststates import CommitState, DeploymentState, clip_description
from relay.notify import SinkSettings, build_notification, event_for, select_sinks

SHORT_SHA = 12
class MessageKind(enum.StrEnum):
    """What an outbox message does (the `kind` label of relay_reports_total, or a sink)."""

    COMMIT_STATUS = "commit_status"
    DEPLOYMENT = "deployment"
    NOTIFICATION = "notification"


@dataclass(frozen=True, slots=True)
class Row:
    """One row of the state table: the commit state and the host deployment state.

    `deployment` None: no host deployment message for this status. `create` True: a host
    deployment may be created for it (waiting or claimed to run, never merely queued).
    """

    commit: CommitState | None
    deployment: DeploymentState | None
    create: bool = False


# The table of docs/reporting.md, "What is reported". Superseded and skipped are special cases
# in `_commit_state` (the superseder's final state; success when already deployed).
REPORTS: Mapping[DeploymentStatus, Row] = {
    # Waiting at a gate (docs/gates.md): the host deployment exists from here, `queued`.
    DeploymentStatus.WAITING_CHECKS: Row(CommitState.PENDING, DeploymentState.QUEUED,
                                         create=True),
    DeploymentStatus.HELD: Row(CommitState.PENDING, DeploymentState.QUEUED, create=True),
    DeploymentStatus.QUEUED: Row(CommitState.PENDING, None),
    DeploymentStatus.TRIGGERING: Row(CommitState.RUNNING, DeploymentState.IN_PROGRESS,
                                     create=True),
    # Already `running` / `in_progress` since the trigger began: nothing new to say.
    DeploymentStatus.ROLLING_OUT: Row(None, None),
    DeploymentStatus.SUCCEEDED: Row(CommitState.SUCCESS, DeploymentState.SUCCESS),
    DeploymentStatus.FAILED: Row(CommitState.FAILURE, DeploymentState.FAILURE),
    DeploymentStatus.TIMED_OUT: Row(CommitState.FAILURE, DeploymentState.FAILURE),
    DeploymentStatus.ERROR: Row(CommitState.ERROR, DeploymentState.ERROR),
    DeploymentStatus.SUPERSEDED: Row(None, DeploymentState.INACTIVE),
    DeploymentStatus.SKIPPED: Row(CommitState.CANCELED, DeploymentState.INACTIVE),
    DeploymentStatus.CANCELED: Row(CommitState.CANCELED, DeploymentState.INACTIVE),
}

# A queued commit's `pending` waits this long before it is sent: in a burst, most queued
# deployments are superseded by then, and their `pending` is replaced by their final state,
# so a burst of N pushes costs about N calls, not 2N (docs/reporting.md, "Bursts").
PENDING_SETTLE_S = 2.0
# A superseded commit waits for the verdict of the deployment that superseded it: this
# placeholder is never due before that verdict replaces it (same key: the older is dropped).
AWAIT_VERDICT_S = 10 * 365 * 86_400.0


@dataclass(frozen=True, slots=True)
class ReportPolicy:
    """What the configuration asks to report (built from Settings by relay.outbox_sender).

    `hosts`: the sources with an `api`, mapped to whether the host has deployments.
    `environments`: route index -> environment name (missing: `cluster-{id}`).
    """

    hosts: Mapping[Source, bool] = field(default_factory=dict)
    commit_status: bool = True
    deployments: bool = True
    context: str = "relay/{cluster}"
    public_url: str | None = None
    environments: Mapping[int, str] = field(default_factory=dict)
    sinks: tuple[SinkSettings, ...] = ()  # notify[] (relay/notify: filters and formats)

    def environment(self, dep: Deployment) -> str:
        """The host environment of `dep`: its route's `environment`, else `cluster-{id}`."""
        if dep.route_index is not None and dep.route_index in self.environments:
            return self.environments[dep.route_index]
        return f"cluster-{dep.cluster}"

    def target_url(self, dep: Deployment) -> str | None:
        """`{public_url}/ui/deployments/{id}`, or None when no public_url is set."""
        if not self.public_url:
            return None
        return f"{self.public_url.rstrip('/')}/ui/deployments/{dep.id}"


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message to deliver after the transaction commits.

    `key`: the coalescing key (only the newest message per key must arrive; None: every one).
    `target`: the context (commit status), the environment (deployment) or the sink name.
    `payload`: the message's details as JSON-able values (never a secret).
    """

    deployment_id: int
    kind: MessageKind
    host: str  # github | gitlab | gitea, or "notify"
    target: str
    key: str | None
    payload: Mapping[str, Any]
    delay_s: float = 0.0  # not sent before this many seconds after the status change

    def to_json(self) -> dict[str, Any]:
        return dict(self.payload)


Policy = Callable[[Deployment, tuple[Deployment, ...]], tuple[OutboxMessage, ...]]


def describe(dep: Deployment, superseder: Deployment | None = None) -> str:
    """The status description in words (at most 140 characters)."""
    status = dep.status
    where = f"cluster {dep.cluster}"
    if status is DeploymentStatus.QUEUED:
        text = f"queued for {where}"
    elif status is DeploymentStatus.WAITING_CHECKS:
        text = f"waiting for the commit's checks before deploying to {where}"
    elif status is DeploymentStatus.HELD:
        text = f"held: {where} is on hold" + (f" ({dep.error})" if dep.error else "")
    elif status is DeploymentStatus.TRIGGERING:
        text = f"deploying to {where}"
    elif status is DeploymentStatus.ROLLING_OUT:
        text = f"rolling out to {where}"
    elif status is DeploymentStatus.SUCCEEDED:
        text = f"rolled out to {where}{_took(dep)}"
    elif status is DeploymentStatus.FAILED:
        text = f"rollout failed on {where}{_took(dep)}" + (f": {dep.error}" if dep.error else "")
    elif status is DeploymentStatus.TIMED_OUT:
        text = f"rollout timed out on {where}{_took(dep, 'after')}"
    elif status is DeploymentStatus.ERROR:
        text = f"not deployed to {where}: {dep.error or 'the cluster API refused the trigger'}"
    elif status is DeploymentStatus.SUPERSEDED:
        if superseder is not None:
            text = (f"superseded by {superseder.version[:SHORT_SHA]} "
                    f"({superseder.status.value})")
        else:
            text = f"superseded on {where}"
    elif status is DeploymentStatus.SKIPPED:
        text = f"skipped: {dep.error}" if dep.error else "skipped"
    elif status is DeploymentStatus.CANCELED:
        text = "canceled by hand"
    else:
        text = f"{status.value} on {where}"
    return clip_description(text)


def _took(dep: Deployment, word: str = "in") -> str:
    if dep.triggered_at is None or dep.finished_at is None:
        return ""
    seconds = max(0, round((dep.finished_at - dep.triggered_at).total_seconds()))
    return f" {word} {seconds} s"


def already_deployed(dep: Deployment) -> bool:
    """A skipped deployment whose commit already runs on the cluster (reported `success`)."""
    return dep.status is DeploymentStatus.SKIPPED and "already the cluster's version" in (
        dep.error or "")


def _commit_state(dep: Deployment, row: Row, superseder: Deployment | None) -> CommitState | None:
    if dep.status is DeploymentStatus.SUPERSEDED:
        if superseder is None or superseder.status.is_open:
            return None  # reported once the superseding deployment ends
        final = REPORTS.get(superseder.status)
        if superseder.status is DeploymentStatus.SUPERSEDED or final is None:
            return CommitState.CANCELED
        return _commit_state(superseder, final, None)
    if already_deployed(dep):
        return CommitState.SUCCESS
    return row.commit


def messages_for(dep: Deployment, policy: ReportPolicy,
                 superseded: tuple[Deployment, ...] = (),
                 superseder: Deployment | None = None) -> tuple[OutboxMessage, ...]:
    """The outbox messages for `dep`'s new status (its `status` field), in sending order.

    `superseded`: deployments `dep` superseded (given when `dep` has just ended: they get
    `dep`'s final state, docs/reporting.md). `superseder`: for a superseded `dep`, the one that
    superseded it, when known. Empty when `dep` came from no host with an `api` and no sink
    wants it.
    """
    out: list[OutboxMessage] = []
    source = dep.source
    row = REPORTS.get(dep.status)
    if source is not None and source in policy.hosts and row is not None and dep.repo:
        out.extend(_reports(dep, policy, row, superseder, policy.hosts[source]))
    if not dep.status.is_open:
        for old in superseded:
            out.extend(messages_for(old, policy, superseder=dep))
    if superseder is None and policy.sinks:  # a superseded one is told once, when superseded
        out.extend(_notifications(dep, policy))
    return tuple(out)


def _reports(dep: Deployment, policy: ReportPolicy, row: Row, superseder: Deployment | None,
             has_deployments: bool) -> list[OutboxMessage]:
    assert dep.source is not None and dep.repo is not None
    host = dep.source.value
    environment = policy.environment(dep)
    context = policy.context.replace("{cluster}", str(dep.cluster)).replace(
        "{environment}", environment)
    description = describe(dep, superseder)
    url = policy.target_url(dep)
    out: list[OutboxMessage] = []
    state = _commit_state(dep, row, superseder) if policy.commit_status else None
    delay_s = PENDING_SETTLE_S if dep.status is DeploymentStatus.QUEUED else 0.0
    if state is None and dep.status is DeploymentStatus.SUPERSEDED and policy.commit_status:
        state, delay_s = CommitState.PENDING, AWAIT_VERDICT_S  # a placeholder (see above)
    if state is not None:
        out.append(OutboxMessage(
            dep.id, MessageKind.COMMIT_STATUS, host, context,
            key=f"{host}|{dep.repo}|{dep.version}|{context}",
            payload={"repo": dep.repo, "sha": dep.version, "state": state.value,
                     "context": context, "description": description, "target_url": url},
            delay_s=delay_s))
    if (policy.deployments and has_deployments and row.deployment is not None
            and superseder is None):
        if row.create:
            out.append(_deployment(dep, host, environment, DeploymentState.QUEUED,
                                   description if row.deployment is DeploymentState.QUEUED
                                   else f"queued for cluster {dep.cluster}", url, create=True))
        if not (row.create and row.deployment is DeploymentState.QUEUED):  # said by the create
            out.append(_deployment(dep, host, environment, row.deployment, description, url,
                                   create=False))
    return out


def _deployment(dep: Deployment, host: str, environment: str, state: DeploymentState,
                description: str, url: str | None, *, create: bool) -> OutboxMessage:
    return OutboxMessage(
        dep.id, MessageKind.DEPLOYMENT, host, environment, key=None,
        payload={"repo": dep.repo, "sha": dep.version, "ref": _short_ref(dep.ref, dep.version),
                 "tag": (dep.ref or "").startswith("refs/tags/"),
                 "environment": environment, "state": state.value,
                 "description": description, "target_url": url, "create": create})


def _short_ref(ref: str | None, sha: str) -> str:
    if not ref:
        return sha
    for prefix in ("refs/heads/", "refs/tags/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _notifications(dep: Deployment, policy: ReportPolicy) -> tuple[OutboxMessage, ...]:
    """One NOTIFICATION message per sink that wants `dep`'s new status (relay.notify decides
    the event and the filters); the payload is the neutral notification, rendered per sink
    type when it is sent."""
    event = event_for(dep.status.value)
    if event is None:
        return ()
    at = dep.finished_at or dep.triggered_at or dep.created_at  # the change's time
    note = build_notification(dep, event, at=at, public_url=policy.public_url)
    return tuple(OutboxMessage(dep.id, MessageKind.NOTIFICATION, "notify", sink.name, key=None,
                               payload={"sink": sink.name, "notification": note.to_json()})
                 for sink in select_sinks(policy.sinks, note))
