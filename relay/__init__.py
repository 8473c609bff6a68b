"""relay: a CI/CD webhook relay and deploy orchestrator for the NetEase Cloud cluster API.

`__version__` is the one source of the version: pyproject.toml reads it (setuptools' dynamic
version), and so do `relay --version`, the cluster API client's User-Agent and the
`relay_build_info` metric.
"""

from __future__ import annotations

import functools
from pathlib import Path

__version__ = "0.2.0.dev0"

_PACKAGE = Path(__file__).resolve().parent


@functools.cache
def revision() -> str:
    """The git commit relay runs from (40 hex digits), or "unknown".

    From a git checkout (`make run`, an editable install): the checkout's HEAD, asked of
    `git rev-parse` (2 s timeout). From a wheel or the container image: the file
    relay/REVISION that `make dist` and the image build (build argument RELAY_REVISION)
    write. Cached for the life of the process; never raises.
    """
    if (_PACKAGE.parent / ".git").exists():
        import subprocess

        try:
            found = subprocess.run(
                ["git", "-C", str(_PACKAGE.parent), "rev-parse", "--verify", "-q", "HEAD"],
                capture_output=True, text=True, timeout=2, check=False,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            found = ""
        if _is_commit(found):
            return found
    try:
        written = (_PACKAGE / "REVISION").read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return written if _is_commit(written) else "unknown"


def _is_commit(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)
