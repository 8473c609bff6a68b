"""Path filters, skip markers and incomplete file lists (gates.filters, gates.changes)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relay.gates.changes import (
    CommitFiles,
    PushChanges,
    changes_from_gitea,
    changes_from_github,
    changes_from_gitlab,
)
from relay.gates.filters import (
    DEFAULT_SKIP_MARKERS,
    FilterDecision,
    FilterError,
    RouteFilters,
    Verdict,
    decide,
    decide_files,
    decide_markers,
    decide_paths,
    explain,
    find_marker,
)

DEPLOY, IGNORE, COMPARE = Verdict.DEPLOY, Verdict.IGNORE, Verdict.NEEDS_COMPARE


def one_commit(*modified: str, message: str = "change") -> PushChanges:
    return PushChanges(commits=(CommitFiles(modified=modified),), head_message=message)


@pytest.mark.parametrize(("paths", "ignore", "files", "verdict"), [
    (None, None, ["a.py"], DEPLOY),
    (None, ["docs/**"], ["docs/index.md"], IGNORE),  # only docs changed
    (None, ["docs/**"], ["docs/index.md", "src/app.py"], DEPLOY),
    (None, ["docs/**", "*.md"], ["README.md", "docs/a/b/c.md"], IGNORE),
    (None, ["*.md"], ["docs/guide.md"], DEPLOY),  # `*` stays in one directory
    (None, ["**/*.md"], ["docs/guide.md", "README.md"], IGNORE),  # `**/` also matches nothing
    (["src/**"], None, ["src/app.py"], DEPLOY),
    (["src/**"], None, ["srcs/app.py", "README.md"], IGNORE),
    (["src/**"], None, ["src"], IGNORE),  # `src/**` is below src/, not src itself
    (["src/**", "Dockerfile"], None, ["Dockerfile"], DEPLOY),
    (["src/**"], ["src/**/*_test.py"], ["src/a/x_test.py"], IGNORE),
    (["src/**"], ["src/**/*_test.py"], ["src/a/x_test.py", "src/a/x.py"], DEPLOY),
    (["src/**"], ["docs/**"], ["docs/a.md", "README.md"], IGNORE),  # nothing matches paths
    (["src/**"], None, [], IGNORE),  # a push that changed no file
    (None, ["docs/**"], [], IGNORE),
    (None, None, [], DEPLOY),  # no filters: nothing is looked at
    (["/src/**"], None, ["src/app.py"], DEPLOY),  # a leading slash is the repository root
    (["SRC/**"], None, ["src/app.py"], IGNORE),  # paths are case-sensitive
    (["src/?.py"], None, ["src/a.py"], DEPLOY),
    (["src/[ab].py"], None, ["src/c.py"], IGNORE),
])
def test_paths_and_paths_ignore(paths: list[str] | None, ignore: list[str] | None,
                                files: list[str], verdict: Verdict) -> None:
    filters = RouteFilters(paths=None if paths is None else tuple(paths),
                           paths_ignore=None if ignore is None else tuple(ignore))
    assert decide_files(filters, files).verdict is verdict


@pytest.mark.parametrize(("filters", "files", "reason"), [
    (RouteFilters(paths_ignore=("docs/**",)), ["docs/a.md", "docs/b.md"],
     "all of the 2 changed files match paths_ignore"),
    (RouteFilters(paths=("src/**",)), ["README.md"], "none of the 1 changed file matches paths"),
    (RouteFilters(paths=("src/**",), paths_ignore=("*.md",)), ["README.md", "src/a.py"],
     "src/a.py matches paths and is not matched by paths_ignore"),
    # The two conditions are independent (CONTRACT section 9): a file matching `paths` and
    # another not matching `paths_ignore` deploy together.
    (RouteFilters(paths=("src/**",), paths_ignore=("src/**/*_test.py",)),
     ["src/a/x_test.py", "README.md"],
     "src/a/x_test.py matches paths and README.md is not matched by paths_ignore"),
    (RouteFilters(paths_ignore=("docs/**",)), ["docs/a.md", "x.py"],
     "x.py is not matched by paths_ignore"),
    (RouteFilters(), ["x"], "no path filters"),
])
def test_decisions_say_why(filters: RouteFilters, files: list[str], reason: str) -> None:
    assert decide_files(filters, files).reason == reason


@pytest.mark.parametrize(("changes", "reason"), [
    (PushChanges(commits=(), created=True), "a new branch"),
    (PushChanges(commits=(CommitFiles(modified=("a",)),), forced=True), "a forced push"),
    (PushChanges(commits=()), "the payload lists no commits"),
    (PushChanges(commits=(CommitFiles(modified=("a",)),) * 20, total_commits=25),
     "the push has 25 commits and the payload lists 20"),
    (PushChanges(commits=(CommitFiles(modified=("a",)),) * 20),  # GitHub gives no total
     "the payload lists 20 commits, the most the host sends with files"),
    (PushChanges(commits=(CommitFiles(added=None),)), "a commit in the payload has no file"),
])
def test_incomplete_file_lists_ask_the_compare_api(changes: PushChanges, reason: str) -> None:
    filters = RouteFilters(paths_ignore=("docs/**",))
    asked = decide_paths(filters, changes, is_tag=False)
    assert asked.verdict is COMPARE and reason in asked.reason
    without_api = decide_paths(filters, changes, is_tag=False, can_compare=False)
    assert without_api.verdict is DEPLOY
    assert reason in without_api.reason and "the source has no api" in without_api.reason


@pytest.mark.parametrize("changes", [
    PushChanges(commits=(CommitFiles(modified=("a",)),) * 19),
    PushChanges(commits=(CommitFiles(modified=("a",)),) * 20, total_commits=20),
])
def test_complete_lists_need_no_compare(changes: PushChanges) -> None:
    assert changes.incomplete_reason() is None
    decision = decide_paths(RouteFilters(paths_ignore=("a",)), changes, is_tag=False)
    assert decision.verdict is IGNORE


def test_without_path_filters_incomplete_lists_do_not_matter() -> None:
    decision = decide_paths(RouteFilters(), PushChanges(commits=(), created=True), is_tag=False)
    assert decision == FilterDecision("paths", DEPLOY, "no path filters")


def test_the_docs_example_of_independent_conditions() -> None:
    filters = RouteFilters(paths=("src/**", "Dockerfile"), paths_ignore=("docs/**", "**/*.md"))
    assert decide_files(filters, ["src/app_test.md", "Makefile"]).verdict is DEPLOY
    assert decide_files(filters, ["src/app_test.md"]).verdict is IGNORE
    assert decide_files(filters, ["docs/a.md", "Makefile"]).verdict is IGNORE


def test_tags_ignore_paths() -> None:
    decision = decide_paths(RouteFilters(paths=("src/**",)), one_commit("README.md"), is_tag=True)
    assert decision == FilterDecision("paths", DEPLOY, "tags ignore paths")


def test_files_are_gathered_over_every_commit_and_list() -> None:
    changes = PushChanges(commits=(CommitFiles(added=("docs/a.md",)),
                                   CommitFiles(removed=("src/old.py",)),
                                   CommitFiles(modified=("docs/b.md",))))
    assert changes.files == {"docs/a.md", "src/old.py", "docs/b.md"}
    assert decide_paths(RouteFilters(paths_ignore=("docs/**",)), changes,
                        is_tag=False).verdict is DEPLOY  # removing src/old.py counts


@pytest.mark.parametrize(("message", "marker"), [
    ("fix typo [skip ci]", "[skip ci]"),
    ("Fix typo [Skip CI]", "[skip ci]"),  # any capitalisation
    ("docs\n\n[ci skip]", "[ci skip]"),  # anywhere in the message, not only the subject
    ("[NO CI] bump", "[no ci]"),
    ("release [skip deploy]", "[skip deploy]"),
    ("release [deploy skip]", "[deploy skip]"),
    ("skip ci", None),  # without the brackets it is just words
    ("[skip-ci]", None),
    ("", None),
    (None, None),
])
def test_default_skip_markers(message: str | None, marker: str | None) -> None:
    assert find_marker(DEFAULT_SKIP_MARKERS, message) == marker


@pytest.mark.parametrize(("markers", "message", "verdict", "reason"), [
    (DEFAULT_SKIP_MARKERS, "x [skip ci]", IGNORE, "the head commit message contains [skip ci]"),
    ((), "x [skip ci]", DEPLOY, "no skip markers configured"),  # a route's `[]`
    (("[hold]",), "x [skip ci]", DEPLOY, "the head commit message contains no skip marker"),
    (("[hold]",), "x [HOLD]", IGNORE, "the head commit message contains [hold]"),
])
def test_route_markers_override_the_default(markers: tuple[str, ...], message: str,
                                            verdict: Verdict, reason: str) -> None:
    decision = decide_markers(RouteFilters(skip_markers=markers), message)
    assert (decision.verdict, decision.reason) == (verdict, reason)


def test_markers_are_decided_before_paths_and_apply_to_tags() -> None:
    filters = RouteFilters(paths=("src/**",))
    skipped = one_commit("README.md", message="[skip ci] readme")
    assert decide(filters, skipped, is_tag=False).filter == "skip_markers"
    assert decide(filters, skipped, is_tag=True).verdict is IGNORE
    incomplete = PushChanges(commits=(), created=True, head_message="[ci skip]")
    assert decide(filters, incomplete, is_tag=False).verdict is IGNORE  # no API call needed
    assert decide(filters, one_commit("src/a.py"), is_tag=False).verdict is DEPLOY


def test_explain_shows_each_filter() -> None:
    filters = RouteFilters(paths_ignore=("docs/**",))
    assert explain(filters, paths=["docs/a.md"], message="update [skip ci]") == (
        FilterDecision("skip_markers", IGNORE, "the head commit message contains [skip ci]"),
        FilterDecision("paths", IGNORE, "all of the 1 changed file match paths_ignore"),
    )
    assert explain(filters, paths=None, message=None) == (
        FilterDecision("skip_markers", DEPLOY, "no message given"),
        FilterDecision("paths", DEPLOY, "no paths given"),
    )
    assert explain(filters, paths=["docs/a.md"], message="x", is_tag=True)[1].reason == \
        "tags ignore paths"


@pytest.mark.parametrize(("fields", "problem"), [
    ({"paths": ()}, "paths: an empty list would never deploy"),
    ({"paths": ("src/[",)}, "paths[0]: unclosed '['"),
    ({"paths_ignore": ("ok", "")}, "paths_ignore[1]: empty pattern"),
    ({"skip_markers": ("[skip ci]", " ")}, "skip_markers[1]: must not be empty"),
])
def test_invalid_filters_name_the_key(fields: dict[str, Any], problem: str) -> None:
    with pytest.raises(FilterError) as caught:
        RouteFilters(**fields)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


segment = st.text(alphabet="abcxyz._-", min_size=1, max_size=6)
path = st.lists(segment, min_size=1, max_size=4).map("/".join)


@given(files=st.lists(path, min_size=1, max_size=8))
def test_ignoring_everything_ignores_and_ignoring_nothing_deploys(files: list[str]) -> None:
    assert decide_files(RouteFilters(paths_ignore=("**",)), files).verdict is IGNORE
    assert decide_files(RouteFilters(paths=("**",)), files).verdict is DEPLOY
    one_dir = RouteFilters(paths_ignore=("docs/**",))
    assert decide_files(one_dir, [*files, "docs/x"]).verdict is DEPLOY or \
        all(f.startswith("docs/") for f in files)


# Payload excerpts of the shapes the hosts document (only the keys read).
GITHUB_PUSH = {
    "before": "a" * 40, "after": "b" * 40, "created": False, "forced": False,
    "commits": [{"id": "b" * 40, "message": "docs [skip ci]", "added": ["docs/new.md"],
                 "modified": ["README.md"], "removed": []}],
    "head_commit": {"id": "b" * 40, "message": "docs [skip ci]"},
}


def test_changes_from_github() -> None:
    changes = changes_from_github(GITHUB_PUSH)
    assert changes.files == {"docs/new.md", "README.md"}
    assert changes.head_message == "docs [skip ci]" and changes.incomplete_reason() is None
    created = changes_from_github(GITHUB_PUSH | {"before": "0" * 40})
    assert created.created and "new branch" in (created.incomplete_reason() or "")
    forced = changes_from_github(GITHUB_PUSH | {"forced": True})
    assert "forced" in (forced.incomplete_reason() or "")


def test_changes_from_gitlab_with_a_cut_list() -> None:
    commits = [{"id": f"{i:040d}", "message": f"c{i}", "added": [], "modified": [f"f{i}"],
                "removed": []} for i in range(20)]
    payload = {"before": "a" * 40, "after": f"{19:040d}", "checkout_sha": f"{19:040d}",
               "total_commits_count": 25, "commits": commits}
    changes = changes_from_gitlab(payload)
    assert changes.head_message == "c19" and changes.total_commits == 25
    decision = decide_paths(RouteFilters(paths_ignore=("docs/**",)), changes, is_tag=False)
    assert decision.verdict is COMPARE
    assert "the push has 25 commits and the payload lists 20" in decision.reason


def test_changes_from_gitea() -> None:
    payload = {"before": "a" * 40, "total_commits": 1, "head_commit": {"message": "m"},
               "commits": [{"added": ["x"], "modified": [], "removed": []}]}
    changes = changes_from_gitea(payload)
    assert changes == PushChanges(commits=(CommitFiles(("x",), (), ()),), head_message="m",
                                  total_commits=1)


@pytest.mark.parametrize("payload", [{}, {"commits": "nope"}, {"commits": [1, None]},
                                     {"commits": [{"added": "x"}]}])
def test_odd_payloads_read_as_incomplete(payload: dict[str, Any]) -> None:
    for parse in (changes_from_github, changes_from_gitlab, changes_from_gitea):
        assert parse(payload).incomplete_reason() is not None


FILE_LISTS = ("added", "modified", "removed")


class Untouchable(dict[str, Any]):
    """A commit object that fails the test when its file lists are read."""

    def get(self, key: str, default: Any = None) -> Any:
        if key in FILE_LISTS:
            raise AssertionError("the commit's file lists were read")
        return super().get(key, default)

    def __getitem__(self, key: str) -> Any:
        if key in FILE_LISTS:
            raise AssertionError("the commit's file lists were read")
        return super().__getitem__(key)


UNTOUCHABLE_PUSH = {"before": "a" * 40, "after": "b" * 40, "checkout_sha": "b" * 40,
                    "head_commit": {"message": "Fix [skip ci]"}, "total_commits": 1,
                    "total_commits_count": 1,
                    "commits": [Untouchable(id="b" * 40, message="Fix [skip ci]",
                                            added=["docs/a.md"])]}


@pytest.mark.parametrize("parse", [changes_from_github, changes_from_gitlab, changes_from_gitea])
def test_file_lists_left_unread_read_as_incomplete(parse: Any) -> None:
    """Without a route that filters paths the handler leaves the file lists unread: the rest
    of the changes is read as before, and unread lists never read as "nothing changed"."""
    changes = parse(UNTOUCHABLE_PUSH, file_lists=False)
    assert changes.commits is None
    with pytest.raises(ValueError, match="not read"):
        changes.files  # noqa: B018 - never "nothing changed"
    assert changes.head_message == "Fix [skip ci]"
    assert changes.incomplete_reason() == "the payload's file lists were not read"
    assert decide(RouteFilters(skip_markers=()), changes, is_tag=False).verdict is DEPLOY
    assert decide(RouteFilters(), changes, is_tag=False).verdict is IGNORE  # the marker
    paths = RouteFilters(paths_ignore=("docs/**",), skip_markers=())
    assert decide(paths, changes, is_tag=False).verdict is COMPARE
    assert decide(paths, changes, is_tag=False, can_compare=False).verdict is DEPLOY
    with pytest.raises(AssertionError, match="file lists were read"):
        parse(UNTOUCHABLE_PUSH)


@given(st.one_of(st.text(alphabet="0a ", max_size=6), st.text(max_size=3), st.none(),
                 st.integers()))
def test_a_zero_sha_is_a_non_empty_run_of_zeros(value: object) -> None:
    from relay.gates.changes import _is_zero

    expected = isinstance(value, str) and bool(value) and set(value) <= {"0"}
    assert _is_zero(value) is expected
