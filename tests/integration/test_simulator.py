"""The cluster API simulator over HTTP: every endpoint, validation rule, rollout and watch."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from relay.simulator import SIM_OPS, SIM_STATE, Cluster, SimState, create_simulator_app

TOKEN = "sim-test-token"
AUTH = {"Authorization": f"Token {TOKEN}"}
HEX64 = re.compile(r"[0-9a-f]{64}")
ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SHA_A = "a" * 40
SHA_B = "b" * 40
GOOD_SPEC: dict[str, Any] = {
    "name": "api", "image_type": 1, "image_id": 3, "spec_id": 1, "replicas": 2,
    "env_var": {"K": "v"}, "log_dirs": ["/var/log/a", "/var/log/b"],
    "version_control": {"type": "git", "path": "https://x/y.git", "branch": "main",
                        "version": SHA_A, "account": "me", "password": "s3cret"},
}


@contextlib.asynccontextmanager
async def running(**options: Any) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    """Run a simulator on loopback; on exit, check that no task outlives it."""
    options = {"token": TOKEN, "step_s": 0.01, **options}
    app = create_simulator_app(**options)
    async with TestClient(TestServer(app)) as client:
        yield client
    assert app[SIM_OPS].running == 0
    leaked = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert leaked == []


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with running() as c:
        yield c


def state_of(client: TestClient[web.Request, web.Application]) -> SimState:
    return client.app[SIM_STATE]


async def until(state: SimState, cluster_id: int, done: Callable[[Cluster | None], bool]) -> None:
    """Wait (event-driven, bounded) until `done(cluster)` holds."""

    async def wait() -> None:
        while not done(state.cluster(cluster_id)):
            await state.change_event(cluster_id).wait()

    await asyncio.wait_for(wait(), 2)


async def parked(state: SimState, cluster_id: int) -> None:
    """Wait (bounded) until a watch request is held open on the cluster."""

    if not state.watching[cluster_id]:
        await asyncio.wait_for(state.watch_parked(cluster_id).wait(), 2)


class Steps:
    """Replaces the simulator's step sleep: each `release()` lets exactly one step happen."""

    def __init__(self, app: web.Application) -> None:
        self._gate = asyncio.Semaphore(0)
        app[SIM_OPS].sleep = self._sleep

    async def _sleep(self, _seconds: float) -> None:
        await self._gate.acquire()

    def release(self) -> None:
        self._gate.release()


def has_status(status: str) -> Callable[[Cluster | None], bool]:
    return lambda c: c is not None and c.status == status


async def call(client: TestClient[Any, Any], method: str, path: str, *, status: int = 200,
               **kwargs: Any) -> Any:
    response = await client.request(method, path, headers=kwargs.pop("headers", AUTH), **kwargs)
    body = await response.json()
    assert response.status == status, body
    return body


# -- images, auth, unknown endpoints ----------------------------------------------------------


async def test_images_lists_custom_and_public_with_constraints(client: TestClient[Any, Any]
                                                               ) -> None:
    body = await call(client, "GET", "/api/v1/apps/images")
    assert body["custom_images"][0] == {"tag": "v1", "desc": "v1", "weight": 0, "id": 30202,
                                        "name": "4638_tomcat2", "constraint": None}
    constraints = {i["id"]: i["constraint"] for i in body["public_images"]}
    assert constraints[10005] == {"min_combo": 20, "max_combo": 50, "min_machine_spec": 10,
                                  "max_machine_spec": 40}
    assert constraints[3] is None


@pytest.mark.parametrize(("headers", "code"), [
    ({}, 4010), ({"Authorization": "Bearer " + TOKEN}, 4010), ({"Authorization": "Token "}, 4010),
    ({"Authorization": "Token wrong"}, 4011), ({"Authorization": f"Token {TOKEN}x"}, 4011),
])
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/apps/images"), ("POST", "/api/v1/apps"), ("PUT", "/api/v1/apps/10702"),
    ("GET", "/api/v1/apps"), ("GET", "/api/v1/apps/10702"), ("DELETE", "/api/v1/apps/10702"),
    ("PUT", "/api/v1/apps/10702/replications/3/actions/resize"),
    ("GET", "/api/v1/watch/apps/10702"),
])
async def test_every_endpoint_needs_the_token(client: TestClient[Any, Any], method: str,
                                              path: str, headers: dict[str, str], code: int
                                              ) -> None:
    body = await call(client, method, path, headers=headers, status=401)
    assert body["code"] == code and "Authorization" in body["msg"]
    assert 10702 in state_of(client).clusters


