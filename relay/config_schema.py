"""Reading a YAML document with key paths (pure): typed getters that collect every problem.

Each getter returns a usable value (the default when the key is absent, or when the value is
wrong after the problem is recorded), so one pass finds every problem in the file.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Collection, Iterator, Mapping
from typing import Any

import yaml  # type: ignore[import-untyped, unused-ignore]

from relay.secret import Secret

Problem = tuple[str, str]  # (key path, message)

_MERGE = "tag:yaml.org,2002:merge"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def describe(value: object) -> str:
    """Name the YAML type of `value` for a message, never the value itself."""
    if value is None:
        return "null"
    for kind, name in ((bool, "a boolean"), (int, "an integer"), (float, "a number"),
                       (str, "a string"), (list, "a list"), (dict, "a mapping")):
        if isinstance(value, kind):
            return name
    return f"a {type(value).__name__}"  # e.g. a date: YAML reads 2024-01-01 as one


def join(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def suggest(word: str, candidates: Collection[str]) -> str:
    """` (did you mean 'x'?)` when a candidate is close to `word`, else the allowed list."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (allowed: {', '.join(candidates)})"


class Problems:
    """Every problem found so far, in document order."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str) -> None:
        self.items.append((path, message))

    def __len__(self) -> int:
        return len(self.items)


class Node:
    """One mapping of the document at `path`; unknown and missing keys reported on opening."""

    def __init__(self, problems: Problems, path: str, data: Mapping[Any, object]) -> None:
        self.problems = problems
        self.path = path
        self.data = data

    @classmethod
    def open(cls, problems: Problems, path: str, value: object, *, allowed: Collection[str],
             required: Collection[str] = (), hints: Mapping[str, str] | None = None,
             noun: str = "key") -> Node:
        """Check `value` is a mapping with only `allowed` keys and every `required` one."""
        if not isinstance(value, dict):
            problems.add(path, f"must be a mapping, got {describe(value)}")
            return cls(problems, path, {})
        for key in value:
            if str(key) in allowed:
                continue
            hint = (hints or {}).get(str(key))
            message = hint or f"unknown {noun}{suggest(str(key), allowed)}"
            problems.add(join(path, key), message)
        for key in required:
            if key not in value:
                problems.add(join(path, key), "required key is missing")
        return cls(problems, path, value)

    def has(self, key: str) -> bool:
        return key in self.data

    def items(self) -> Iterator[tuple[str, object]]:
        return ((str(key), value) for key, value in self.data.items())

    def at(self, key: str) -> str:
        return join(self.path, key)

    def add(self, key: str, message: str) -> None:
        self.problems.add(self.at(key), message)

    def section(self, key: str, *, allowed: Collection[str], required: Collection[str] = (),
                hints: Mapping[str, str] | None = None, noun: str = "key") -> Node:
        """The mapping under `key`; absent or null reads as empty."""
        value = self.data.get(key)
        return Node.open(self.problems, self.at(key), {} if value is None else value,
                         allowed=allowed, required=required, hints=hints, noun=noun)

    def text(self, key: str, default: str) -> str:
        """A non-empty string."""
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, str) and value.strip():
            return value.strip()
        self.add(key, "must not be empty" if isinstance(value, str)
                 else f"must be a string, got {describe(value)}")
        return default

    def integer(self, key: str, default: int, *, minimum: int = 1,
                maximum: int | None = None) -> int:
        """An integer in [minimum, maximum]; a boolean or a quoted number is not one."""
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int):
            hint = " (write it without quotes)" if _numeric(value) else ""
            self.add(key, f"must be an integer, got {describe(value)}{hint}")
            return default
        if value < minimum or (maximum is not None and value > maximum):
            self.add(key, f"must be {_bounds(minimum, maximum)}, got {value}")
            return default
        return value

    def number(self, key: str, default: float) -> float:
        """A positive, finite number (integers accepted)."""
        if key not in self.data:
            return default
        value = self.data[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            hint = " (write it without quotes)" if _numeric(value) else ""
            self.add(key, f"must be a number, got {describe(value)}{hint}")
            return default
        if not math.isfinite(value) or value <= 0:
            self.add(key, f"must be a positive number, got {value}")
            return default
        return float(value)

    def choice(self, key: str, default: str, choices: Collection[str], *,
               noun: str = "value") -> str:
        """One of `choices` (compared in lower case)."""
        if key not in self.data:
            return default
        value = self.data[key]
        if not isinstance(value, str):
            self.add(key, f"must be a string, got {describe(value)}")
            return default
        if value.lower() not in choices:
            self.add(key, f"unknown {noun} '{value}' (allowed: {', '.join(choices)})")
            return default
        return value.lower()


def _bounds(minimum: int, maximum: int | None) -> str:
    if maximum is not None:
        return f"between {minimum} and {maximum}"
    return "a positive integer" if minimum == 1 else f"at least {minimum}"


def _numeric(value: object) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"\s*[-+]?\d+(\.\d*)?\s*", value))


class Env:
    """The environment relay reads secrets from; only names ever reach a message."""

    def __init__(self, problems: Problems, environ: Mapping[str, str]) -> None:
        self.problems = problems
        self.environ = environ

    def name(self, path: str, value: object) -> str | None:
        """Check `value` is the name of an environment variable (not, say, the secret)."""
        if not isinstance(value, str):
            self.problems.add(path, f"must be an environment variable name, got {describe(value)}")
            return None
        if not _ENV_NAME.match(value):
            self.problems.add(path, "is not an environment variable name (letters, digits, '_'): "
                              "the file names the variable, the value lives in the environment")
            return None
        return value

    def names(self, path: str, value: object) -> list[tuple[str, str]]:
        """One name or a list of names; return (key path, name) for each valid one."""
        if not isinstance(value, list):
            name = self.name(path, value)
            return [(path, name)] if name else []
        if not value:
            self.problems.add(path, "must name at least one environment variable")
        found = [(f"{path}[{i}]", self.name(f"{path}[{i}]", item)) for i, item in enumerate(value)]
        return [(item_path, name) for item_path, name in found if name]

    def secret(self, path: str, name: str, *, optional: bool = False) -> Secret | None:
        """The value of `name` as a Secret; unset (unless optional) or blank is a problem."""
        value = self.environ.get(name)
        if value is None:
            if not optional:
                self.problems.add(path, f"environment variable {name} is not set")
            return None
        if not value.strip():
            self.problems.add(path, f"environment variable {name} is set but empty")
            return None
        return Secret(value, source=name)


class _StrictLoader(yaml.SafeLoader):  # type: ignore[misc, unused-ignore]
    """safe_load that refuses a key given twice (YAML would silently keep the last one)."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                continue  # `<<: *base` may be overridden; unhashable keys: PyYAML says so
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping", node.start_mark,
                    f"found duplicate key '{key}'", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(text: str) -> tuple[object, Problem | None]:
    """Parse `text`; on a syntax error return a problem naming line and column (1-based)."""
    try:
        return yaml.load(text, Loader=_StrictLoader), None  # noqa: S506 - a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        return None, ("", f"YAML syntax error at {where}{exc.problem or 'invalid YAML'}")
    except yaml.YAMLError as exc:
        return None, ("", f"YAML error: {exc}")
