"""What to do with a verified delivery, as values (pure: no I/O, no clock, no store).

`ingest` turns (delivery, body, routes, now) into the row to store, the deployments to
queue and the reason relay ignores it; `redelivery` does the same for a stored delivery that
an operator sends again. The webhook handler (relay/web.py) and the admin API's redeliver
(relay/admin_api.py) only carry these values to the store and answer.

Delivery ids (the answer table's `delivery_id`, the store's primary key): a key of up to 128
characters of [A-Za-z0-9._-] reads as itself, "github-<key>"; any other key (longer, or with
other printable ASCII) becomes "github~<first 40 hex digits of its SHA-256>". The "~" never
occurs in a readable id, so a key cannot spell the id of another key (issue 16 point 6).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from relay.config import Route
from relay.deployment import DeploymentKind, DeploymentStatus, NewDeployment
from relay.events import Delivery, PushEvent, Source, WebhookError, push_ignored
from relay.gates.changes import PushChanges
from relay.gates.filters import FilterDecision, Verdict, decide, decide_markers
from relay.gates.release import admit
from relay.routing import lookup, ref_too_long, split_ref
from relay.store.base import NewDelivery

_READABLE_KEY = re.compile(r"[A-Za-z0-9._-]{1,128}")


@dataclass(frozen=True, slots=True)
class Ingested:
    """A delivery's fate: the row to store, the deployments to queue, why it is ignored.

    `deployments` is empty exactly when `ignored` is set.
    """

    record: NewDelivery
    deployments: tuple[NewDeployment, ...]
    ignored: str | None


class NothingToDeploy(WebhookError):
    """A stored delivery that redelivery cannot act on (not a push, a deletion, no route)."""

    status = 409
    outcome = "nothing_to_deploy"


def delivery_id_for(source: Source, key: str) -> str:
    """relay's id of a delivery: readable and stable for the same (source, key), unambiguous."""
    if _READABLE_KEY.fullmatch(key):
        return f"{source.value}-{key}"
    return f"{source.value}~{hashlib.sha256(key.encode('utf-8')).hexdigest()[:40]}"


def ingest(delivery: Delivery, body: bytes, routes: Sequence[Route], now: datetime, *,
           can_compare: Collection[Source] = (),
           can_check: Collection[Source] = ()) -> Ingested:
    """Decide what a verified delivery stores and queues.

    `body`: the raw body as received (stored to forward later); `routes`: the route table in
    file order; `now`: aware UTC, the receipt time. Every actionable push is matched against
    `routes`; each match plans one deployment, in push then route order, unless the route's
    filters (`skip_markers`, `paths`, `paths_ignore`: relay.gates.filters) stop it: then the
    delivery is ignored with that filter's reason when no route deploys. `can_compare`: the
    sources whose compare API relay may ask when a payload's file lists are incomplete (the
    deployment is then planned with `needs_compare`, and the worker asks before claiming);
    for any other source such a push deploys (relay does not guess that nothing changed).
    `can_check`: the sources whose checks relay can read: a route's `wait_for_checks` makes
    their deployments start `waiting_checks` (relay.gates.release.admit).
    """
    planned: list[NewDeployment] = []
    first_unrouted: PushEvent | None = None
    filtered: str | None = None
    for push in delivery.pushes:
        if push_ignored(push) is not None:
            continue
        matched = lookup(routes, push)
        if not matched and first_unrouted is None:
            first_unrouted = push
        gated, reason = _gate(push, matched, can_compare=can_compare, can_check=can_check)
        planned.extend(gated)
        filtered = filtered or reason
    ignored = delivery.ignored
    if ignored is None and not planned and filtered is not None:
        ignored = filtered
    if ignored is None and not planned:
        unrouted = first_unrouted or delivery.push
        ignored = ((ref_too_long(unrouted.ref)
                    or f"no route matches {unrouted.repository} {unrouted.ref}") if unrouted
                   else "no push")
    return Ingested(_record(delivery, body, now, ignored), tuple(planned), ignored)


def _gate(push: PushEvent, matched: Sequence[Route], *, can_compare: Collection[Source],
          can_check: Collection[Source], kind: DeploymentKind | None = None,
          ) -> tuple[list[NewDeployment], str | None]:
    """The deployments the routes `matched` plan for `push` after their filters, each in its
    first status (relay.gates.release.admit), and the first filter's reason that stopped one."""
    planned: list[NewDeployment] = []
    filtered: str | None = None
    at = push.head_commit.timestamp if push.head_commit else None
    for route in matched:
        decision = filter_push(route, push, can_compare=push.source in can_compare)
        if decision.verdict is Verdict.IGNORE:
            filtered = filtered or f"routes[{route.index}] {decision.filter}: {decision.reason}"
            continue
        first = admit(wait_for_checks=route.wait_for_checks is not None
                      and push.source in can_check, hold_active=False)
        planned.append(_planned(push, route, at, before=push.before or None, kind=kind,
                                needs_compare=decision.verdict is Verdict.NEEDS_COMPARE,
                                status=DeploymentStatus(first.value)))
    return planned, filtered


