"""relay.notify.filters: which sinks a notification goes to, and what a sink's settings accept."""

from __future__ import annotations

from typing import Any

import pytest

from relay.notify import DEFAULT_ON, NotifyEvent, SinkSettings, SinkType, select_sinks, url_problem
from relay.secret import Secret
from tests.notify_samples import notification

URL = Secret("https://hooks.example.com/services/T0/B0/SECRETTOKEN", "RELAY_SLACK_URL")


def sink(**kw: Any) -> SinkSettings:
    return SinkSettings(**{"name": "ops", "type": SinkType.SLACK, "url": URL, **kw})


# (filters, notification changes, event, sent?)
TABLE = [
    ({}, {}, NotifyEvent.FAILED, True),
    ({}, {}, NotifyEvent.TIMED_OUT, True),
    ({}, {}, NotifyEvent.ERROR, True),
    ({}, {}, NotifyEvent.ROLLBACK, True),
    ({}, {}, NotifyEvent.SUCCEEDED, False),  # not in the default `on`
    ({}, {}, NotifyEvent.HELD, False),
    ({"on": {"succeeded"}}, {}, NotifyEvent.SUCCEEDED, True),
    ({"on": {"succeeded"}}, {}, NotifyEvent.FAILED, False),
    ({"clusters": {10702}}, {}, NotifyEvent.FAILED, True),
    ({"clusters": {1, 2}}, {}, NotifyEvent.FAILED, False),
    ({"repos": ("acme/*",)}, {}, NotifyEvent.FAILED, True),
    ({"repos": ("acme/*",)}, {"repo": "acme/shop/sub"}, NotifyEvent.FAILED, False),  # one segment
    ({"repos": ("acme/**",)}, {"repo": "acme/shop/sub"}, NotifyEvent.FAILED, True),
    ({"repos": ("other/*", "acme/shop")}, {}, NotifyEvent.FAILED, True),  # any glob
    ({"repos": ("other/*",)}, {}, NotifyEvent.FAILED, False),
    ({"repos": ("acme/*",)}, {"repo": None}, NotifyEvent.FAILED, False),  # no repo: no match
    ({"repos": ("acme/*",), "clusters": {10702}}, {}, NotifyEvent.FAILED, True),  # all match
    ({"repos": ("acme/*",), "clusters": {1}}, {}, NotifyEvent.FAILED, False),  # one fails
    ({"repos": ("x/*",), "clusters": {10702}}, {}, NotifyEvent.FAILED, False),
    ({"on": {"held"}, "clusters": {10702}}, {}, NotifyEvent.HELD, True),
]


@pytest.mark.parametrize(("filters", "changes", "event", "sent"), TABLE)
def test_filters(filters: dict[str, Any], changes: dict[str, Any], event: NotifyEvent,
                 sent: bool) -> None:
    assert sink(**filters).wants(notification(event, **changes)) is sent


def test_select_keeps_configuration_order() -> None:
    sinks = [sink(name="a"), sink(name="b", clusters={1}), sink(name="c", type="webhook")]
    assert [s.name for s in select_sinks(sinks, notification())] == ["a", "c"]


def test_defaults() -> None:
    s = sink()
    assert s.on == DEFAULT_ON == {NotifyEvent.FAILED, NotifyEvent.TIMED_OUT, NotifyEvent.ERROR,
                                  NotifyEvent.ROLLBACK}
    assert s.clusters == frozenset() and s.repos == () and s.secret is None


def test_strings_are_accepted_and_checked() -> None:
    s = sink(type="teams", on=["failed", "held"], clusters=[1, 2], repos=["a/*"])
    assert s.type is SinkType.TEAMS and s.on == {NotifyEvent.FAILED, NotifyEvent.HELD}
    assert s.clusters == {1, 2} and s.repos == ("a/*",)
    assert sink(on="failed").on == {NotifyEvent.FAILED}


@pytest.mark.parametrize(("kw", "message"), [
    ({"name": ""}, "needs a name"),
    ({"type": "email"}, "notify sink 'ops': unknown type 'email' \\(one of slack, teams, webhook"),
    ({"on": ["failed", "exploded"]}, "unknown event 'exploded' in on"),
    ({"on": []}, "on is empty"),
    ({"repos": ["acme/[shop"]}, "repos pattern 'acme/\\[shop': unclosed"),
    ({"url": Secret("", "RELAY_X")}, "url \\(from RELAY_X\\) is empty"),
    ({"type": "webhook", "secret": Secret("whsec_!!!", "RELAY_S")},
     "secret \\(from RELAY_S\\) starts with whsec_"),
    ({"secret": Secret("k", "RELAY_S")}, "a secret signs only type webhook \\(this sink is slack"),
])
def test_bad_settings_name_the_sink_and_the_problem(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sink(**kw)


@pytest.mark.parametrize("value", [
    "ftp://hooks.example.com/SECRETTOKEN", "hooks.example.com/SECRETTOKEN",
    "https:///SECRETTOKEN", "http://[SECRETTOKEN/", "https://h:99999/SECRETTOKEN",
    "https://h:x/SECRETTOKEN",
])
def test_a_bad_url_is_refused_without_showing_it(value: str) -> None:
    problem = url_problem(Secret(value, "RELAY_SLACK_URL"))
    assert problem is not None and "RELAY_SLACK_URL" in problem
    assert "SECRETTOKEN" not in problem
    with pytest.raises(ValueError) as caught:
        sink(url=Secret(value, "RELAY_SLACK_URL"))
    assert "SECRETTOKEN" not in str(caught.value)


def test_the_repr_shows_no_url_and_no_secret() -> None:
    s = sink(type="webhook", secret=Secret("whsec_c2VjcmV0LXNpZ25pbmcta2V5", "RELAY_S"))
    text = repr(s) + str(s)
    assert "SECRETTOKEN" not in text and "whsec_" not in text
    assert "RELAY_SLACK_URL" in text
