"""Statuses and kinds the gates use: the real ones live in relay.deployment (re-exported)."""

from __future__ import annotations

from relay.deployment import DeploymentKind, WaitingStatus

__all__ = ["DeploymentKind", "WaitingStatus"]