async def test_unknown_endpoint_and_method_answer_json(client: TestClient[Any, Any]) -> None:
    assert (await call(client, "GET", "/api/v1/nope", status=404))["code"] == 4044
    assert (await call(client, "PATCH", "/api/v1/apps", status=405))["code"] == 4050


# -- create -------------------------------------------------------------------------------------


async def test_create_starts_creating_then_succeeds_with_replicas(client: TestClient[Any, Any]
                                                                  ) -> None:
    state = state_of(client)
    body = await call(client, "POST", "/api/v1/apps", json=GOOD_SPEC)
    cluster_id = body["id"]
    assert cluster_id == 10801  # counts up after the demo clusters (10702, 10703, 10800)
    assert body["url"] == f"http://{client.host}:{client.port}/api/v1/hooks/app/" + \
        state.clusters[cluster_id].hook_key
    got = await call(client, "GET", f"/api/v1/apps/{cluster_id}")
    assert (got["status"], got["containers"]) == ("creating", [])
    await until(state, cluster_id, has_status("create_succ"))
    got = await call(client, "GET", f"/api/v1/apps/{cluster_id}")
    assert len(got["containers"]) == 2
    for container in got["containers"]:
        assert HEX64.fullmatch(container["container_id"])
        assert re.fullmatch(r"10\.\d+\.\d+\.\d+", container["private_ip"])
    assert state.versions(cluster_id) == [SHA_A]
    assert (await call(client, "POST", "/api/v1/apps", json={**GOOD_SPEC, "name": "n2"}))[
        "id"] == 10802


@pytest.mark.parametrize(("change", "code", "field"), [
    ({"name": None}, 4002, "name"), ({"image_type": None}, 4002, "image_type"),
    ({"image_id": None}, 4002, "image_id"), ({"spec_id": None}, 4002, "spec_id"),
    ({"name": 5}, 4003, "name"), ({"name": " "}, 4004, "name"),
    ({"image_type": 3}, 4004, "image_type"), ({"image_type": "1"}, 4003, "image_type"),
    ({"image_type": True}, 4003, "image_type"),
    ({"image_id": 30202}, 4004, "image_id"),  # a custom image asked as public
    ({"image_type": 2, "image_id": 3}, 4004, "image_id"),  # a public image asked as custom
    ({"image_id": 999}, 4004, "image_id"),
    ({"image_id": 10005, "spec_id": 1}, 4004, "spec_id"),  # image constraint: spec 10..40
    ({"spec_id": 7}, 4004, "spec_id"), ({"spec_id": 1.5}, 4003, "spec_id"),
    ({"replicas": -1}, 4004, "replicas"), ({"replicas": 21}, 4007, "replicas"),
    ({"replicas": "2"}, 4003, "replicas"), ({"desc": 1}, 4003, "desc"),
    ({"domain": []}, 4003, "domain"), ({"env_var": []}, 4003, "env_var"),
    ({"env_var": {"A": 1}}, 4003, "env_var.A"),
    ({"version_control": "git"}, 4003, "version_control"),
    ({"version_control": {"type": "hg"}}, 4004, "version_control.type"),
    ({"version_control": {"version": 1}}, 4003, "version_control.version"),
    ({"version_control": {"token": "x"}}, 4005, "version_control.token"),
    ({"docker_file_type": 3}, 4004, "docker_file_type"),
    ({"custom_docker_file": 1}, 4003, "custom_docker_file"),
    ({"log_dirs": "d"}, 4003, "log_dirs"), ({"log_dirs": [1]}, 4003, "log_dirs"),
    ({"colour": "red"}, 4005, "colour"),
])
async def test_create_rejects_each_invalid_field(client: TestClient[Any, Any],
                                                 change: dict[str, Any], code: int, field: str
                                                 ) -> None:
    spec = {k: v for k, v in {**GOOD_SPEC, **change}.items() if v is not None}
    body = await call(client, "POST", "/api/v1/apps", json=spec, status=400)
    assert body["code"] == code
    assert body["msg"].startswith(f"{field}:")
    assert len(state_of(client).clusters) == 3


