"""Pure: read the few fields relay needs from a host's JSON, or say what was wrong."""

from __future__ import annotations

from typing import Any

from relay.githost.errors import BadResponse


class Shape:
    """Field readers bound to (host, operation) so that a BadResponse names them."""

    def __init__(self, host: str, operation: str) -> None:
        self.host = host
        self.operation = operation

    def bad(self, what: str) -> BadResponse:
        return BadResponse(self.host, self.operation, what)

    def obj(self, value: Any, where: str = "answer") -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.bad(f"{where} is not a JSON object")
        return value

    def array(self, value: Any, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.bad(f"{where} is not a JSON array")
        return value

    def text(self, data: dict[str, Any], key: str, where: str = "answer") -> str:
        value = data.get(key)
        if not isinstance(value, str):
            raise self.bad(f"{where}.{key} is missing or not a string")
        return value

    def ident(self, data: dict[str, Any], key: str = "id") -> str:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | str) or value == "":
            raise self.bad(f"answer.{key} is missing or not an id")
        return str(value)
