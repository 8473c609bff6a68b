"""Lenient parsers of the cluster API's JSON into the frozen values of `models.py`.

Pure: no I/O. A parser takes decoded JSON and either returns a value or raises `BadResponse`
naming the operation and the field. Optional fields that are missing, null or of the wrong
type become None / empty; only what a caller cannot do without (an id, a container id, a
list total, a create's hook URL) is required. See docs/cluster-api.md, "How relay reads the
unclear parts".
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from relay.cluster.errors import BadResponse
from relay.cluster.models import (
    Cluster,
    ClusterPage,
    Container,
    Created,
    Image,
    ImageConstraint,
    ImageList,
    VersionControl,
    Volume,
)

_CLUSTER_FIELDS = frozenset({
    "id", "name", "desc", "domain", "status", "replicas", "volumes", "charge_type", "spec_id",
    "created_at", "updated_at", "public_ip", "private_ip", "version_control",
    "custom_docker_file", "image_id", "containers", "env_var", "web_hook_url",
})


# --- field readers -----------------------------------------------------------------------


def _obj(data: object, endpoint: str, what: str) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise BadResponse(endpoint, f"{what}: expected a JSON object, got {_kind(data)}")
    return data


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _int_like(value: object) -> int | None:
    """An int, an integral float or a decimal string; None otherwise (bools are not ints)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value.strip())
    return None


def _req_int(data: Mapping[str, Any], key: str, endpoint: str, what: str) -> int:
    value = _int_like(data.get(key))
    if value is None:
        raise BadResponse(endpoint, f"{what}.{key}: expected an integer, got "
                                    f"{_kind(data.get(key))}")
    return value


def _opt_int(data: Mapping[str, Any], key: str) -> int | None:
    return _int_like(data.get(key))


def _opt_str(data: Mapping[str, Any], key: str) -> str | None:
    value = data.get(key)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    return value if isinstance(value, list) else []


def parse_time(value: object) -> datetime | None:
    """An ISO 8601 time as an aware UTC datetime (naive means UTC); None if absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --- parsers -----------------------------------------------------------------------------


def parse_images(data: object, endpoint: str = "images") -> ImageList:
    """Seed section 1: `{"custom_images": [...], "public_images": [...]}`."""
    body = _obj(data, endpoint, "body")
    return ImageList(
        custom=tuple(_image(i, endpoint) for i in _list(body, "custom_images")),
        public=tuple(_image(i, endpoint) for i in _list(body, "public_images")),
    )


def _image(data: object, endpoint: str) -> Image:
    item = _obj(data, endpoint, "image")
    constraint = item.get("constraint")
    return Image(
        id=_req_int(item, "id", endpoint, "image"),
        name=_opt_str(item, "name") or "",
        tag=_opt_str(item, "tag") or "",
        desc=_opt_str(item, "desc") or "",
        weight=_opt_int(item, "weight"),
        constraint=ImageConstraint(
            min_combo=_opt_int(constraint, "min_combo"),
            max_combo=_opt_int(constraint, "max_combo"),
            min_machine_spec=_opt_int(constraint, "min_machine_spec"),
            max_machine_spec=_opt_int(constraint, "max_machine_spec"),
        ) if isinstance(constraint, Mapping) else None,
    )


def parse_created(data: object, endpoint: str = "apps.create") -> Created:
    """Seed section 2: `{"id": 1000, "url": "<web hook url>"}`."""
    body = _obj(data, endpoint, "body")
    url = body.get("url")
    if not isinstance(url, str):
        raise BadResponse(endpoint, f"body.url: expected a string, got {_kind(url)}")
    return Created(id=_req_int(body, "id", endpoint, "body"), url=url)


def parse_page(data: object, endpoint: str = "apps.list") -> ClusterPage:
    """Seed section 4: `{"total": N, "apps": [APP, ...]}`."""
    body = _obj(data, endpoint, "body")
    apps = body.get("apps")
    if not isinstance(apps, list):
        raise BadResponse(endpoint, f"body.apps: expected a list, got {_kind(apps)}")
    return ClusterPage(
        total=_req_int(body, "total", endpoint, "body"),
        clusters=tuple(parse_cluster(app, endpoint) for app in apps),
    )


def parse_cluster(data: object, endpoint: str = "apps.get") -> Cluster:
    """Seed section 5; unknown fields are kept in `extra`."""
    app = _obj(data, endpoint, "cluster")
    vc = app.get("version_control")
    env = app.get("env_var")
    return Cluster(
        id=_req_int(app, "id", endpoint, "cluster"),
        name=_opt_str(app, "name") or "",
        desc=_opt_str(app, "desc"),
        domain=_opt_str(app, "domain"),
        status=_opt_str(app, "status") or "",
        replicas=_opt_int(app, "replicas"),
        volumes=tuple(_volume(v) for v in _list(app, "volumes") if isinstance(v, Mapping)),
        charge_type=_opt_int(app, "charge_type"),
        spec_id=_opt_int(app, "spec_id"),
        created_at=parse_time(app.get("created_at")),
        updated_at=parse_time(app.get("updated_at")),
        public_ip=_opt_str(app, "public_ip"),
        private_ip=_opt_str(app, "private_ip"),
        version_control=_version_control(vc) if isinstance(vc, Mapping) else None,
        custom_docker_file=_opt_str(app, "custom_docker_file"),
        image_id=_opt_int(app, "image_id"),
        containers=_containers(_list(app, "containers"), endpoint),
        env_var=dict(env) if isinstance(env, Mapping) else {},
        web_hook_url=_opt_str(app, "web_hook_url"),
        extra={k: v for k, v in app.items() if k not in _CLUSTER_FIELDS},
    )


def _volume(data: Mapping[str, Any]) -> Volume:
    return Volume(name=_opt_str(data, "name") or "", mount_path=_opt_str(data, "mount_path") or "",
                  readonly=data.get("readonly") is True)


def _version_control(data: Mapping[str, Any]) -> VersionControl:
    names = (f.name for f in dataclasses.fields(VersionControl))
    return VersionControl(**{name: _opt_str(data, name) for name in names})


def parse_containers(data: object, endpoint: str = "watch") -> tuple[Container, ...]:
    """Seed section 8 (and its notes): `{"containers": [...]}` or a bare list."""
    if isinstance(data, Mapping):
        items = data.get("containers")
        if items is None:
            items = []
    else:
        items = data
    if not isinstance(items, list):
        raise BadResponse(endpoint, f"containers: expected a list, got {_kind(items)}")
    return _containers(items, endpoint)


def _containers(items: list[Any], endpoint: str) -> tuple[Container, ...]:
    return tuple(_container(item, endpoint) for item in items)


def _container(data: object, endpoint: str) -> Container:
    item = _obj(data, endpoint, "container")
    # Seed notes: typed "long" but a 64-hex-digit string in every example; keep a string.
    cid = _opt_str(item, "container_id")
    if not cid:
        raise BadResponse(endpoint, "container.container_id: expected a string, got "
                                    f"{_kind(item.get('container_id'))}")
    return Container(container_id=cid, private_ip=_opt_str(item, "private_ip"))