@pytest.mark.parametrize(("data", "msg"), [
    (b"{not json", "not valid JSON"), (b"[1, 2]", "JSON object"), (b"", "not valid JSON"),
    (b"\xff\xfe", "not valid JSON"),
])
async def test_create_and_update_reject_bodies_that_are_not_objects(
    client: TestClient[Any, Any], data: bytes, msg: str
) -> None:
    for method, path in (("POST", "/api/v1/apps"), ("PUT", "/api/v1/apps/10702")):
        body = await call(client, method, path, data=data, status=400)
        assert body["code"] == 4001 and msg in body["msg"]


async def test_create_rejects_a_duplicate_name(client: TestClient[Any, Any]) -> None:
    body = await call(client, "POST", "/api/v1/apps", json={**GOOD_SPEC, "name": "shop-web"},
                      status=400)
    assert body["code"] == 4006 and body["msg"].startswith("name:")


async def test_the_seed_create_example_is_accepted_with_defaults(client: TestClient[Any, Any]
                                                                 ) -> None:
    spec = {"name": "minimal", "image_type": 2, "image_id": 30202, "spec_id": 50}
    cluster_id = (await call(client, "POST", "/api/v1/apps", json=spec))["id"]
    await until(state_of(client), cluster_id, has_status("create_succ"))
    got = await call(client, "GET", f"/api/v1/apps/{cluster_id}")
    assert (got["replicas"], len(got["containers"]), got["env_var"]) == (1, 1, {})


# -- list and get -------------------------------------------------------------------------------


async def test_list_pages_sorted_by_id(client: TestClient[Any, Any]) -> None:
    body = await call(client, "GET", "/api/v1/apps")
    assert body["total"] == 3 and [a["id"] for a in body["apps"]] == [10702, 10703, 10800]
    page = await call(client, "GET", "/api/v1/apps", params={"limit": "2", "offset": "1"})
    assert page["total"] == 3 and [a["id"] for a in page["apps"]] == [10703, 10800]
    last = await call(client, "GET", "/api/v1/apps", params={"limit": "30", "offset": "3"})
    assert last == {"total": 3, "apps": []}


@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "31"}, "limit"), ({"limit": "x"}, "limit"),
    ({"limit": ""}, "limit"), ({"limit": "1.5"}, "limit"), ({"offset": "-1"}, "offset"),
    ({"offset": "two"}, "offset"),
])
async def test_list_rejects_bad_paging(client: TestClient[Any, Any], params: dict[str, str],
                                       field: str) -> None:
    body = await call(client, "GET", "/api/v1/apps", params=params, status=400)
    assert body["code"] == 4008 and body["msg"].startswith(f"{field}:")


async def test_get_has_every_field_of_the_seed_example(client: TestClient[Any, Any]) -> None:
    got = await call(client, "GET", "/api/v1/apps/10702")
    seed_fields = {
        "id", "name", "desc", "domain", "status", "replicas", "volumes", "charge_type",
        "spec_id", "created_at", "updated_at", "public_ip", "private_ip", "version_control",
        "custom_docker_file", "image_id", "containers", "env_var", "web_hook_url",
    }
    assert set(got) == seed_fields
    assert (got["name"], got["status"], got["replicas"]) == ("shop-web", "create_succ", 2)
    assert (got["public_ip"], got["private_ip"], got["charge_type"]) == (None, None, 2)
    assert ISO_Z.fullmatch(got["created_at"]) and ISO_Z.fullmatch(got["updated_at"])
    assert got["volumes"][0]["mount_path"] == "/var/log/shop-web"
    assert got["volumes"][0]["readonly"] is False
    assert got["version_control"]["type"] == "git" and len(got["containers"]) == 2
    assert {a["id"] for a in (await call(client, "GET", "/api/v1/apps"))["apps"]} == {
        10702, 10703, 10800}
    assert (await call(client, "GET", "/api/v1/apps/10703"))["replicas"] == 3


