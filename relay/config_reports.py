"""The rules and settings of `sources.<host>.api`, `report`, `routes[].environment` and
`notify` (docs/configuration.md, docs/reporting.md). Pure: called by relay.config_sections.
"""

from __future__ import annotations

from collections.abc import Mapping

from relay.config_problems import ConfigProblem
from relay.config_schema import NotifySection, RelayConfig
from relay.events import Source
from relay.secret import Secret
from relay.settings import GitApiSettings, NotifySettings, ReportSettings, SinkType

REPORT_WITHOUT_API = ("reports go to the git hosts through their API, and no source has an "
                      "`api`: add sources.<host>.api {url, token_env}, or remove `report`")
WEBHOOK_NEEDS_SECRET = "a webhook sink signs its messages: set secret_env"
SECRET_ONLY_WEBHOOK = "only a webhook sink is signed: remove secret_env"


def _with_api(data: Mapping[object, object]) -> set[str]:
    sources = data.get("sources")
    if not isinstance(sources, dict):
        return set()
    return {str(name) for name, entry in sources.items()
            if isinstance(entry, dict) and entry.get("api") is not None}


def problems(data: Mapping[object, object]) -> list[ConfigProblem]:
    """`report` without any `api`; duplicate sink names; a webhook sink's secret rules."""
    found = []
    if data.get("report") is not None and not _with_api(data):
        found.append(ConfigProblem("report", REPORT_WITHOUT_API))
    sinks = data.get("notify")
    seen: set[str] = set()
    for index, sink in enumerate(sinks if isinstance(sinks, list) else []):
        if not isinstance(sink, dict):
            continue
        name = sink.get("name")
        if isinstance(name, str):
            if name in seen:
                found.append(ConfigProblem(f"notify[{index}].name",
                                           f"sink name {name!r} is used twice: names are unique"))
            seen.add(name)
        if sink.get("type") == "webhook" and sink.get("secret_env") is None:
            found.append(ConfigProblem(f"notify[{index}]", WEBHOOK_NEEDS_SECRET))
        if sink.get("type") in ("slack", "teams") and sink.get("secret_env") is not None:
            found.append(ConfigProblem(f"notify[{index}].secret_env", SECRET_ONLY_WEBHOOK))
    return found


def warnings(data: Mapping[object, object]) -> list[ConfigProblem]:
    """A route `environment` whose source (or, without `source`, every source) has no `api`."""
    with_api = _with_api(data)
    routes = data.get("routes")
    found = []
    for index, route in enumerate(routes if isinstance(routes, list) else []):
        if not isinstance(route, dict) or route.get("environment") is None:
            continue
        source = route.get("source")
        if (source not in with_api) if source is not None else not with_api:
            found.append(ConfigProblem(f"routes[{index}].environment", (
                "no API is configured for this route's source: the environment is reported "
                "nowhere (add sources.<host>.api)")))
    return found


def api_settings(config: RelayConfig, source: Source,
                 secrets: Mapping[str, Secret | None]) -> GitApiSettings | None:
    """The `api` of a source, its token read from the environment (None: no api)."""
    section = getattr(config.sources, source.value)
    if section is None or section.api is None:
        return None
    token = secrets.get(f"sources.{source}.api.token_env") or Secret("")
    return GitApiSettings(url=section.api.url, token=token)


def report_settings(config: RelayConfig) -> ReportSettings:
    """The `report` section, defaults when absent."""
    report = config.report
    if report is None:
        return ReportSettings()
    return ReportSettings(commit_status=report.commit_status, deployments=report.deployments,
                          context=report.context, public_url=report.public_url,
                          max_age_s=report.max_age_s)


def notify_settings(config: RelayConfig,
                    secrets: Mapping[str, Secret | None]) -> tuple[NotifySettings, ...]:
    """The `notify` sinks, their URL and secret read from the environment."""
    return tuple(_sink(index, sink, secrets) for index, sink in enumerate(config.notify))


def _sink(index: int, sink: NotifySection,
          secrets: Mapping[str, Secret | None]) -> NotifySettings:
    return NotifySettings(
        name=sink.name, type=SinkType(sink.type),
        url=secrets.get(f"notify[{index}].url_env") or Secret(""),
        secret=secrets.get(f"notify[{index}].secret_env"),
        on=tuple(sink.on), clusters=tuple(sink.clusters), repos=tuple(sink.repos))
