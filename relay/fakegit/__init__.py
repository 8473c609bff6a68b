"""In-process fakes of the GitHub, GitLab and Gitea APIs (real aiohttp apps).

They validate what the real hosts validate, record what they receive, let tests set up
repositories, branch heads, commits with changed files, check runs and pipelines (on a
`FakeHost`), and inject faults (relay.fakegit.faults). Used by tests, by `relay fake-git`,
and meant to be mounted by relay for `api.url: embedded`:

    app.add_subapp(PREFIX, create_fake_git_app({Source.GITHUB: token}))

See relay.fakegit.app for the URL layout, docs/githost.md for the whole story.
"""

from relay.fakegit.app import (
    API_PATHS,
    FAKE_HOSTS,
    HOST_APPS,
    PREFIX,
    api_url,
    create_fake_git_app,
)
from relay.fakegit.common import FAKE_HOST
from relay.fakegit.faults import GRAMMAR, OPERATIONS, GitFaults, parse_fault
from relay.fakegit.gitea import create_fake_gitea_app
from relay.fakegit.github import create_fake_github_app
from relay.fakegit.gitlab import create_fake_gitlab_app
from relay.fakegit.state import (
    MAX_STATUSES_PER_CONTEXT,
    CheckRun,
    DeploymentRecord,
    FakeError,
    FakeHost,
    Job,
    Pipeline,
    StatusRecord,
)

__all__ = [
    "API_PATHS", "FAKE_HOST", "FAKE_HOSTS", "GRAMMAR", "HOST_APPS", "MAX_STATUSES_PER_CONTEXT",
    "OPERATIONS", "PREFIX", "CheckRun", "DeploymentRecord", "FakeError", "FakeHost", "GitFaults",
    "Job", "Pipeline", "StatusRecord", "api_url", "create_fake_git_app", "create_fake_gitea_app",
    "create_fake_github_app", "create_fake_gitlab_app", "parse_fault",
]