async def test_volumes_follow_log_dirs(client: TestClient[Any, Any]) -> None:
    cluster_id = (await call(client, "POST", "/api/v1/apps", json=GOOD_SPEC))["id"]
    got = await call(client, "GET", f"/api/v1/apps/{cluster_id}")
    assert [v["mount_path"] for v in got["volumes"]] == ["/var/log/a", "/var/log/b"]
    kept = got["volumes"][1]["name"]
    await call(client, "PUT", f"/api/v1/apps/{cluster_id}", json={"log_dirs": ["/var/log/b"]})
    got = await call(client, "GET", f"/api/v1/apps/{cluster_id}")
    assert got["volumes"] == [{"name": kept, "mount_path": "/var/log/b", "readonly": False}]


@pytest.mark.parametrize("cluster_id", ["999", "abc", "-1", "10702x"])
@pytest.mark.parametrize(("method", "suffix"), [
    ("GET", ""), ("PUT", ""), ("DELETE", ""), ("PUT", "/replications/1/actions/resize"),
])
async def test_unknown_cluster_ids_are_404(client: TestClient[Any, Any], cluster_id: str,
                                           method: str, suffix: str) -> None:
    body = await call(client, method, f"/api/v1/apps/{cluster_id}{suffix}", json={},
                      status=404)
    assert body["code"] == 4040 and body["msg"].startswith("id:")
    watch = await call(client, "GET", f"/api/v1/watch/apps/{cluster_id}", status=404)
    assert watch["code"] == 4040


# -- update, rollouts, passwords ----------------------------------------------------------------


async def test_update_of_plain_fields_does_not_roll(client: TestClient[Any, Any]) -> None:
    state = state_of(client)
    before = state.clusters[10702]
    await call(client, "PUT", "/api/v1/apps/10702",
               json={"desc": "new", "custom_docker_file": "Dockerfile", "docker_file_type": 2})
    after = state.clusters[10702]
    assert (after.desc, after.custom_docker_file, after.docker_file_type) == (
        "new", "Dockerfile", 2)
    assert (after.status, after.containers) == ("create_succ", before.containers)
    assert state.versions(10702) == [] and state.put_bodies[10702] == [
        {"desc": "new", "custom_docker_file": "Dockerfile", "docker_file_type": 2}]


@pytest.mark.parametrize("field", ["name", "replicas", "image_id", "spec_id", "domain", "x"])
async def test_update_rejects_fields_it_cannot_update(client: TestClient[Any, Any], field: str
                                                      ) -> None:
    body = await call(client, "PUT", "/api/v1/apps/10702", json={field: 1}, status=400)
    assert body["code"] == 4005 and body["msg"].startswith(f"{field}:")


async def rolled(client: TestClient[Any, Any], cluster_id: int, trigger: Callable[[], Any]
                 ) -> tuple[list[str], list[str]]:
    """Trigger a rollout, check each step keeps the count; return (old, new) container ids."""
    state = state_of(client)
    old = [c.container_id for c in state.clusters[cluster_id].containers]
    await trigger()
    assert state.clusters[cluster_id].status == "updating"
    seen: list[list[str]] = []

    def record(c: Cluster | None) -> bool:
        assert c is not None and len(c.containers) == len(old)
        seen.append([x.container_id for x in c.containers])
        return c.status == "create_succ"

    await until(state, cluster_id, record)
    new = seen[-1]
    assert len(seen) >= len(old) + 1  # one change per replaced container (plus the start)
    return old, new


async def test_version_change_replaces_every_container(client: TestClient[Any, Any]) -> None:
    old, new = await rolled(client, 10703, lambda: call(
        client, "PUT", "/api/v1/apps/10703", json={"version_control": {"version": SHA_B}}))
    assert len(new) == 3 and not set(old) & set(new)
    state = state_of(client)
    assert state.versions(10703) == [SHA_B]
    vc = state.clusters[10703].version_control
    assert vc["version"] == SHA_B and vc["branch"] == "main"  # merged, not replaced


async def test_env_var_change_rolls_and_same_values_do_not(client: TestClient[Any, Any]
                                                           ) -> None:
    state = state_of(client)
    same = dict(state.clusters[10702].env_var)
    await call(client, "PUT", "/api/v1/apps/10702",
               json={"env_var": same, "version_control": {"version": state.clusters[10702]
                                                          .version}})
    assert state.clusters[10702].status == "create_succ" and state.versions(10702) == []
    old, new = await rolled(client, 10702, lambda: call(
        client, "PUT", "/api/v1/apps/10702", json={"env_var": {"NEW": "1"}}))
    assert len(new) == 2 and not set(old) & set(new)
    assert state.clusters[10702].env_var == {"NEW": "1"}