def filter_push(route: Route, push: PushEvent, *, can_compare: bool) -> FilterDecision:
    """The route's filters for one push: the first that stops it, else the paths decision.

    A push with no `changes` at all (a redelivery: its stored payload is not read again)
    passes the path filters; its head commit message still meets the skip markers. A push
    whose changes leave the file lists unread (`changes.commits` None, when no route had path
    filters as it was parsed) reads as incomplete: compare, or deploy.
    """
    changes = push.changes
    if changes is None:
        message = push.head_commit.message if push.head_commit else None
        marker = decide_markers(route.filters, message)
        return marker
    return decide(route.filters, changes, is_tag=push.tag is not None, can_compare=can_compare)


def redelivery(stored: NewDelivery, routes: Sequence[Route]) -> tuple[NewDeployment, ...]:
    """The deliberate deployments of a stored push routed again with `routes` (never empty).

    Raises NothingToDeploy (409) when the delivery is not a push, deleted its ref, or no
    route matches it today.
    """
    d = stored
    if d.ref is None or d.repo is None or d.commit is None:
        raise NothingToDeploy(
            f"delivery {d.delivery_id} is not a push ({d.ignored}): nothing to deploy")
    if d.after is not None and d.after.strip("0") == "":
        raise NothingToDeploy(f"delivery {d.delivery_id} deleted {d.ref}: nothing to deploy")
    push = _push_of(d)
    matched = lookup(routes, push)
    if not matched:
        raise NothingToDeploy(f"no route matches {d.repo} {d.ref}")
    return tuple(_planned(push, route, d.head_commit_at, before=d.before, manual=True,
                          kind=DeploymentKind.REDELIVERY)
                 for route in matched)


def _push_of(d: NewDelivery) -> PushEvent:
    ref = d.ref or ""
    branch, tag = split_ref(ref)
    return PushEvent(
        source=Source(d.source), delivery_key=d.delivery_key, repository=d.repo or "", ref=ref,
        branch=branch, tag=tag, before=d.before or "", after=d.after or "", commit=d.commit or "",
        created=False, deleted=False, forced=False, head_commit=None, pusher=None,
    )


def _record(delivery: Delivery, body: bytes, now: datetime, ignored: str | None) -> NewDelivery:
    push = delivery.push
    return NewDelivery(
        delivery_id=delivery_id_for(delivery.source, delivery.delivery_key),
        source=delivery.source.value,
        delivery_key=delivery.delivery_key,
        event=delivery.event.value,
        event_name=delivery.event_name,
        received_at=now,
        content_type=delivery.content_type,
        headers=delivery.forward_headers,
        body=body,
        repo=push.repository if push else None,
        ref=push.ref if push else None,
        before=push.before if push else None,
        after=push.after if push else None,
        commit=push.commit if push else None,
        head_commit_at=push.head_commit.timestamp if push and push.head_commit else None,
        ignored=ignored,
    )


def _planned(push: PushEvent, route: Route, head_commit_at: datetime | None, *,
             before: str | None, manual: bool = False,
             kind: DeploymentKind | None = None, needs_compare: bool = False,
             status: DeploymentStatus = DeploymentStatus.QUEUED) -> NewDeployment:
    """The deployment `route` asks for `push`: a matched delivery's, or a redelivery's."""
    return NewDeployment(
        cluster=route.cluster,
        action=route.action,
        version=push.commit,
        source=push.source,
        repo=push.repository,
        ref=push.ref,
        before=before,
        head_commit_at=head_commit_at,
        manual=manual,
        route_index=route.index,
        forced=push.forced,
        kind=kind,
        needs_compare=needs_compare,
        status=status,
    )


CATCH_UP_EVENT = "catch_up"


def catch_up(source: Source, repo: str, branch: str, *, before: str | None, sha: str,
             routes: Sequence[Route], now: datetime, can_compare: Collection[Source] = (),
             can_check: Collection[Source] = ()) -> Ingested:
    """A branch head that catch-up found and no delivery brought, as a stored delivery of
    event `catch_up` (id `{source}-catchup-{sha}`) routed like a push of it.

    `before`: the last head relay knew for that branch (the push's `before`, so that the
    older-commit rules of relay.scheduling apply; a head that moved backwards is older than
    the push that left it, unless forced); None when unknown. The stored body is a small JSON
    document (`ref`, `before`, `after`, `repository`, `catch_up`), which an `action: hook`
    route forwards.
    """
    ref = f"refs/heads/{branch}"
    push = PushEvent(
        source=source, delivery_key=f"catchup-{sha}", repository=repo, ref=ref, branch=branch,
        tag=None, before=before or "", after=sha, commit=sha, created=False, deleted=False,
        forced=False, head_commit=None, pusher=None,
        changes=PushChanges(commits=()))  # nothing is known of its files: compare, or deploy
    matched = lookup(routes, push)
    gated, filtered = _gate(push, matched, can_compare=can_compare, can_check=can_check,
                            kind=DeploymentKind.CATCH_UP)
    planned = tuple(gated)
    ignored = None if planned else (filtered or f"no route matches {repo} {ref}")
    body = json.dumps({"ref": ref, "before": before, "after": sha, "repository": repo,
                       "catch_up": True}).encode()
    record = NewDelivery(
        delivery_id=delivery_id_for(source, push.delivery_key), source=source.value,
        delivery_key=push.delivery_key, event=CATCH_UP_EVENT, event_name=CATCH_UP_EVENT,
        received_at=now, content_type="application/json", headers=(), body=body, repo=repo,
        ref=ref, before=before, after=sha, commit=sha, head_commit_at=None, ignored=ignored)
    return Ingested(record, planned, ignored)
