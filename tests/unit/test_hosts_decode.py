"""relay.hosts.base.decode: orjson first, the standard library for whatever orjson refuses,
so values and error messages are those of json.loads."""

from __future__ import annotations

import json
import math

import pytest

from relay.hosts.base import Malformed, decode

SAME = [
    b'{"ref": "refs/heads/main", "n": 1, "f": 1.5, "b": true, "z": null, "l": [1, "x"]}',
    b'{"a": 1, "a": 2}',
    b'\xef\xbb\xbf{"bom": 1}',  # orjson refuses a BOM; json.loads reads it
    b'{"s": "\\ud800"}',  # a lone surrogate: orjson refuses, json.loads keeps it
    b'{"big": ' + b"9" * 400 + b"}",  # past a double: orjson refuses
    '{"u": "é"}'.encode("utf-16"),  # UTF-16: only json.loads detects it
]


@pytest.mark.parametrize("body", SAME)
def test_values_are_those_of_json_loads(body: bytes) -> None:
    assert decode(body, False) == json.loads(body)


def test_nan_is_read_as_json_loads_reads_it() -> None:
    assert math.isnan(decode(b'{"x": NaN}', False)["x"])


@pytest.mark.parametrize("body", [b'{"a": }', b"[1, 2]", b"\xff{}", b'{"x": 1',
                                  b'{"big": ' + b"9" * 5000 + b"}"])
def test_refusals_carry_the_standard_librarys_message(body: bytes) -> None:
    with pytest.raises(Malformed) as ours:
        decode(body, False)
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, ValueError) as exc:
        assert str(exc.args[0]).split(":")[0] in ours.value.message
    else:
        assert not isinstance(value, dict)
        assert "expected an object" in ours.value.message
