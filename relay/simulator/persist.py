"""Save and load the simulator's clusters as a JSON file (written atomically).

The file holds passwords as they were sent: it is a local developer file, like a database.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from relay.simulator.demo import IMAGES
from relay.simulator.model import Cluster, Container, Deploy, Volume
from relay.simulator.state import SimState

FORMAT = 1


def save_state(state: SimState, path: Path) -> None:
    """Write the state to `path` via a temporary file and `os.replace` (never half-written)."""
    document = {
        "format": FORMAT,
        "next_id": state.next_id,
        "clusters": [_dump(c) for c in sorted(state.clusters.values(), key=lambda c: c.id)],
        "deploys": [
            {"cluster_id": d.cluster_id, "version": d.version, "trigger": d.trigger, "at": d.at}
            for d in state.deploys
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(document, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_state(path: Path) -> SimState:
    """Read a state file written by `save_state`; ValueError saying what is wrong otherwise."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        if document.get("format") != FORMAT:
            raise ValueError(f"unsupported format {document.get('format')!r}")
        clusters = [_load(c) for c in document["clusters"]]
        deploys = [Deploy(**d) for d in document.get("deploys", [])]
        return SimState(IMAGES, clusters, next_id=int(document["next_id"]), deploys=deploys)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"simulator state file {path}: cannot be loaded ({exc})") from exc


def _dump(cluster: Cluster) -> dict[str, Any]:
    return {
        "id": cluster.id, "name": cluster.name, "status": cluster.status,
        "replicas": cluster.replicas, "spec_id": cluster.spec_id,
        "image_type": cluster.image_type, "image_id": cluster.image_id,
        "hook_key": cluster.hook_key, "created_at": cluster.created_at,
        "updated_at": cluster.updated_at, "desc": cluster.desc, "domain": cluster.domain,
        "env_var": dict(cluster.env_var), "version_control": dict(cluster.version_control),
        "docker_file_type": cluster.docker_file_type,
        "custom_docker_file": cluster.custom_docker_file,
        "volumes": [{"name": v.name, "mount_path": v.mount_path} for v in cluster.volumes],
        "containers": [
            {"container_id": c.container_id, "private_ip": c.private_ip}
            for c in cluster.containers
        ],
    }


def _load(raw: dict[str, Any]) -> Cluster:
    fields = dict(raw)
    fields["volumes"] = tuple(Volume(**v) for v in raw["volumes"])
    fields["containers"] = tuple(Container(**c) for c in raw["containers"])
    return Cluster(**fields)
