"""Typed values of the cluster API (docs/cluster-api.md §1-8); `parsing.py` builds them from JSON.

Pure: no I/O. Raw dicts never leave the cluster package, except the opaque `env_var` and
`extra` mappings of a `Cluster`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class ImageConstraint:
    min_combo: int | None = None
    max_combo: int | None = None
    min_machine_spec: int | None = None
    max_machine_spec: int | None = None


@dataclass(frozen=True, slots=True)
class Image:
    id: int
    name: str = ""
    tag: str = ""
    desc: str = ""
    weight: int | None = None
    constraint: ImageConstraint | None = None


@dataclass(frozen=True, slots=True)
class ImageList:
    custom: tuple[Image, ...] = ()
    public: tuple[Image, ...] = ()


@dataclass(frozen=True, slots=True)
class Volume:
    name: str = ""
    mount_path: str = ""
    readonly: bool = False


@dataclass(frozen=True, slots=True)
class Container:
    container_id: str
    private_ip: str | None = None


@dataclass(frozen=True, slots=True)
class VersionControl:
    """Source control settings; `password` is the API's opaque masked value, never shown."""

    type: str | None = None
    path: str | None = None
    subdir: str | None = None
    branch: str | None = None
    version: str | None = None
    account: str | None = None
    password: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name == 'password' else repr(v)}"
            for f in dataclasses.fields(self) if (v := getattr(self, f.name)) is not None
        )
        return f"VersionControl({shown})"


@dataclass(frozen=True, slots=True)
class Cluster:
    """One app (docs/cluster-api.md §5). `status` is kept as given, known or not."""

    id: int
    name: str = ""
    desc: str | None = None
    domain: str | None = None
    status: str = ""
    replicas: int | None = None
    volumes: tuple[Volume, ...] = ()
    charge_type: int | None = None
    spec_id: int | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    version_control: VersionControl | None = None
    custom_docker_file: str | None = None
    image_id: int | None = None
    containers: tuple[Container, ...] = ()
    env_var: Mapping[str, Any] = field(default_factory=dict)
    web_hook_url: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)

    @property
    def version(self) -> str | None:
        return self.version_control.version if self.version_control else None

    @property
    def failed(self) -> bool:
        """Seed notes: a status ending in `_fail` is a failure; anything else may progress."""
        return self.status.endswith("_fail")


@dataclass(frozen=True, slots=True)
class ClusterPage:
    total: int
    clusters: tuple[Cluster, ...] = ()


@dataclass(frozen=True, slots=True)
class Created:
    id: int
    url: str


# --- output ------------------------------------------------------------------------------


def to_jsonable(value: object) -> Any:
    """A model (or tuple/list/dict of them) as plain JSON values; datetimes as ISO 8601."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value
