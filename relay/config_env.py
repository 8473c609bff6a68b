"""The `*_env` keys: variable names checked always, the variables themselves on request.

Pure: the environment is a mapping handed in (the process environment, passed by the CLI). Messages
name the variable, never its value: a value where a name belongs may be the secret itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from relay.config_problems import ConfigProblem, describe, join
from relay.config_schema import ENV_NAME, SOURCE_KEY
from relay.events import Source
from relay.secret import Secret

NOT_A_NAME = ("is not an environment variable name (letters, digits, '_'): "
              "the file names the variable, the value lives in the environment")


@dataclass(frozen=True, slots=True)
class EnvKey:
    """One variable the file names: where (key path), which, and may it be unset."""

    path: str
    name: str
    optional: bool = False


def env_keys(data: object) -> tuple[list[EnvKey], list[ConfigProblem]]:
    """Every well-formed variable name of the document, and a problem for each malformed one.

    Defaults apply: `cluster_api.token_env` RELAY_API_TOKEN, `admin.token_env`
    RELAY_ADMIN_TOKEN (optional: the admin API is off while it is unset).
    """
    root = data if isinstance(data, dict) else {}
    keys: list[EnvKey] = []
    problems: list[ConfigProblem] = []

    def one(path: str, value: object, *, optional: bool = False) -> None:
        if not isinstance(value, str):
            problems.append(ConfigProblem(
                path, f"must be an environment variable name, got {describe(value)}"))
        elif not ENV_NAME.match(value):
            problems.append(ConfigProblem(path, NOT_A_NAME))
        else:
            keys.append(EnvKey(path, value, optional))

    for path, value, optional in _named(root):
        if isinstance(value, list) and path.startswith("sources."):
            if not value:
                problems.append(ConfigProblem(path, "must name at least one environment "
                                                    "variable"))
            for index, item in enumerate(value):
                one(join(path, index), item)
        else:
            one(path, value, optional=optional)
    return keys, problems


def _named(root: Mapping[object, object]) -> Iterator[tuple[str, object, bool]]:
    """(key path, value, optional) of every `*_env` key, defaults included, in file order."""
    api = root.get("cluster_api")
    api = api if isinstance(api, dict) else {}
    yield "cluster_api.token_env", api.get("token_env", "RELAY_API_TOKEN"), False
    sources = root.get("sources")
    for source in Source:
        entry = sources.get(source.value) if isinstance(sources, dict) else None
        key = SOURCE_KEY[source]
        if isinstance(entry, dict) and key in entry:
            yield f"sources.{source}.{key}", entry[key], False
        api_block = entry.get("api") if isinstance(entry, dict) else None
        if isinstance(api_block, dict) and "token_env" in api_block:
            yield f"sources.{source}.api.token_env", api_block["token_env"], False
    admin = root.get("admin")
    admin = admin if isinstance(admin, dict) else {}
    yield "admin.token_env", admin.get("token_env", "RELAY_ADMIN_TOKEN"), True
    routes = root.get("routes")
    for index, route in enumerate(routes if isinstance(routes, list) else []):
        block = route.get("version_control") if isinstance(route, dict) else None
        if isinstance(block, dict) and "password_env" in block:
            yield f"routes[{index}].version_control.password_env", block["password_env"], False


def read_secrets(keys: list[EnvKey], environ: Mapping[str, str]
                 ) -> tuple[dict[str, Secret | None], list[ConfigProblem]]:
    """Each key path -> its Secret (None: optional and unset), and every problem.

    Unset (unless optional), empty or blank, and a value with leading or trailing whitespace
    or a line break are problems: a secret copied with `echo secret > file` carries a line
    break that the git host does not send, and every delivery would then fail verification.
    """
    secrets: dict[str, Secret | None] = {}
    problems: list[ConfigProblem] = []
    for key in keys:
        value = environ.get(key.name)
        if value is None:
            if key.optional:
                secrets[key.path] = None
            else:
                problems.append(ConfigProblem(
                    key.path, f"environment variable {key.name} is not set"))
        elif not value.strip():
            problems.append(ConfigProblem(
                key.path, f"environment variable {key.name} is set but empty"))
        elif value != value.strip() or "\n" in value or "\r" in value:
            problems.append(ConfigProblem(
                key.path, f"environment variable {key.name} has leading or trailing whitespace "
                          "or a line break (the value is not shown): remove it, e.g. "
                          "`printf %s` rather than `echo` when writing the secret to a file"))
        else:
            secrets[key.path] = Secret(value, source=key.name)
    return secrets, problems
