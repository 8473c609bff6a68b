"""What the configuration loader reports: problems (relay refuses to start) and warnings.

A leaf module: the YAML reader, the schema and the rules all report through these values.
Messages name keys and environment variables, never a secret's value.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One finding: `path` is the key path, e.g. "routes[2].branch" ("" for the whole file)."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(Exception):
    """Every problem found in one configuration, not just the first."""

    def __init__(self, problems: list[ConfigProblem] | tuple[ConfigProblem, ...]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


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
    """`path` extended by a key (`a.b`) or, for an integer, a list index (`a[2]`)."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def suggest(word: str, candidates: Collection[str]) -> str:
    """` (did you mean 'x'?)` when a candidate is close to `word`, else the allowed list."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    if close:
        return f" (did you mean '{close[0]}'?)"
    return f" (allowed: {', '.join(candidates)})"
