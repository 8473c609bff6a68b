"""Glob patterns for repositories and refs (pure): `*` stays in one path segment, `**` crosses.

`*` any run of characters but `/`; `**` any run including `/` (`**/` at a segment start also
matches nothing, so `a/**/b` matches `a/b`); `?` one character but `/`; `[abc]`, `[a-z]`,
`[!abc]` / `[^abc]` a character class; a backslash makes the next character literal.
Patterns compile once to a regex anchored at both ends.
"""

from __future__ import annotations

import re
from functools import lru_cache

_CLASS_SPECIALS = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "&": "\\&",
                                 "~": "\\~", "|": "\\|"})


class GlobError(ValueError):
    """A malformed pattern; the message says what is wrong, not the whole pattern."""


@lru_cache(maxsize=1024)
def compile_glob(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """Translate `pattern` to a compiled regex matching whole strings only."""
    if not pattern:
        raise GlobError("empty pattern")
    regex = _translate(pattern)
    try:
        return re.compile(rf"(?s:{regex})\Z", re.IGNORECASE if ignore_case else 0)
    except re.error as exc:  # e.g. a reversed range [z-a]
        raise GlobError(exc.msg) from exc


def _translate(pattern: str) -> str:
    """The regex body of `pattern`; a ladder over the special characters."""
    parts: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            part, i = _stars(pattern, i)
        elif char == "?":
            part, i = "[^/]", i + 1
        elif char == "[":
            part, i = _char_class(pattern, i)
        elif char == "\\":
            if i + 1 == n:
                raise GlobError("ends with a lone '\\'")
            part, i = re.escape(pattern[i + 1]), i + 2
        else:
            part, i = re.escape(char), i + 1
        parts.append(part)
    return "".join(parts)


def _stars(pattern: str, start: int) -> tuple[str, int]:
    """Translate the run of `*` at `start`; return the regex and the index after it."""
    end = start
    while end < len(pattern) and pattern[end] == "*":
        end += 1
    if end - start == 1:
        return "[^/]*", end
    at_segment_start = start == 0 or pattern[start - 1] == "/"
    if at_segment_start and pattern.startswith("/", end):
        return "(?:.*/)?", end + 1
    return ".*", end


def _char_class(pattern: str, start: int) -> tuple[str, int]:
    """Translate the `[...]` class at `start`; return the regex and the index after it."""
    i = start + 1
    negate = i < len(pattern) and pattern[i] in "!^"
    if negate:
        i += 1
    body_start = i
    if i < len(pattern) and pattern[i] == "]":  # a leading ] is a literal member
        i += 1
    close = pattern.find("]", i)
    if close < 0:
        raise GlobError(f"unclosed '[' at position {start + 1}")
    body = pattern[body_start:close]
    if "--" in body:
        raise GlobError("'--' in a character class is ambiguous")
    body = body.translate(_CLASS_SPECIALS)
    return (f"[^/{body}]" if negate else f"[{body}]"), close + 1
