"""The cluster API simulator in its own process, with a few bench-only routes beside it.

The simulator is mounted under /sim (as relay's embedded mode mounts it under /simulator).
Beside it, /bench/* lets the benchmark set the step length at run time (short while it
creates clusters, long while rollouts should stay in flight: through the simulator's `sleep`
seam) and read what the simulator saw: PUTs per cluster, and the wall-clock time at which each
rollout finished. Run: `python -m bench.sim_server --port 8092` (token from RELAY_API_TOKEN).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from aiohttp import web

from relay.simulator import SIM_OPS, SIM_STATE, SimState, create_simulator_app
from relay.simulator.model import CREATE_SUCC

STEP = web.AppKey("step", list)
SETTLED = web.AppKey("settled", dict)
STATE = web.AppKey("sim_state", SimState)


def create_bench_sim(token: str, *, step_s: float, watch_timeout_s: float) -> web.Application:
    sim = create_simulator_app(token=token, step_s=step_s, seed_demo=False,
                               watch_timeout_s=watch_timeout_s, max_replicas=20)
    step = [step_s]

    async def sleep(_ignored: float) -> None:
        await asyncio.sleep(step[0])

    sim[SIM_OPS].sleep = sleep
    state = sim[SIM_STATE]
    settled: dict[int, float] = {}
    original = state.settle

    def settle(cluster_id: int, status: str) -> None:  # record when each rollout ended
        original(cluster_id, status)
        if status == CREATE_SUCC:
            settled[cluster_id] = time.time()

    state.settle = settle  # type: ignore[method-assign]
    app = web.Application()
    app[STEP], app[SETTLED], app[STATE] = step, settled, state
    app.router.add_get("/bench/readyz", _ready)
    app.router.add_put("/bench/step", _set_step)
    app.router.add_get("/bench/settled", _settled)
    app.router.add_get("/bench/clusters/{id}", _cluster)
    app.router.add_get("/bench/summary", _summary)
    app.add_subapp("/sim", sim)
    return app


async def _ready(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def _set_step(request: web.Request) -> web.Response:
    request.app[STEP][0] = float(request.query["s"])
    return web.json_response({"step_s": request.app[STEP][0]})


async def _settled(request: web.Request) -> web.Response:
    """{cluster id: wall time its last operation ended in create_succ}."""
    return web.json_response({str(k): v for k, v in request.app[SETTLED].items()})


async def _cluster(request: web.Request) -> web.Response:
    state = request.app[STATE]
    cid = int(request.match_info["id"])
    cluster = state.clusters[cid]
    body: dict[str, Any] = {"status": cluster.status, "version": cluster.version,
                            "puts": len(state.put_bodies.get(cid, [])),
                            "rollouts": len([d for d in state.deploys
                                             if d.cluster_id == cid and d.trigger == "update"])}
    return web.json_response(body)


async def _summary(request: web.Request) -> web.Response:
    state = request.app[STATE]
    statuses: dict[str, int] = {}
    for c in state.clusters.values():
        statuses[c.status] = statuses.get(c.status, 0) + 1
    return web.json_response({"clusters": len(state.clusters), "statuses": statuses,
                              "watching": sum(state.watching.values()),
                              "requests": dict(state.requests)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--step-s", type=float, default=0.05)
    parser.add_argument("--watch-timeout-s", type=float, default=30.0)
    args = parser.parse_args()
    app = create_bench_sim(os.environ["RELAY_API_TOKEN"], step_s=args.step_s,
                           watch_timeout_s=args.watch_timeout_s)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None,
                backlog=4096)


if __name__ == "__main__":
    main()
