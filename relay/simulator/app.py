"""Build the simulator's aiohttp application: state, faults, operations, routes, cleanup."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from relay.simulator.demo import demo_state
from relay.simulator.faults import Faults
from relay.simulator.handlers import routes
from relay.simulator.keys import SIM_FAULTS, SIM_OPS, SIM_SETTINGS, SIM_STATE, SimSettings
from relay.simulator.middleware import auth_middleware, error_middleware, fault_middleware
from relay.simulator.operations import Operations
from relay.simulator.persist import load_state, save_state


def create_simulator_app(
    *,
    token: str,
    step_s: float = 0.2,
    faults: Faults | None = None,
    state_path: Path | None = None,
    seed_demo: bool = True,
    max_replicas: int = 20,
    watch_timeout_s: float = 30.0,
    public_url: str | None = None,
) -> web.Application:
    """The cluster API simulator, ready to run alone or to mount with `add_subapp`.

    `state_path`: loaded now if the file exists (ValueError if it cannot be), saved after
    every change and at cleanup. `public_url` replaces the request's origin in web hook URLs.
    """
    if not token:
        raise ValueError("the simulator needs a non-empty token")
    state = load_state(state_path) if state_path and state_path.exists() else demo_state(
        seed_demo=seed_demo
    )
    faults = faults if faults is not None else Faults()
    app = web.Application(middlewares=[
        error_middleware(state), fault_middleware(faults), auth_middleware(token),
    ])
    app[SIM_STATE] = state
    app[SIM_FAULTS] = faults
    app[SIM_OPS] = Operations(state, faults, step_s=step_s)
    app[SIM_SETTINGS] = SimSettings(step_s=step_s, max_replicas=max_replicas,
                                    watch_timeout_s=watch_timeout_s, public_url=public_url)
    app.add_routes(routes)
    app.cleanup_ctx.append(_operations_ctx)
    if state_path is not None:
        app.cleanup_ctx.append(_persistence_ctx(state_path))
    app.on_shutdown.append(_release_watches)
    return app


async def _operations_ctx(app: web.Application) -> AsyncIterator[None]:
    """Resume interrupted operations at startup; cancel and await them all at cleanup."""
    app[SIM_OPS].resume()
    yield
    await app[SIM_OPS].close()


def _persistence_ctx(path: Path) -> Callable[[web.Application], AsyncIterator[None]]:
    """Save the state after every change while running, and once more at cleanup."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        state = app[SIM_STATE]

        def save() -> None:
            save_state(state, path)

        state.listeners.append(save)
        save()
        yield
        state.listeners.remove(save)
        save()

    return ctx


async def _release_watches(app: web.Application) -> None:
    app[SIM_STATE].shut_down()
