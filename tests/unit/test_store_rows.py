"""relay.store.rows.headers_json: the `headers` column's text, read back by json.loads."""

from __future__ import annotations

import json

import pytest

from relay.store.rows import headers_json

HEADERS = [
    (("X-GitHub-Event", "push"), ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")),
    (("X-Gitlab-Event", "Push Hook"), ("Idempotency-Key", "caf\u00e9 \N{SNOWMAN}")),
    (("X-Odd", "\udcff"),),  # a lone surrogate (a header that was not UTF-8): orjson refuses
    (),
]


@pytest.mark.parametrize("headers", HEADERS)
def test_headers_read_back_as_written(headers: tuple[tuple[str, str], ...]) -> None:
    assert tuple(tuple(pair) for pair in json.loads(headers_json(headers))) == headers
