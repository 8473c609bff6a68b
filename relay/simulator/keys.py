"""The simulator app's typed keys and its settings value."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from relay.simulator.faults import Faults
from relay.simulator.operations import Operations
from relay.simulator.state import SimState


@dataclass(frozen=True, slots=True)
class SimSettings:
    step_s: float = 0.2
    max_replicas: int = 20
    watch_timeout_s: float = 30.0
    public_url: str | None = None  # replaces the request's origin in web hook URLs


SIM_STATE = web.AppKey("sim_state", SimState)
SIM_FAULTS = web.AppKey("sim_faults", Faults)
SIM_OPS = web.AppKey("sim_ops", Operations)
SIM_SETTINGS = web.AppKey("sim_settings", SimSettings)
