"""Validate request bodies and parameters into model values; raise `ApiError` naming the field.

Pure: takes parsed JSON and strings, returns frozen dataclasses. Error codes are listed in the
package docstring (`relay.simulator`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from relay.simulator.model import SPEC_IDS, VERSION_CONTROL_KEYS, ClusterPatch, ClusterSpec, Image

BAD_BODY = 4001
MISSING = 4002
WRONG_TYPE = 4003
BAD_VALUE = 4004
UNKNOWN_FIELD = 4005
DUPLICATE_NAME = 4006
OVER_CAPACITY = 4007
BAD_PARAM = 4008
NO_CLUSTER = 4040

CREATE_FIELDS = (
    "name", "desc", "domain", "image_type", "image_id", "spec_id", "replicas", "env_var",
    "version_control", "docker_file_type", "custom_docker_file", "log_dirs",
)
REQUIRED_FIELDS = ("name", "image_type", "image_id", "spec_id")
UPDATE_FIELDS = (
    "desc", "env_var", "version_control", "docker_file_type", "custom_docker_file", "log_dirs",
)


class ApiError(Exception):
    """An error answer: HTTP status, the platform-style numeric code, and a message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.code = code
        self.msg = msg


def bad(code: int, msg: str) -> ApiError:
    return ApiError(400, code, msg)


def parse_spec(
    body: Any, *, find_image: Callable[[int, bool], Image | None], max_replicas: int
) -> ClusterSpec:
    """Validate a create body (docs/cluster-api.md §2); the caller checks name uniqueness."""
    obj = _object(body, "body")
    _known(obj, CREATE_FIELDS, "is not a field of a cluster")
    for key in REQUIRED_FIELDS:
        if key not in obj:
            raise bad(MISSING, f"{key}: required")
    name = _str(obj, "name") or ""
    if not name.strip():
        raise bad(BAD_VALUE, "name: must not be empty")
    image_type = _choice(obj, "image_type", (1, 2))
    spec_id = _choice(obj, "spec_id", SPEC_IDS)
    image_id = _image(obj, image_type, spec_id, find_image)
    replicas = _int(obj, "replicas")
    return ClusterSpec(
        name=name, image_type=image_type, image_id=image_id, spec_id=spec_id,
        replicas=1 if replicas is None else check_replicas(replicas, max_replicas),
        desc=_str(obj, "desc") or "", domain=_str(obj, "domain") or "",
        env_var=_env(obj) or {}, version_control=_version_control(obj) or {},
        docker_file_type=_opt_choice(obj, "docker_file_type", (1, 2)) or 1,
        custom_docker_file=_str(obj, "custom_docker_file") or "",
        log_dirs=_log_dirs(obj) or (),
    )


def parse_patch(body: Any) -> ClusterPatch:
    """Validate an update body (docs/cluster-api.md §3): only updatable fields are accepted."""
    obj = _object(body, "body")
    _known(obj, UPDATE_FIELDS, "cannot be updated")
    return ClusterPatch(
        desc=_str(obj, "desc"), env_var=_env(obj), version_control=_version_control(obj),
        docker_file_type=_opt_choice(obj, "docker_file_type", (1, 2)),
        custom_docker_file=_str(obj, "custom_docker_file"), log_dirs=_log_dirs(obj),
    )


def check_replicas(replicas: int, max_replicas: int) -> int:
    if replicas < 0:
        raise bad(BAD_VALUE, f"replicas: must be at least 0, not {replicas}")
    if replicas > max_replicas:
        raise bad(OVER_CAPACITY, f"replicas: {replicas} exceeds the capacity of {max_replicas}")
    return replicas


def parse_cluster_id(raw: str) -> int:
    """A path id; anything but a non-negative integer names no cluster (404)."""
    if not raw.isdigit() or not raw.isascii():
        raise ApiError(404, NO_CLUSTER, f"id: no cluster {raw!r}")
    return int(raw)


def int_param(raw: str | None, name: str, *, default: int, low: int, high: int | None) -> int:
    """A query or path integer within [low, high] (no upper bound when high is None)."""
    if raw is None:
        return default
    value = _parse_int(raw)
    if value is None or value < low or (high is not None and value > high):
        bounds = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise bad(BAD_PARAM, f"{name}: must be an integer {bounds}, not {raw!r}")
    return value


