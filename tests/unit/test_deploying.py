"""The pure parts of relay/deploying.py and relay/triggers.py: hook URL checks, the trigger
table, endings."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest

from relay.config import Action
from relay.deploying import WorkerSettings, ending_of
from relay.deployment import Deployment, DeploymentStatus
from relay.follow import FollowSettings, Outcome
from relay.rollout import Progress, Verdict
from relay.triggers import TRIGGERS, hook_refusal, route_of
from tests.factories import routes

ALLOWED = frozenset({"api.example", "hooks.example:8443", "[::1]:9000", "10.0.0.7"})


@pytest.mark.parametrize("url", [
    "https://api.example/hook",  # a bare host: any port
    "http://api.example:8080/hook",
    "https://HOOKS.example:8443/x",  # host:port: that port (case-insensitive host)
    "http://[::1]:9000/x",
    "http://10.0.0.7:1234/x",
])
def test_allowed_hook_urls(url: str) -> None:
    assert hook_refusal(url, ALLOWED) is None


@pytest.mark.parametrize(("url", "reason"), [
    ("https://hooks.example/x", "web_hook_url host 'hooks.example:443' is not the API's host "
                                "nor in cluster_api.hook_hosts"),
    ("https://hooks.example:9443/x", "web_hook_url host 'hooks.example:9443' is not"),
    ("http://[::1]:9001/x", "web_hook_url host '[::1]:9001' is not"),
    ("ftp://api.example/x", "web_hook_url must be an http(s) URL, not 'ftp'"),
    ("file:///etc/passwd", "web_hook_url must be an http(s) URL, not 'file'"),
    ("//api.example/x", "web_hook_url must be an http(s) URL, not 'schemeless'"),
    ("http://api.example:99999/x", "web_hook_url is not a valid URL"),
])
def test_refused_hook_urls_say_why(url: str, reason: str) -> None:
    refused = hook_refusal(url, ALLOWED)
    assert refused is not None and refused.startswith(reason)


def test_every_action_has_a_trigger() -> None:
    assert set(TRIGGERS) == set(Action)
    assert TRIGGERS[Action.VERSION].reads_back_version
    assert not TRIGGERS[Action.HOOK].reads_back_version


def test_endings_of_a_follow() -> None:
    p = Progress(replaced=1, of=2, running=2, replicas=2)
    assert ending_of(Outcome(Verdict.SUCCEEDED, None, p, 0, 3), 60).status \
        is DeploymentStatus.SUCCEEDED
    failed = ending_of(Outcome(Verdict.FAILED, None, p, 1, 3, error="cluster status x_fail"), 60)
    assert (failed.status, failed.error) == (DeploymentStatus.FAILED, "cluster status x_fail")
    timed = ending_of(Outcome(None, None, p, 0, 9), 60)
    assert timed.status is DeploymentStatus.TIMED_OUT
    assert timed.error == "no verdict after 60 s: 1/2 containers replaced, 2/2 running"
    assert timed.extra == {"api_errors": 0, "polls": 9}


def test_the_trigger_wait_out_is_the_clients_longest_call() -> None:
    assert WorkerSettings(follow=FollowSettings(request_timeout_s=10)).trigger_hold_s == 55
    assert WorkerSettings(follow=FollowSettings(request_timeout_s=2)).trigger_hold_s == 20
    assert WorkerSettings(trigger_max_s=1.5).trigger_hold_s == 1.5


def test_the_route_of_a_deployment_survives_a_reload_that_moved_the_indexes() -> None:
    table = routes(vc=True)  # 0: 10702 version (with a block), 1: 10800 hook, 2: 10703
    dep = Deployment(id=1, cluster=10702, action=Action.VERSION, version="a" * 40, source=None,
                     repo=None, ref=None, delivery_id=None, status=DeploymentStatus.QUEUED,
                     created_at=datetime(2026, 1, 1, tzinfo=UTC), route_index=0)
    assert route_of(dep, table) is table[0]
    reloaded = tuple(dataclasses.replace(r, index=i) for i, r in enumerate(reversed(table)))
    found = route_of(dep, reloaded)  # index 0 is now another cluster's route
    assert found is not None and found.cluster == 10702 and found.version_control is not None
    assert route_of(dataclasses.replace(dep, cluster=1), table) is None
