"""Glob patterns for repositories and refs (pure): `*` stays in one path segment, `**` crosses.

`*` any run of characters but `/`; `**` any run including `/` (`**/` at a segment start also
matches nothing, so `a/**/b` matches `a/b`); `?` one character but `/`; `[abc]`, `[a-z]`,
`[!abc]` / `[^abc]` a character class (a negated class never matches `/`); a backslash makes
the next character literal. A pattern matches the whole string, never a part of it.

Matching never backtracks: a pattern compiles once to a small automaton (one state per
literal, class, `?` or run of stars) and a match walks the text once, carrying the set of
states it can be in (Thompson's construction). The work is at most
`len(text) x states`, so `*-*-*-*-*` against a long ref costs microseconds, not the seconds
a backtracking regex takes. Only a single character class is handed to `re` (it cannot
backtrack), so classes keep exactly the regex semantics they always had.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from functools import lru_cache

_CLASS_SPECIALS = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "&": "\\&",
                                 "~": "\\~", "|": "\\|"})
_SPECIALS = frozenset("*?[\\")
SEEN_MAX = 1024  # answers a Glob keeps (then it starts over): a bound on its memory
SEEN_TEXT_MAX = 256  # longer texts are matched afresh each time (a memo of at most ~256 KiB)


class GlobError(ValueError):
    """A malformed pattern; the message says what is wrong, not the whole pattern."""


class _Op(enum.Enum):
    LITERAL = "literal"  # one given character
    CLASS = "class"  # one character of a [...] class
    ONE = "one"  # ?: one character but /
    STAR = "star"  # *: any run without /, then on
    GLOBSTAR = "globstar"  # **: any run, then on
    SKIP_DIRS = "skip_dirs"  # **/ at a segment start: on, or past the GLOBSTAR and / after it


@dataclass(frozen=True, slots=True)
class _State:
    op: _Op
    char: str = ""  # LITERAL
    regex: re.Pattern[str] | None = None  # CLASS; LITERAL when ignoring case


class Glob:
    """A compiled glob; `matches(text)` is True when the whole of `text` matches.

    Compile with `compile_glob` (cached). `match` mirrors `re.Pattern.match` (the text on a
    match, else None) so that code written against compiled regexes keeps working.
    """

    __slots__ = ("_closure", "_literal", "_seen", "_states", "ignore_case", "pattern")

    def __init__(self, pattern: str, *, ignore_case: bool = False) -> None:
        if not pattern:
            raise GlobError("empty pattern")
        self.pattern = pattern
        self.ignore_case = ignore_case
        self._literal: str | None = None
        self._seen: dict[str, bool] = {}  # recent answers: the same repos and refs recur
        self._states: tuple[_State, ...] = ()
        self._closure: tuple[int, ...] = ()
        if _SPECIALS.isdisjoint(pattern) and not ignore_case:
            self._literal = pattern
            return
        self._states = tuple(_parse(pattern, ignore_case))
        self._closure = _closures(self._states)

    def __repr__(self) -> str:
        return f"Glob({self.pattern!r}{', ignore_case=True' if self.ignore_case else ''})"

    def matches(self, text: str) -> bool:
        """Whether the whole of `text` matches; linear in len(text) (see the module doc).

        Answers for texts up to SEEN_TEXT_MAX characters are remembered, SEEN_MAX at most
        (then the memo starts over): every delivery asks each route about its repository and
        ref, and those recur. A literal pattern is a string comparison: nothing to keep."""
        if self._literal is not None:
            return text == self._literal
        if len(text) > SEEN_TEXT_MAX:
            return self._run(text)[0]
        seen = self._seen.get(text)
        if seen is None:
            if len(self._seen) >= SEEN_MAX:
                self._seen.clear()
            seen = self._seen[text] = self._run(text)[0]
        return seen

    def match(self, text: str) -> str | None:
        """`text` when it matches whole, else None (the shape of `re.Pattern.match`)."""
        return text if self.matches(text) else None

    def steps(self, text: str) -> int:
        """How many (state, character) checks a match of `text` takes: the cost, for tests."""
        return self._run(text)[1]

    def _run(self, text: str) -> tuple[bool, int]:
        if self._literal is not None:
            return text == self._literal, len(text)
        states, closure = self._states, self._closure
        final = 1 << len(states)
        current = closure[0]
        steps = 0
        for char in text:
            following = 0
            pending = current & (final - 1)
            while pending:
                low = pending & -pending
                pending ^= low
                index = low.bit_length() - 1
                steps += 1
                state = states[index]
                if _consumes(state, char):
                    looping = state.op in (_Op.STAR, _Op.GLOBSTAR)
                    following |= closure[index if looping else index + 1]
            if not following:
                return False, steps
            current = following
        return bool(current & final), steps


def _consumes(state: _State, char: str) -> bool:
    op = state.op
    if op is _Op.LITERAL:
        return char == state.char or (
            state.regex is not None and state.regex.fullmatch(char) is not None)
    if op is _Op.STAR or op is _Op.ONE:
        return char != "/"
    if op is _Op.GLOBSTAR:
        return True
    if op is _Op.CLASS:
        assert state.regex is not None
        return state.regex.fullmatch(char) is not None
    return False  # SKIP_DIRS consumes nothing: it only leads on


def _closures(states: tuple[_State, ...]) -> tuple[int, ...]:
    """For each state (and the final one), the bit set of states reachable without a char."""
    count = len(states)
    closures = [0] * (count + 1)
    for index in range(count, -1, -1):  # every empty move goes forward: one backward pass
        reach = 1 << index
        if index < count:
            op = states[index].op
            if op in (_Op.STAR, _Op.GLOBSTAR):
                reach |= closures[index + 1]
            elif op is _Op.SKIP_DIRS:
                reach |= closures[index + 1] | closures[index + 3]
        closures[index] = reach
    return tuple(closures)


@lru_cache(maxsize=1024)
def compile_glob(pattern: str, *, ignore_case: bool = False) -> Glob:
    """Compile `pattern` (cached); raise GlobError naming what is malformed."""
    return Glob(pattern, ignore_case=ignore_case)


def _parse(pattern: str, ignore_case: bool) -> list[_State]:
    """The automaton's states for `pattern`; a ladder over the special characters."""
    states: list[_State] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            i = _stars(pattern, i, states)
        elif char == "?":
            states.append(_State(_Op.ONE))
            i += 1
        elif char == "[":
            regex, i = _char_class(pattern, i, ignore_case)
            states.append(_State(_Op.CLASS, regex=regex))
        elif char == "\\":
            if i + 1 == n:
                raise GlobError("ends with a lone '\\'")
            states.append(_literal(pattern[i + 1], ignore_case))
            i += 2
        else:
            states.append(_literal(char, ignore_case))
            i += 1
    return states


