"""A string wrapper that never shows its value in a repr, str, log line or error message."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Secret:
    """A secret value read from the environment; `reveal()` is the only way to see it."""

    _value: str = field(repr=False)
    source: str = ""  # the environment variable it came from, safe to show

    def reveal(self) -> str:
        return self._value

    def encoded(self) -> bytes:
        return self._value.encode("utf-8")

    def matches(self, candidate: str | bytes) -> bool:
        """Compare in constant time."""
        if isinstance(candidate, str):
            candidate = candidate.encode("utf-8")
        return hmac.compare_digest(self.encoded(), candidate)

    def __repr__(self) -> str:
        return f"Secret(source={self.source!r})"

    def __str__(self) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)