async def test_hook_post_rolls_the_pushed_commit_without_a_token(client: TestClient[Any, Any]
                                                                 ) -> None:
    state = state_of(client)
    url = (await call(client, "GET", "/api/v1/apps/10800"))["web_hook_url"]
    path = url.split(f":{client.port}", 1)[1]
    payload = b'{"ref": "refs/heads/main", "after": "' + SHA_B.encode() + b'"}'
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push"}

    async def post() -> None:
        assert (await call(client, "POST", path, data=payload, headers=headers)) == {}

    old, new = await rolled(client, 10800, post)
    assert len(new) == 1 and old != new
    hook = state.hook_posts[-1]
    assert (hook.cluster_id, hook.body, hook.headers["X-GitHub-Event"]) == (10800, payload,
                                                                          "push")
    assert state.versions(10800) == [SHA_B] and state.clusters[10800].version == SHA_B
    assert state.requests["hook"] == 1


async def test_hook_with_an_unknown_key_is_404(client: TestClient[Any, Any]) -> None:
    body = await call(client, "POST", "/api/v1/hooks/app/0123", data=b"{}", headers={},
                      status=404)
    assert body["code"] == 4041 and state_of(client).hook_posts == []


async def test_passwords_are_masked_and_a_masked_write_back_is_stored(
    client: TestClient[Any, Any]
) -> None:
    state = state_of(client)
    shown = (await call(client, "GET", "/api/v1/apps/10702"))["version_control"]["password"]
    assert re.fullmatch(r"[0-9a-f]{16}", shown) and shown != "demo-password"
    listed = (await call(client, "GET", "/api/v1/apps"))["apps"][0]["version_control"]
    assert listed["password"] == shown
    assert state.stored_password(10702) == "demo-password"
    await call(client, "PUT", "/api/v1/apps/10702",
               json={"version_control": {"version": SHA_B, "password": shown}})
    assert state.stored_password(10702) == shown  # corrupted, as on the real platform
    assert state.stored_password(10702) in state.issued_masks
    await until(state, 10702, has_status("create_succ"))


# -- delete, resize, watch ----------------------------------------------------------------------


async def test_delete_removes_the_cluster(client: TestClient[Any, Any]) -> None:
    assert await call(client, "DELETE", "/api/v1/apps/10703") == {}
    await call(client, "GET", "/api/v1/apps/10703", status=404)
    assert (await call(client, "GET", "/api/v1/apps"))["total"] == 2


async def test_resize_up_and_down(client: TestClient[Any, Any]) -> None:
    state = state_of(client)
    await call(client, "PUT", "/api/v1/apps/10800/replications/4/actions/resize")
    assert (state.clusters[10800].status, state.clusters[10800].replicas) == ("resizing", 4)
    first = state.clusters[10800].containers[0]
    await until(state, 10800, has_status("create_succ"))
    assert len(state.clusters[10800].containers) == 4
    assert state.clusters[10800].containers[0] == first  # the running one is kept
    await call(client, "PUT", "/api/v1/apps/10800/replications/0/actions/resize")
    await until(state, 10800, has_status("create_succ"))
    got = await call(client, "GET", "/api/v1/apps/10800")
    assert (got["replicas"], got["containers"]) == (0, [])


@pytest.mark.parametrize(("replicas", "code"), [("21", 4007), ("-1", 4008), ("x", 4008),
                                                ("2.5", 4008)])
async def test_resize_rejects_bad_counts(client: TestClient[Any, Any], replicas: str, code: int
                                         ) -> None:
    body = await call(client, "PUT", f"/api/v1/apps/10800/replications/{replicas}/actions/resize",
                      status=400)
    assert body["code"] == code and body["msg"].startswith("replicas:")
    assert state_of(client).clusters[10800].status == "create_succ"


async def test_resize_to_the_same_count_changes_nothing(client: TestClient[Any, Any]) -> None:
    await call(client, "PUT", "/api/v1/apps/10800/replications/1/actions/resize")
    assert state_of(client).clusters[10800].status == "create_succ"


