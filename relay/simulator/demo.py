"""The simulator's image catalogue and the demo clusters a fresh simulator starts with."""

from __future__ import annotations

import secrets

from relay.simulator.model import CREATE_SUCC, Cluster, Constraint, Image, Volume
from relay.simulator.state import SimState

# The API documentation's two example images, plus public image 3 so its create example works
# as is.
IMAGES = (
    Image(id=30202, name="4638_tomcat2", tag="v1", desc="v1", weight=0, custom=True),
    Image(id=3, name="tomcat", tag="8", desc="Tomcat 8 on CentOS", weight=5, custom=False),
    Image(
        id=10005, name="centos", tag="latest", desc="", weight=3, custom=False,
        constraint=Constraint(min_combo=20, max_combo=50, min_machine_spec=10,
                              max_machine_spec=40),
    ),
)

_DEMO = (
    # id, name, replicas, repository, version
    (10702, "shop-web", 2, "https://github.com/acme/shop.git",
     "9fceb02d0ae598e95dc970b74767f19372d61af8"),
    (10703, "shop-worker", 3, "https://github.com/acme/shop.git",
     "9fceb02d0ae598e95dc970b74767f19372d61af8"),
    (10800, "docs", 1, "https://gitlab.example.com/acme/docs.git",
     "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"),
)


def demo_state(*, seed_demo: bool = True, seed: int | None = None) -> SimState:
    """A fresh state: the image catalogue, plus the demo clusters when `seed_demo`."""
    state = SimState(IMAGES, seed=seed)
    if seed_demo:
        for cluster in _demo_clusters(state):
            state.clusters[cluster.id] = cluster
        state.next_id = max(state.clusters) + 1
    return state


def _demo_clusters(state: SimState) -> list[Cluster]:
    now = state.now()
    clusters = []
    for cluster_id, name, replicas, path, version in _DEMO:
        clusters.append(Cluster(
            id=cluster_id, name=name, status=CREATE_SUCC, replicas=replicas, spec_id=10,
            image_type=1, image_id=3, hook_key=secrets.token_hex(16), created_at=now,
            updated_at=now, desc=f"demo cluster {name}", domain=f"{name}.example.com",
            env_var={"APP_ENV": "production"},
            version_control={
                "type": "git", "path": path, "subdir": "", "branch": "main", "version": version,
                "account": "deploy@example.com", "password": "demo-password",
            },
            docker_file_type=1, custom_docker_file="",
            volumes=(Volume(name=secrets.token_hex(16), mount_path=f"/var/log/{name}"),),
            containers=tuple(state.new_container() for _ in range(replicas)),
        ))
    return clusters
