"""Parsing the cluster API's JSON (seed sections 1-8 and the notes on its quirks); no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from relay.cluster import (
    BadResponse,
    ClientError,
    ClusterApiError,
    Container,
    NotFound,
    RateLimited,
    ServerError,
    Unauthorized,
    VersionControl,
    parse_cluster,
    parse_containers,
    parse_created,
    parse_images,
    parse_page,
    parse_time,
    to_jsonable,
)
from relay.cluster.errors import Unavailable, error_for_status, parse_retry_after
from relay.cluster.retry import RetryPolicy, before_it_reached_the_server

HEX = "5ae7bfa878b335311434f6aeef60fcfdb55bd8c51c11ed2912b64ad95061efae"

SEED_APP = {
    "id": 10702, "name": "name", "desc": "desc", "domain": "www.abc.com",
    "status": "creating", "replicas": 2,
    "volumes": [{"name": "f9eb1b4428064f15b8aa95aad31e1bc4", "mount_path": "dir1",
                 "readonly": False}],
    "charge_type": 2, "spec_id": 1,
    "created_at": "2016-03-25T04:57:48Z", "updated_at": "2016-03-25T04:57:48Z",
    "public_ip": None, "private_ip": None,
    "version_control": {"type": "git", "path": "https://www.github.com/example/test.git",
                        "subdir": "tomcat", "branch": "online", "version": "xxxx",
                        "account": "example@163.com", "password": "bec55f12a60bf849"},
    "custom_docker_file": "dockfile", "image_id": 3,
    "containers": [{"private_ip": "10.180.194.16", "container_id": HEX}],
    "env_var": {"key": "value"},
    "web_hook_url": "https://open.c.163.com/api/v1/hooks/app/e9c80ebe17464f6d90d3e22f6ac77bad",
}


def test_seed_cluster_parses_every_field() -> None:
    c = parse_cluster(SEED_APP)
    assert (c.id, c.name, c.desc, c.domain, c.status, c.replicas) == (
        10702, "name", "desc", "www.abc.com", "creating", 2)
    assert c.volumes[0].mount_path == "dir1" and c.volumes[0].readonly is False
    assert (c.charge_type, c.spec_id, c.image_id) == (2, 1, 3)
    assert c.created_at == datetime(2016, 3, 25, 4, 57, 48, tzinfo=UTC)
    assert c.updated_at is not None and c.updated_at.utcoffset() is not None
    assert c.public_ip is None and c.private_ip is None
    assert c.version == "xxxx"
    assert c.version_control is not None and c.version_control.branch == "online"
    assert c.containers == (Container(HEX, "10.180.194.16"),)
    assert c.env_var == {"key": "value"}
    assert c.web_hook_url == SEED_APP["web_hook_url"]
    assert c.extra == {}
    assert not c.failed


def test_unknown_fields_and_status_are_kept_missing_ones_defaulted() -> None:
    c = parse_cluster({"id": "10800", "status": "rolling_back", "future_field": [1, 2]})
    assert c.id == 10800
    assert c.status == "rolling_back"
    assert c.extra == {"future_field": [1, 2]}
    assert c.containers == () and c.version is None and c.created_at is None
    assert c.replicas is None and c.env_var == {}


def test_failed_status() -> None:
    assert parse_cluster({"id": 1, "status": "update_fail"}).failed
    assert parse_cluster({"id": 1, "status": "create_fail"}).failed
    assert not parse_cluster({"id": 1, "status": "create_succ"}).failed


def test_container_id_numeric_becomes_string() -> None:
    c = parse_cluster({"id": 1, "containers": [{"container_id": 123456789, "private_ip": None}]})
    assert c.containers == (Container("123456789", None),)


@pytest.mark.parametrize("body", [
    {"containers": [{"private_ip": "10.0.0.1", "container_id": HEX}]},
    [{"private_ip": "10.0.0.1", "container_id": HEX}],
])
def test_watch_body_object_or_bare_list(body: object) -> None:
    assert parse_containers(body) == (Container(HEX, "10.0.0.1"),)


def test_watch_body_without_containers_is_empty() -> None:
    assert parse_containers({}) == ()


@pytest.mark.parametrize("body, field", [
    ({"id": "abc"}, "cluster.id"),
    ({"id": True}, "cluster.id"),
    ({"name": "no id"}, "cluster.id"),
    ({"id": 1, "containers": [{"private_ip": "10.0.0.1"}]}, "container.container_id"),
    ({"id": 1, "containers": ["oops"]}, "container"),
    ([1, 2], "cluster"),
])
def test_wrong_required_field_is_bad_response(body: object, field: str) -> None:
    with pytest.raises(BadResponse) as info:
        parse_cluster(body)
    assert field in str(info.value)
    assert info.value.endpoint == "apps.get"


def test_wrong_optional_field_types_are_tolerated() -> None:
    c = parse_cluster({"id": 7, "replicas": "two", "volumes": "x", "env_var": [1],
                       "version_control": "git", "created_at": "yesterday", "name": None})
    assert (c.replicas, c.volumes, c.env_var, c.version_control, c.created_at, c.name) == (
        None, (), {}, None, None, "")


def test_page_and_its_shape_errors() -> None:
    page = parse_page({"total": 31, "apps": [SEED_APP]})
    assert page.total == 31 and page.clusters[0].id == 10702
    with pytest.raises(BadResponse, match="body.apps"):
        parse_page({"total": 1})
    with pytest.raises(BadResponse, match="body.total"):
        parse_page({"apps": []})


def test_images_seed_example() -> None:
    images = parse_images({
        "custom_images": [{"tag": "v1", "desc": "v1", "weight": 0, "id": 30202,
                           "name": "4638_tomcat2", "constraint": None}],
        "public_images": [{"tag": "latest", "desc": "", "weight": 3, "id": 10005,
                           "name": "centos",
                           "constraint": {"min_combo": 20, "max_combo": 50,
                                          "min_machine_spec": 10, "max_machine_spec": 40}}],
    })
    assert images.custom[0].id == 30202 and images.custom[0].constraint is None
    assert images.public[0].constraint is not None
    assert images.public[0].constraint.max_machine_spec == 40
    assert parse_images({}).custom == ()
    with pytest.raises(BadResponse):
        parse_images({"custom_images": [{"name": "no id"}]})


def test_created() -> None:
    assert parse_created({"id": 1000, "url": "https://h/x"}).id == 1000
    with pytest.raises(BadResponse, match="url"):
        parse_created({"id": 1000})


@pytest.mark.parametrize("raw, expected", [
    ("2016-03-25T04:57:48Z", datetime(2016, 3, 25, 4, 57, 48, tzinfo=UTC)),
    ("2016-03-25T12:57:48+08:00", datetime(2016, 3, 25, 4, 57, 48, tzinfo=UTC)),
    ("2016-03-25T04:57:48", datetime(2016, 3, 25, 4, 57, 48, tzinfo=UTC)),
    ("not a time", None), (None, None), (12, None),
])
def test_parse_time(raw: object, expected: datetime | None) -> None:
    assert parse_time(raw) == expected


def test_password_masked_in_repr_but_kept_in_json() -> None:
    c = parse_cluster(SEED_APP)
    assert "bec55f12a60bf849" not in repr(c)
    assert "bec55f12a60bf849" not in repr(VersionControl(password="bec55f12a60bf849"))
    assert "password=***" in repr(c.version_control)
    data = to_jsonable(c)
    assert data["version_control"]["password"] == "bec55f12a60bf849"
    assert data["created_at"] == "2016-03-25T04:57:48Z"
    json.dumps(data)  # all plain JSON values


# --- errors: the status ladder and messages --------------------------------------------


@pytest.mark.parametrize("status, cls", [
    (401, Unauthorized), (403, Unauthorized), (404, NotFound), (400, ClientError),
    (409, ClientError), (429, RateLimited), (500, ServerError), (503, ServerError),
    (302, ClientError),
])
def test_error_for_status(status: int, cls: type[ClusterApiError]) -> None:
    err = error_for_status("apps.get", status, '{"code": 4001, "msg": "bad"}', {})
    assert type(err) is cls and err.status == status and err.code == 4001


def test_error_str_with_platform_code_and_msg() -> None:
    err = error_for_status("apps.create", 400, json.dumps(
        {"code": 4001, "msg": "spec_id must be one of 1, 10"}), {})
    assert str(err) == "apps.create: HTTP 400 code=4001: spec_id must be one of 1, 10"
    assert err.msg == "spec_id must be one of 1, 10"


def test_error_with_non_json_body_keeps_raw_text_truncated() -> None:
    page = "<html><body>Bad Gateway</body></html>" + "x" * 5000
    err = error_for_status("apps.get", 502, page, {})
    assert isinstance(err, ServerError) and err.code is None
    assert err.body.startswith("<html>") and len(err.body) <= 2000
    assert str(err).startswith("apps.get: HTTP 502: <html>") and len(str(err)) < 400


def test_redirect_is_a_client_error_saying_so() -> None:
    err = error_for_status("hook", 301, "", {"Location": "https://elsewhere/"})
    assert isinstance(err, ClientError)
    assert "redirect not followed" in str(err) and "HTTP 301" in str(err)


def test_retry_after_seconds_and_http_date() -> None:
    err = error_for_status("apps.get", 429, "", {"Retry-After": "7"})
    assert isinstance(err, RateLimited) and err.retry_after == 7.0
    now = datetime(2024, 1, 1, 0, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("-5") == 0.0


def test_policy_wait_honours_retry_after_capped() -> None:
    policy = RetryPolicy(retry_after_max_s=30.0, jitter=False)
    limited = RateLimited("apps.get", "slow down", retry_after=12.0)
    assert policy.wait_for(1, limited) == 12.0
    assert policy.wait_for(1, RateLimited("x", "y", retry_after=600.0)) == 30.0
    assert policy.wait_for(1, RateLimited("x", "y")) == 0.1  # no header: backoff


def test_policy_backoff_is_exponential_capped_and_jittered() -> None:
    policy = RetryPolicy(jitter=False)
    assert [policy.backoff(n) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]
    assert policy.backoff(20) == 5.0
    half = RetryPolicy(rand=lambda: 0.5)
    assert half.backoff(3) == pytest.approx(0.2)


def test_create_retry_rule() -> None:
    refused = Unavailable("apps.create", "refused", reason="refused", reached=False)
    reset = Unavailable("apps.create", "reset", reason="reset", reached=True)
    timeout = Unavailable("apps.create", "timeout", reason="timeout", reached=True)
    assert before_it_reached_the_server(refused)
    assert before_it_reached_the_server(RateLimited("apps.create", "x"))
    assert before_it_reached_the_server(ServerError("apps.create", "x", status=503))
    assert not before_it_reached_the_server(reset)
    assert not before_it_reached_the_server(timeout)
    assert not before_it_reached_the_server(ServerError("apps.create", "x", status=500))
    assert not before_it_reached_the_server(ServerError("apps.create", "x", status=504))
