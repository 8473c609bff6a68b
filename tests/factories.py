"""Builders of relay values for tests: settings without YAML, with test secrets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from relay.config import (
    Action,
    AdminSettings,
    ClusterApiSettings,
    RolloutSettings,
    Route,
    ServerSettings,
    Settings,
    SourceSettings,
    StoreSettings,
    VersionControlSettings,
)
from relay.events import Source
from relay.secret import Secret
from tests.payloads import GITLAB_TOKEN, OTHER_SECRET, SECRET

API_TOKEN = "test-api-token-7f3a"
ADMIN_TOKEN = "test-admin-token-91b2"
VC_PASSWORD = "vc-password-s3cr3t"


def routes(*, vc: bool = False) -> tuple[Route, ...]:
    password = Secret(VC_PASSWORD, "RELAY_VC_PASSWORD")
    block = VersionControlSettings(fields=(("account", "deploy@example.com"),),
                                   password=password) if vc else None
    return (
        Route(index=0, repo="acme/shop", branch="main", tag=None, cluster=10702,
              action=Action.VERSION, version_control=block),
        Route(index=1, repo="acme/shop", branch=None, tag="v*", cluster=10800, action=Action.HOOK),
        Route(index=2, repo="acme/api", branch="main", tag=None, cluster=10703,
              action=Action.VERSION),
    )


def make_settings(tmp_path: Path, *, base_url: str = "http://127.0.0.1:9", **kw: Any) -> Settings:
    secret = SECRET.decode("utf-8")
    sources = {
        Source.GITHUB: SourceSettings(Source.GITHUB, (Secret(OTHER_SECRET.decode(), "OLD"),
                                                      Secret(secret, "RELAY_GITHUB_SECRET"))),
        Source.GITLAB: SourceSettings(Source.GITLAB,
                                      (Secret(GITLAB_TOKEN.decode(), "RELAY_GITLAB_TOKEN"),)),
        Source.GITEA: SourceSettings(Source.GITEA, (Secret(secret, "RELAY_GITEA_SECRET"),)),
    }
    values: dict[str, Any] = dict(
        cluster_api=ClusterApiSettings(token=Secret(API_TOKEN, "RELAY_API_TOKEN"),
                                       base_url=base_url, request_timeout_s=5,
                                       watch_timeout_s=5),
        server=ServerSettings(max_body_bytes=64 * 1024),
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'relay.db'}"),
        sources=sources,
        admin=AdminSettings(token=Secret(ADMIN_TOKEN, "RELAY_ADMIN_TOKEN")),
        rollout=RolloutSettings(timeout_s=30),
        routes=routes(),
    )
    values.update(kw)
    return Settings(**values)


ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
