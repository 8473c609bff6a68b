"""Which branch heads catch-up reads (relay.reconcile_plan), and what check-config says."""

from __future__ import annotations

from relay.config_sections import check_document
from relay.events import Source
from relay.reconcile_plan import Target, is_exact, targets, uncovered
from relay.settings import Action, Route


def route(index: int, repo: str, *, branch: str | None = None, tag: str | None = None,
          source: Source | None = None) -> Route:
    return Route(index=index, repo=repo, branch=branch, tag=tag, cluster=index + 1,
                 action=Action.VERSION, source=source)


ROUTES = (
    route(0, "acme/shop", branch="main"),
    route(1, "acme/shop", branch="release/*"),
    route(2, "acme/*", branch="main"),
    route(3, "acme/shop", tag="v*"),
    route(4, "acme/api", branch="main", source=Source.GITLAB),
    route(5, "acme/shop", branch="main", source=Source.GITHUB),  # same head as route 0
)


def test_exact_names_only() -> None:
    assert is_exact("main") and is_exact("acme/shop") and is_exact("release-1.2")
    assert not any(is_exact(p) for p in ("release/*", "v?", "[ab]", "{a,b}", "a\\*"))


def test_targets_are_exact_branches_on_sources_with_api_each_once() -> None:
    assert targets(ROUTES, [Source.GITHUB]) == (Target(Source.GITHUB, "acme/shop", "main"),)
    assert targets(ROUTES, [Source.GITHUB, Source.GITLAB]) == (
        Target(Source.GITHUB, "acme/shop", "main"),
        Target(Source.GITLAB, "acme/api", "main"),
        Target(Source.GITLAB, "acme/shop", "main"),
    )
    assert targets(ROUTES, []) == ()
    assert Target(Source.GITHUB, "acme/shop", "main").ref == "refs/heads/main"


def test_uncovered_names_globs_and_sources_without_api() -> None:
    found = {r.index: why for r, why in uncovered(ROUTES, [Source.GITHUB])}
    assert set(found) == {1, 2, 4}
    assert "glob" in found[1] and "acme/shop release/*" in found[1]
    assert "sources.gitlab has no api" in found[4]
    assert uncovered(ROUTES, []) == []  # catch-up is not in use: nothing to say


DOC = {
    "sources": {"github": {"secret_env": "S", "api": {"url": "https://api.github.com",
                                                       "token_env": "GH_API"}}},
    "routes": [{"repo": "acme/shop", "branch": "main", "cluster": 1, "action": "version"},
               {"repo": "acme/shop", "branch": "release/*", "cluster": 2,
                "action": "version"}],
}


def test_check_config_warns_about_a_glob_branch_and_reads_the_api_token() -> None:
    report = check_document(DOC, {"S": "secret", "RELAY_API_TOKEN": "t", "GH_API": "gh"})
    assert not report.problems
    assert [str(w) for w in report.warnings if w.path.startswith("routes[1]")] == [
        "routes[1]: catch-up does not poll glob branches or repositories (acme/shop "
        "release/*): a push missed there is not caught up"]
    assert report.settings is not None
    api = report.settings.sources[Source.GITHUB].api
    assert api is not None and api.url == "https://api.github.com"
    assert api.token.reveal() == "gh"
    assert report.settings.reconcile.interval_s == 300
    assert report.settings.retention.deliveries_days == 30


def test_catch_up_off_says_nothing_and_bad_values_are_named() -> None:
    off = check_document({**DOC, "reconcile": {"interval_s": 0}}, None)
    assert not [w for w in off.warnings if "catch-up" in w.message]
    bad = check_document({**DOC, "reconcile": {"interval_s": -1},
                          "retention": {"deliveries_days": 0},
                          "sources": {"github": {"secret_env": "S", "api": {
                              "url": "ftp://x", "token_env": "GH_API"}}}}, None)
    messages = [str(p) for p in bad.problems]
    assert "reconcile.interval_s: must be at least 0, got -1" in messages
    assert "retention.deliveries_days: must be a positive integer, got 0" in messages
    assert any(m.startswith("sources.github.api.url: must be 'embedded' or an http(s) URL "
                            "such as https://api.github.com") for m in messages)
    missing = check_document(DOC, {"S": "secret", "RELAY_API_TOKEN": "t"})
    assert [str(p) for p in missing.problems] == [
        "sources.github.api.token_env: environment variable GH_API is not set"]
