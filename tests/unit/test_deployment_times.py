"""Times as the store keeps them: `iso` text and `to_millis` values (relay.deployment)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from relay.deployment import iso, parse_iso, to_millis

_ZONES = st.none() | st.integers(-14 * 60, 14 * 60).map(
    lambda m: timezone(timedelta(minutes=m)))
_TIMES = st.builds(lambda d, tz: d.replace(tzinfo=tz),
                   st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9999, 12, 30)),
                   _ZONES)


def _as_before(value: datetime) -> str:
    """The formula iso() had before issue 17 (strftime): the text must not change."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@given(_TIMES)
def test_iso_writes_the_same_text_as_before(value: datetime) -> None:
    assert iso(value) == _as_before(value)


@given(_TIMES)
def test_to_millis_is_the_time_read_back(value: datetime) -> None:
    back = parse_iso(iso(value))
    assert to_millis(value) == back
    assert to_millis(value).isoformat() == back.isoformat()  # type: ignore[union-attr]


def test_none_stays_none() -> None:
    assert iso(None) is None and to_millis(None) is None
