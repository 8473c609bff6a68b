"""The simulator's live state: clusters, images, change notification, and what tests inspect.

Every mutation goes through a method here, which bumps `updated_at` where it should and wakes
the cluster's watchers (one `asyncio.Event` per cluster, replaced each time it fires).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import secrets
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from relay.simulator.model import (
    CREATING,
    Cluster,
    ClusterPatch,
    ClusterSpec,
    Container,
    Deploy,
    HookPost,
    Image,
    Volume,
)

FIRST_ID = 10700
_T = TypeVar("_T")


def utc_now() -> str:
    """The current time as the API writes it: UTC, ISO 8601, whole seconds, `Z`."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class SimState:
    """Clusters by id plus the request log tests assert on (see the attributes below)."""

    def __init__(
        self,
        images: Iterable[Image],
        clusters: Iterable[Cluster] = (),
        *,
        next_id: int = FIRST_ID,
        deploys: Iterable[Deploy] = (),
        now: Callable[[], str] = utc_now,
        seed: int | None = None,
    ) -> None:
        self.images: tuple[Image, ...] = tuple(images)
        self.clusters: dict[int, Cluster] = {c.id: c for c in clusters}
        self.next_id = max([next_id, *(c.id + 1 for c in self.clusters.values())])
        self.now = now
        self._rng = random.Random(seed)
        self._mask_key = secrets.token_bytes(16)
        self._events: dict[int, asyncio.Event] = {}
        self.closing = False
        self.listeners: list[Callable[[], None]] = []  # called after every mutation
        # What tests inspect:
        self.requests: Counter[str] = Counter()  # operation name -> requests received
        self.put_bodies: dict[int, list[Any]] = {}  # cluster id -> PUT bodies, as parsed
        self.hook_posts: list[HookPost] = []
        self.deploys: list[Deploy] = list(deploys)  # every rollout started, in order
        self.issued_masks: set[str] = set()  # every masked password handed out
        self.watching: Counter[int] = Counter()  # cluster id -> watches held open now
        self._parked: dict[int, asyncio.Event] = {}

    # -- reading ---------------------------------------------------------------------------

    def cluster(self, cluster_id: int) -> Cluster | None:
        return self.clusters.get(cluster_id)

    def by_hook_key(self, key: str) -> Cluster | None:
        return next((c for c in self.clusters.values() if c.hook_key == key), None)

    def by_name(self, name: str) -> Cluster | None:
        return next((c for c in self.clusters.values() if c.name == name), None)

    def image(self, image_id: int, *, custom: bool) -> Image | None:
        return next((i for i in self.images if i.id == image_id and i.custom == custom), None)

    def versions(self, cluster_id: int) -> list[str | None]:
        """The versions rolled out on a cluster, oldest first."""
        return [d.version for d in self.deploys if d.cluster_id == cluster_id]

    def stored_password(self, cluster_id: int) -> str | None:
        """The password exactly as last sent (what a real platform would use to clone)."""
        cluster = self.clusters.get(cluster_id)
        return None if cluster is None else cluster.version_control.get("password")

    def mask(self, password: str) -> str:
        """The opaque 16-hex value the API shows instead of a password (never the password)."""
        masked = hashlib.blake2b(password.encode(), key=self._mask_key, digest_size=8).hexdigest()
        self.issued_masks.add(masked)
        return masked

    # -- change notification ---------------------------------------------------------------

    def change_event(self, cluster_id: int) -> asyncio.Event:
        """An event set at the cluster's next change (or deletion)."""
        return self._events.setdefault(cluster_id, asyncio.Event())

    def notify(self, cluster_id: int) -> None:
        event = self._events.pop(cluster_id, None)
        if event is not None:
            event.set()
        for listener in self.listeners:
            listener()

    def watch_parked(self, cluster_id: int) -> asyncio.Event:
        """An event set when the next watch of the cluster is held open (for tests)."""
        return self._parked.setdefault(cluster_id, asyncio.Event())

    def park_watch(self, cluster_id: int) -> None:
        self.watching[cluster_id] += 1
        event = self._parked.pop(cluster_id, None)
        if event is not None:
            event.set()

    def shut_down(self) -> None:
        """Release every pending watch and make new ones answer at once."""
        self.closing = True
        for cluster_id in list(self._events):
            self.notify(cluster_id)

    # -- mutations -------------------------------------------------------------------------

    def create(self, spec: ClusterSpec) -> Cluster:
        """Add a cluster in status `creating`, without containers yet."""
        now = self.now()
        cluster = Cluster(
            id=self.next_id, name=spec.name, status=CREATING, replicas=spec.replicas,
            spec_id=spec.spec_id, image_type=spec.image_type, image_id=spec.image_id,
            hook_key=secrets.token_hex(16), created_at=now, updated_at=now, desc=spec.desc,
            domain=spec.domain, env_var=dict(spec.env_var),
            version_control=dict(spec.version_control), docker_file_type=spec.docker_file_type,
            custom_docker_file=spec.custom_docker_file, volumes=self._volumes((), spec.log_dirs),
        )
        self.next_id += 1
        self._put(cluster)
        return cluster

    def update(self, cluster_id: int, patch: ClusterPatch) -> tuple[Cluster, Cluster]:
        """Apply a patch (version_control merged key by key); return (before, after)."""
        before = self._get(cluster_id)
        after = dataclasses.replace(
            before,
            desc=_pick(patch.desc, before.desc),
            env_var=dict(_pick(patch.env_var, before.env_var)),
            version_control={**before.version_control, **(patch.version_control or {})},
            docker_file_type=_pick(patch.docker_file_type, before.docker_file_type),
            custom_docker_file=_pick(patch.custom_docker_file, before.custom_docker_file),
            volumes=(before.volumes if patch.log_dirs is None
                     else self._volumes(before.volumes, patch.log_dirs)),
            updated_at=self.now(),
        )
        self._put(after)
        return before, after

    def set_fields(self, cluster_id: int, **changes: Any) -> Cluster:
        """Replace some fields of a cluster (status, replicas, version_control...)."""
        cluster = dataclasses.replace(self._get(cluster_id), updated_at=self.now(), **changes)
        self._put(cluster)
        return cluster

    def swap_container(self, cluster_id: int, container_id: str) -> None:
        """Replace one container by a new one in the same place, if it is still there."""
        cluster = self._get(cluster_id)
        containers = tuple(
            self.new_container() if c.container_id == container_id else c
            for c in cluster.containers
        )
        self._put(dataclasses.replace(cluster, containers=containers, updated_at=self.now()))

    def settle(self, cluster_id: int, status: str) -> None:
        """Bring the container count to `replicas` and set the final status of an operation."""
        cluster = self._get(cluster_id)
        containers = cluster.containers[: cluster.replicas]
        missing = cluster.replicas - len(containers)
        containers += tuple(self.new_container() for _ in range(missing))
        self.set_fields(cluster_id, status=status, containers=containers)

    def delete(self, cluster_id: int) -> None:
        del self.clusters[cluster_id]
        self.notify(cluster_id)

    def record_deploy(self, cluster_id: int, version: str | None, trigger: str) -> None:
        self.deploys.append(Deploy(cluster_id, version, trigger, self.now()))

    def record_hook(self, cluster_id: int, body: bytes, headers: Mapping[str, str]) -> None:
        self.hook_posts.append(HookPost(cluster_id, body, dict(headers)))

    def record_put(self, cluster_id: int, body: Any) -> None:
        self.put_bodies.setdefault(cluster_id, []).append(body)

    # -- helpers ---------------------------------------------------------------------------

    def new_container(self) -> Container:
        ip = "10.{}.{}.{}".format(*(self._rng.randrange(1, 255) for _ in range(3)))
        return Container(container_id=f"{self._rng.getrandbits(256):064x}", private_ip=ip)

    def _volumes(self, old: tuple[Volume, ...], log_dirs: Iterable[str]) -> tuple[Volume, ...]:
        known = {v.mount_path: v for v in old}
        return tuple(
            known.get(path) or Volume(name=f"{self._rng.getrandbits(128):032x}", mount_path=path)
            for path in log_dirs
        )

    def _get(self, cluster_id: int) -> Cluster:
        return self.clusters[cluster_id]

    def _put(self, cluster: Cluster) -> None:
        self.clusters[cluster.id] = cluster
        self.notify(cluster.id)


def _pick(new: _T | None, old: _T) -> _T:
    return old if new is None else new