def float_param(raw: str | None, name: str, *, default: float) -> float:
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also rejects nan
        raise bad(BAD_PARAM, f"{name}: must be a number of seconds >= 0, not {raw!r}")
    return value


def _parse_int(raw: str) -> int | None:
    text = raw.strip()
    digits = text[1:] if text[:1] in "+-" else text
    return int(text) if digits.isdigit() and digits.isascii() else None


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad(BAD_BODY if what == "body" else WRONG_TYPE, f"{what}: must be a JSON object")
    return value


def _known(obj: Mapping[str, Any], allowed: tuple[str, ...], why: str) -> None:
    unknown = sorted(set(obj) - set(allowed))
    if unknown:
        raise bad(UNKNOWN_FIELD, f"{unknown[0]}: {why} (accepted: {', '.join(allowed)})")


def _str(obj: Mapping[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if key in obj and not isinstance(value, str):
        raise bad(WRONG_TYPE, f"{key}: must be a string")
    return value


def _int(obj: Mapping[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if key in obj and (not isinstance(value, int) or isinstance(value, bool)):
        raise bad(WRONG_TYPE, f"{key}: must be an integer")
    return value


def _choice(obj: Mapping[str, Any], key: str, allowed: tuple[int, ...]) -> int:
    value = _opt_choice(obj, key, allowed)
    assert value is not None  # required fields are checked before
    return value


def _opt_choice(obj: Mapping[str, Any], key: str, allowed: tuple[int, ...]) -> int | None:
    value = _int(obj, key)
    if value is not None and value not in allowed:
        raise bad(BAD_VALUE, f"{key}: must be one of {', '.join(map(str, allowed))}, not {value}")
    return value


def _image(
    obj: Mapping[str, Any], image_type: int, spec_id: int,
    find_image: Callable[[int, bool], Image | None],
) -> int:
    image_id = _int(obj, "image_id")
    assert image_id is not None
    image = find_image(image_id, image_type == 2)
    if image is None:
        kind = "custom" if image_type == 2 else "public"
        raise bad(BAD_VALUE, f"image_id: no {kind} image {image_id} (image_type {image_type})")
    limit = image.constraint
    if limit and not limit.min_machine_spec <= spec_id <= limit.max_machine_spec:
        raise bad(BAD_VALUE, f"spec_id: image {image_id} allows spec_id "
                             f"{limit.min_machine_spec} to {limit.max_machine_spec}, not {spec_id}")
    return image_id


def _env(obj: Mapping[str, Any]) -> dict[str, str] | None:
    if "env_var" not in obj:
        return None
    env = _object(obj["env_var"], "env_var")
    for name, value in env.items():
        if not isinstance(value, str):
            raise bad(WRONG_TYPE, f"env_var.{name}: must be a string")
    return dict(env)


def _version_control(obj: Mapping[str, Any]) -> dict[str, str] | None:
    if "version_control" not in obj:
        return None
    vc = _object(obj["version_control"], "version_control")
    unknown = sorted(set(vc) - set(VERSION_CONTROL_KEYS))
    if unknown:
        raise bad(UNKNOWN_FIELD, f"version_control.{unknown[0]}: not a version_control field "
                                 f"(accepted: {', '.join(VERSION_CONTROL_KEYS)})")
    for key, value in vc.items():
        if not isinstance(value, str):
            raise bad(WRONG_TYPE, f"version_control.{key}: must be a string")
    if vc.get("type", "git") not in ("git", "svn"):
        raise bad(BAD_VALUE, f"version_control.type: must be git or svn, not {vc['type']!r}")
    return dict(vc)


def _log_dirs(obj: Mapping[str, Any]) -> tuple[str, ...] | None:
    if "log_dirs" not in obj:
        return None
    dirs = obj["log_dirs"]
    if not isinstance(dirs, list) or not all(isinstance(d, str) for d in dirs):
        raise bad(WRONG_TYPE, "log_dirs: must be an array of strings")
    return tuple(dirs)
