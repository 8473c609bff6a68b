"""The JSON shapes of the API's answers (docs/cluster-api.md §1, §5, §8), from model values."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from relay.simulator.model import CHARGE_TYPE, Cluster, Container, Image


def images_view(images: Iterable[Image]) -> dict[str, Any]:
    """`GET /apps/images`: custom and public images, heaviest first."""
    ordered = sorted(images, key=lambda i: (-i.weight, i.id))
    return {
        "custom_images": [_image(i) for i in ordered if i.custom],
        "public_images": [_image(i) for i in ordered if not i.custom],
    }


def _image(image: Image) -> dict[str, Any]:
    c = image.constraint
    return {
        "tag": image.tag, "desc": image.desc, "weight": image.weight, "id": image.id,
        "name": image.name,
        "constraint": None if c is None else {
            "min_combo": c.min_combo, "max_combo": c.max_combo,
            "min_machine_spec": c.min_machine_spec, "max_machine_spec": c.max_machine_spec,
        },
    }


def containers_view(containers: Iterable[Container]) -> list[dict[str, str]]:
    return [{"private_ip": c.private_ip, "container_id": c.container_id} for c in containers]


def cluster_view(
    cluster: Cluster, *, web_hook_url: str, mask: Callable[[str], str]
) -> dict[str, Any]:
    """`GET /apps/{id}`: every field of the API documentation's example; the password masked."""
    vc = dict(cluster.version_control)
    if "password" in vc:
        vc["password"] = mask(vc["password"])
    return {
        "id": cluster.id, "name": cluster.name, "desc": cluster.desc, "domain": cluster.domain,
        "status": cluster.status, "replicas": cluster.replicas,
        "volumes": [
            {"name": v.name, "mount_path": v.mount_path, "readonly": False}
            for v in cluster.volumes
        ],
        "charge_type": CHARGE_TYPE, "spec_id": cluster.spec_id,
        "created_at": cluster.created_at, "updated_at": cluster.updated_at,
        "public_ip": None, "private_ip": None, "version_control": vc,
        "custom_docker_file": cluster.custom_docker_file, "image_id": cluster.image_id,
        "containers": containers_view(cluster.containers), "env_var": dict(cluster.env_var),
        "web_hook_url": web_hook_url,
    }