async def test_resize_capacity_is_configurable() -> None:
    async with running(max_replicas=2) as client:
        await call(client, "PUT", "/api/v1/apps/10800/replications/2/actions/resize")
        body = await call(client, "PUT", "/api/v1/apps/10800/replications/3/actions/resize",
                          status=400)
        assert body["code"] == 4007


async def test_watch_times_out_with_the_current_containers(client: TestClient[Any, Any]
                                                           ) -> None:
    body = await call(client, "GET", "/api/v1/watch/apps/10703", params={"timeout": "0.05"})
    expected = [{"private_ip": c.private_ip, "container_id": c.container_id}
                for c in state_of(client).clusters[10703].containers]
    assert body == {"containers": expected}


@pytest.mark.parametrize("value", ["x", "-1", "nan"])
async def test_watch_rejects_a_bad_timeout(client: TestClient[Any, Any], value: str) -> None:
    body = await call(client, "GET", "/api/v1/watch/apps/10703", params={"timeout": value},
                      status=400)
    assert body["code"] == 4008 and body["msg"].startswith("timeout:")


async def test_watch_timeout_is_capped_by_the_setting() -> None:
    async with running(watch_timeout_s=0.05) as client:
        body = await asyncio.wait_for(
            call(client, "GET", "/api/v1/watch/apps/10800", params={"timeout": "3600"}), 2)
        assert len(body["containers"]) == 1


async def test_watch_wakes_at_each_rollout_step(client: TestClient[Any, Any]) -> None:
    state, steps = state_of(client), Steps(client.app)
    old = [c.container_id for c in state.clusters[10703].containers]
    await call(client, "PUT", "/api/v1/apps/10703", json={"version_control": {"version": SHA_B}})
    for step in range(1, 4):
        watch = asyncio.ensure_future(call(client, "GET", "/api/v1/watch/apps/10703"))
        await parked(state, 10703)
        steps.release()
        body = await asyncio.wait_for(watch, 2)
        ids = [c["container_id"] for c in body["containers"]]
        assert len(ids) == 3 and len(set(ids) & set(old)) == 3 - step
    assert state.clusters[10703].status == "create_succ"


async def test_watch_wakes_on_status_and_resize(client: TestClient[Any, Any]) -> None:
    state, steps = state_of(client), Steps(client.app)
    watch = asyncio.ensure_future(call(client, "GET", "/api/v1/watch/apps/10800"))
    await parked(state, 10800)
    await call(client, "PUT", "/api/v1/apps/10800/replications/2/actions/resize")
    assert len((await asyncio.wait_for(watch, 2))["containers"]) == 1  # status: resizing
    watch = asyncio.ensure_future(call(client, "GET", "/api/v1/watch/apps/10800"))
    await parked(state, 10800)
    steps.release()
    assert len((await asyncio.wait_for(watch, 2))["containers"]) == 2


async def test_watch_answers_404_when_the_cluster_is_deleted(client: TestClient[Any, Any]
                                                             ) -> None:
    watch = asyncio.ensure_future(call(client, "GET", "/api/v1/watch/apps/10800", status=404))
    await parked(state_of(client), 10800)
    await call(client, "DELETE", "/api/v1/apps/10800")
    assert (await asyncio.wait_for(watch, 2))["code"] == 4040


async def test_closing_mid_rollout_cancels_the_tasks_and_releases_watches() -> None:
    app = create_simulator_app(token=TOKEN, step_s=0.01)
    server = TestServer(app)
    await server.start_server()
    async with aiohttp.ClientSession(headers=AUTH) as session:
        Steps(app)  # never released: the rollout stays in progress
        put = await session.put(server.make_url("/api/v1/apps/10703"),
                                json={"version_control": {"version": SHA_B}})
        assert put.status == 200 and app[SIM_OPS].running == 1
        watch = asyncio.ensure_future(session.get(server.make_url("/api/v1/watch/apps/10702")))
        await parked(app[SIM_STATE], 10702)
        await asyncio.wait_for(server.close(), 2)
        response = await asyncio.wait_for(watch, 2)
        assert response.status == 200  # the watch was answered, not dropped
        assert len((await response.json())["containers"]) == 2
    assert app[SIM_OPS].running == 0
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
