"""The simulator's values: images, clusters, containers, and the records kept for tests."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Cluster statuses. The seed names creating / create_succ / create_fail; the others are the
# simulator's own for the operations the watch description implies (relay treats unknown
# statuses as "in progress" unless they end in _fail).
CREATING = "creating"
CREATE_SUCC = "create_succ"
CREATE_FAIL = "create_fail"
UPDATING = "updating"
UPDATE_FAIL = "update_fail"
RESIZING = "resizing"
TRANSIENT_STATUSES = frozenset({CREATING, UPDATING, RESIZING})

SPEC_IDS = (1, 10, 20, 30, 40, 50)  # micro, small, medium, large, deluxe, flagship
VERSION_CONTROL_KEYS = ("type", "path", "subdir", "branch", "version", "account", "password")
CHARGE_TYPE = 2


@dataclass(frozen=True, slots=True)
class Constraint:
    min_combo: int
    max_combo: int
    min_machine_spec: int
    max_machine_spec: int


@dataclass(frozen=True, slots=True)
class Image:
    id: int
    name: str
    tag: str
    desc: str
    weight: int
    custom: bool  # custom_images (image_type 2) or public_images (image_type 1)
    constraint: Constraint | None = None


@dataclass(frozen=True, slots=True)
class Container:
    container_id: str  # 64 hex digits
    private_ip: str  # 10.x.y.z


@dataclass(frozen=True, slots=True)
class Volume:
    name: str  # 32 hex digits, stable for a mount path
    mount_path: str


@dataclass(frozen=True, slots=True)
class Cluster:
    """One cluster ("app"). `version_control` holds the password as it was sent."""

    id: int
    name: str
    status: str
    replicas: int
    spec_id: int
    image_type: int
    image_id: int
    hook_key: str
    created_at: str
    updated_at: str
    desc: str = ""
    domain: str = ""
    env_var: Mapping[str, str] = field(default_factory=dict)
    version_control: Mapping[str, str] = field(default_factory=dict)
    docker_file_type: int = 1
    custom_docker_file: str = ""
    volumes: tuple[Volume, ...] = ()
    containers: tuple[Container, ...] = ()

    @property
    def version(self) -> str | None:
        return self.version_control.get("version")


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    """A validated create request."""

    name: str
    image_type: int
    image_id: int
    spec_id: int
    replicas: int = 1
    desc: str = ""
    domain: str = ""
    env_var: Mapping[str, str] = field(default_factory=dict)
    version_control: Mapping[str, str] = field(default_factory=dict)
    docker_file_type: int = 1
    custom_docker_file: str = ""
    log_dirs: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ClusterPatch:
    """A validated update request: None means "not sent"; version_control is merged."""

    desc: str | None = None
    env_var: Mapping[str, str] | None = None
    version_control: Mapping[str, str] | None = None
    docker_file_type: int | None = None
    custom_docker_file: str | None = None
    log_dirs: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class HookPost:
    """A POST received on a cluster's web hook URL, kept verbatim for tests."""

    cluster_id: int
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Deploy:
    """A rollout started on a cluster: `trigger` is create, update or hook."""

    cluster_id: int
    version: str | None
    trigger: str
    at: str
