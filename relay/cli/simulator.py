"""`relay` commands: simulator (placeholder until implemented)."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add this module's commands to the `relay` parser."""
