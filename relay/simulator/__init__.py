"""The cluster API simulator: a real aiohttp app implementing docs/cluster-api.md.

Used by tests, by `relay simulator`, and mounted in-process by `relay serve` when
`cluster_api.base_url: embedded` (it works under any `add_subapp` prefix). Build it with
`create_simulator_app(token=...)`; `app[SIM_STATE]` is the live `SimState` and
`app[SIM_FAULTS]` the live `Faults`.

Routes (all under /api/v1; route name = operation name, also used by faults and counters):
    images       GET    /apps/images
    apps.create  POST   /apps
    apps.update  PUT    /apps/{id}
    apps.list    GET    /apps?limit=&offset=
    apps.get     GET    /apps/{id}
    apps.delete  DELETE /apps/{id}
    apps.resize  PUT    /apps/{id}/replications/{replicas}/actions/resize
    watch        GET    /watch/apps/{id}[?timeout=SECONDS]  (extension, capped)
    hook         POST   /hooks/app/{key}  (no token: the key is the credential)

Statuses: creating -> create_succ (one step after create); updating while a rolling
replacement runs (one container replaced per step) -> create_succ, or update_fail when a
`fail-version` fault matches (fewer than half the containers replaced); resizing -> create_succ
(one step). A new operation on a cluster supersedes the one in progress. Watches wake on every
change of a cluster (containers or status) and on its deletion (then 404).

Error answers are JSON `{"code": CODE, "msg": "field: what is wrong"}`:
    400 4001  body is not JSON, or not a JSON object
    400 4002  a required field is missing
    400 4003  a field has the wrong type
    400 4004  a value is not allowed (image_type, spec_id, unknown image, image constraint,
              replicas < 0, version_control.type, empty name)
    400 4005  unknown field, or a field update does not accept
    400 4006  a cluster with this name already exists
    400 4007  replicas above the capacity (max_replicas)
    400 4008  bad query or path parameter (limit, offset, timeout, replicas)
    401 4010  Authorization header missing or not `Token <token>`
    401 4011  wrong token
    404 4040  no cluster with this id (non-numeric ids included)
    404 4041  no cluster has this web hook key
    404 4044  no such endpoint
    4xx/5xx STATUS*10  other HTTP errors (405 -> 4050), and injected `error` faults

Fault specs (`Faults.add(spec)`, or `relay simulator --fault SPEC`; the text of
`faults.GRAMMAR`):

fault specs (--fault SPEC, repeatable; OP is one of
  images apps.create apps.update apps.list apps.get apps.delete apps.resize watch hook, or *):
  latency:OP:SECONDS[:OPTS]     delay the answer by SECONDS
  error:OP:STATUS[:OPTS]        answer STATUS (400-599) with a JSON {"code", "msg"} body
  reset:OP[:OPTS]               close the connection without answering
  html:OP[:STATUS][:OPTS]       answer a text/html error page (STATUS 400-599, default 502)
  truncated:OP[:OPTS]           handle the request, then send only half of its JSON body
  watch-immediate[:OPTS]        a watch answers at once, without any change
  fail-version:VERSION[:OPTS]   a rolling replacement to VERSION (* = any) ends in update_fail,
                                leaving old containers behind
  OPTS, each as :key=value
    count=N        fire for the first N matching requests only (default: every one)
    rate=P         fire with probability P, 0 < P <= 1 (seedable; with count: at most N times)
    retry-after=S  error only: add a Retry-After: S header (for 429 and 503)
examples: error:apps.get:503:count=2  error:*:429:retry-after=1  reset:watch:rate=0.2
          latency:apps.update:1.5  fail-version:4f2a9c1
"""

from relay.simulator.app import create_simulator_app
from relay.simulator.faults import GRAMMAR, Fault, FaultKind, Faults, parse_fault
from relay.simulator.keys import SIM_FAULTS, SIM_OPS, SIM_SETTINGS, SIM_STATE, SimSettings
from relay.simulator.model import Cluster, Container, Deploy, HookPost
from relay.simulator.state import SimState

__all__ = [
    "GRAMMAR", "SIM_FAULTS", "SIM_OPS", "SIM_SETTINGS", "SIM_STATE", "Cluster", "Container",
    "Deploy", "Fault", "FaultKind", "Faults", "HookPost", "SimSettings", "SimState",
    "create_simulator_app", "parse_fault",
]