def _literal(char: str, ignore_case: bool) -> _State:
    cased = ignore_case and (char.lower() != char.upper() or char.casefold() != char)
    regex = re.compile(re.escape(char), re.IGNORECASE) if cased else None
    return _State(_Op.LITERAL, char=char, regex=regex)


def _stars(pattern: str, start: int, states: list[_State]) -> int:
    """Add the states of the run of `*` at `start`; return the index after it."""
    end = start
    while end < len(pattern) and pattern[end] == "*":
        end += 1
    if end - start == 1:
        states.append(_State(_Op.STAR))
        return end
    at_segment_start = start == 0 or pattern[start - 1] == "/"
    if at_segment_start and pattern.startswith("/", end):  # (?:.*/)?
        states += [_State(_Op.SKIP_DIRS), _State(_Op.GLOBSTAR), _State(_Op.LITERAL, char="/")]
        return end + 1
    states.append(_State(_Op.GLOBSTAR))
    return end


def _char_class(pattern: str, start: int, ignore_case: bool) -> tuple[re.Pattern[str], int]:
    """Compile the `[...]` class at `start` to a one-character regex; return it and the end."""
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
    regex = f"[^/{body}]" if negate else f"[{body}]"
    try:
        return re.compile(regex, re.IGNORECASE if ignore_case else 0), close + 1
    except re.error as exc:  # e.g. a reversed range [z-a]
        raise GlobError(exc.msg) from exc
