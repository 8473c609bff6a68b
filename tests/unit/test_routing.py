"""relay.routing and relay.globs: which routes a push matches, and why the others do not."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relay.config import Action, Route
from relay.events import PushEvent, Source
from relay.globs import GlobError, compile_glob
from relay.routing import MAX_REF_LENGTH, explain, lookup, split_ref, verdicts_to_json


def route(index: int, repo: str, *, branch: str | None = None, tag: str | None = None,
          cluster: int = 10702, action: Action = Action.VERSION,
          source: Source | None = None) -> Route:
    return Route(index=index, repo=repo, branch=branch, tag=tag, cluster=cluster, action=action,
                 source=source)


def push(repo: str, *, branch: str | None = None, tag: str | None = None,
         source: Source = Source.GITHUB) -> PushEvent:
    ref = f"refs/heads/{branch}" if branch is not None else f"refs/tags/{tag}"
    return PushEvent(source=source, delivery_key="d-1", repository=repo, ref=ref, branch=branch,
                     tag=tag, before="0" * 40, after="a" * 40, commit="a" * 40, created=False,
                     deleted=False, forced=False, head_commit=None, pusher=None)


def indexes(routes: tuple[Route, ...]) -> list[int]:
    return [r.index for r in routes]


# -- globs -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("pattern", "text", "matches"), [
    ("acme/*", "acme/shop", True),
    ("acme/*", "acme/sub/shop", False),  # * stays in one segment
    ("acme/**", "acme/shop", True),
    ("acme/**", "acme/sub/shop", True),
    ("acme/**", "other/shop", False),
    ("**/shop", "shop", True),
    ("**/shop", "a/b/shop", True),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/xb", False),
    ("**", "any/thing/at/all", True),
    ("release/*", "release/1.2", True),
    ("release/*", "release/1.2/hotfix", False),
    ("feature/**", "feature/a/b", True),
    ("v?", "v1", True),
    ("v?", "v12", False),
    ("a?b", "a/b", False),  # ? is not /
    ("v[0-9]*", "v2.0", True),
    ("v[0-9]*", "vx", False),
    ("v[!0-9]*", "vx", True),
    ("v[^0-9]*", "v1", False),
    ("x[!a]y", "x/y", False),  # a negated class never matches /
    ("[]]", "]", True),
    ("a\\*", "a*", True),
    ("a\\*", "ab", False),
    ("main", "main", True),
    ("main", "main2", False),  # whole-string match
    ("main", "xmain", False),
    ("a.b", "axb", False),  # regex characters are literal
    ("a+(b)", "a+(b)", True),
    ("[a&&b]", "&", True),
])
def test_glob_semantics(pattern: str, text: str, matches: bool) -> None:
    assert (compile_glob(pattern).match(text) is not None) is matches


def test_glob_case() -> None:
    assert compile_glob("Acme/Shop", ignore_case=True).match("acme/SHOP")
    assert not compile_glob("Main").match("main")


@pytest.mark.parametrize(("pattern", "message"), [
    ("", "empty pattern"),
    ("release/[0-9", "unclosed '[' at position 9"),
    ("[!", "unclosed '[' at position 1"),
    ("abc\\", "ends with a lone '\\'"),
    ("[z-a]", "bad character range z-a"),
    ("[a--z]", "'--' in a character class is ambiguous"),
])
def test_malformed_globs(pattern: str, message: str) -> None:
    with pytest.raises(GlobError) as info:
        compile_glob(pattern)
    assert str(info.value).startswith(message)


def test_route_compiles_its_globs_once_and_checks_branch_xor_tag() -> None:
    r = route(0, "acme/*", branch="main")
    assert r.repo_pattern is compile_glob("acme/*", ignore_case=True)
    assert r == dataclasses.replace(r)  # compiled patterns do not take part in equality
    assert "repo_pattern" not in repr(r)
    with pytest.raises(ValueError, match="exactly one of branch / tag"):
        route(0, "acme/shop", branch="main", tag="v*")
    with pytest.raises(ValueError, match="exactly one of branch / tag"):
        route(0, "acme/shop")
    with pytest.raises(GlobError):
        route(0, "acme/[shop", branch="main")


# -- lookup ------------------------------------------------------------------------------------

TABLE = (
    route(0, "acme/shop", branch="main", cluster=10702),
    route(1, "acme/shop", tag="v*", cluster=10800, action=Action.HOOK),
    route(2, "acme/*", branch="release/*", cluster=10900),
    route(3, "acme/**", branch="main", cluster=11000, source=Source.GITLAB),
    route(4, "acme/api", branch="main", cluster=10703),
)


@pytest.mark.parametrize(("event", "expected"), [
    (push("acme/shop", branch="main"), [0]),
    (push("ACME/Shop", branch="main"), [0]),  # repository: case-insensitive
    (push("acme/shop", branch="Main"), []),  # branch: case-sensitive, as git refs are
    (push("acme/shop", tag="v1.2.0"), [1]),
    (push("acme/shop", tag="main"), []),  # a tag named main is not the branch main
    (push("acme/shop", branch="v1.2.0"), []),  # a branch named like a tag is not a tag
    (push("acme/shop", branch="release/2024"), [2]),
    (push("acme/shop", branch="release/2024/rc"), []),
    (push("acme/sub/shop", branch="release/1"), []),  # * is one segment
    (push("acme/shop", branch="main", source=Source.GITLAB), [0, 3]),  # several, in file order
    (push("acme/group/shop", branch="main", source=Source.GITLAB), [3]),  # ** crosses segments
    (push("acme/group/shop", branch="main", source=Source.GITHUB), []),  # source filter
    (push("acme/api", branch="main", source=Source.GITEA), [4]),
    (push("other/shop", branch="main"), []),
])
def test_lookup(event: PushEvent, expected: list[int]) -> None:
    assert indexes(lookup(TABLE, event)) == expected


def test_lookup_on_an_empty_table() -> None:
    assert lookup((), push("acme/shop", branch="main")) == ()


# -- explain -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("ref", "expected"), [
    ("refs/heads/main", ("main", None)),
    ("refs/heads/feature/x", ("feature/x", None)),
    ("refs/tags/v1", (None, "v1")),
    ("main", ("main", None)),
    ("release/1", ("release/1", None)),
    ("refs/pull/1/head", (None, None)),
])
def test_split_ref(ref: str, expected: tuple[str | None, str | None]) -> None:
    assert split_ref(ref) == expected


def reasons(source: Source | None, repo: str, ref: str) -> dict[int, tuple[str, ...]]:
    return {v.route.index: v.reasons
            for v in explain(TABLE, source=source, repo=repo, ref=ref)}


def test_explain_judges_every_route_with_every_reason() -> None:
    verdicts = explain(TABLE, source=Source.GITHUB, repo="acme/api", ref="refs/heads/dev")
    assert [v.route.index for v in verdicts] == [0, 1, 2, 3, 4]
    assert not any(v.matched for v in verdicts)
    assert reasons(Source.GITHUB, "acme/api", "refs/heads/dev") == {
        0: ("repository 'acme/api' does not match 'acme/shop'",
            "branch 'dev' does not match 'main'"),
        1: ("repository 'acme/api' does not match 'acme/shop'",
            "ref is a branch but the route wants a tag"),
        2: ("branch 'dev' does not match 'release/*'",),
        3: ("source github is not gitlab", "branch 'dev' does not match 'main'"),
        4: ("branch 'dev' does not match 'main'",),
    }


def test_explain_matches_as_lookup_does() -> None:
    verdicts = explain(TABLE, source=Source.GITLAB, repo="ACME/shop", ref="refs/heads/main")
    assert [v.route.index for v in verdicts if v.matched] == [0, 3]
    assert all(v.reasons == () for v in verdicts if v.matched)


def test_explain_a_bare_name_is_a_branch_and_no_source_means_any() -> None:
    got = reasons(None, "acme/shop", "main")
    assert got[0] == () and got[3] == ()  # route 3 wants gitlab: any source includes it
    assert got[1] == ("ref is a branch but the route wants a tag",)


def test_explain_tags() -> None:
    got = reasons(Source.GITHUB, "acme/shop", "refs/tags/v2")
    assert got[1] == ()
    assert got[0] == ("ref is a tag but the route wants a branch",)
    assert reasons(None, "acme/shop", "refs/tags/2.0")[1] == ("tag '2.0' does not match 'v*'",)


def test_explain_a_ref_that_is_neither_branch_nor_tag() -> None:
    assert reasons(None, "acme/shop", "refs/pull/7/head")[0] == (
        "ref 'refs/pull/7/head' is neither a branch nor a tag",)


def test_verdicts_to_json() -> None:
    verdicts = explain(TABLE[:2], source=Source.GITHUB, repo="acme/shop", ref="refs/tags/v1")
    assert verdicts_to_json(verdicts, source=Source.GITHUB, repo="acme/shop",
                            ref="refs/tags/v1") == {
        "source": "github", "repo": "acme/shop", "ref": "refs/tags/v1", "matched": 1,
        "routes": [
            {"index": 0, "repo": "acme/shop", "branch": "main", "cluster": 10702,
             "action": "version", "source": None, "matched": False,
             "reasons": ["ref is a tag but the route wants a branch"]},
            {"index": 1, "repo": "acme/shop", "tag": "v*", "cluster": 10800,
             "action": "hook", "source": None, "matched": True, "reasons": []},
        ],
    }
    assert verdicts_to_json((), source=None, repo="a/b", ref="main")["source"] is None


# -- linear-time matching (issue 16.12) ---------------------------------------------------------


def _reference_regex(pattern: str, *, ignore_case: bool = False) -> re.Pattern[str]:
    """The translation relay used before 0.2 (a backtracking regex): the semantics to keep."""
    specials = str.maketrans({"\\": "\\\\", "[": "\\[", "]": "\\]", "&": "\\&", "~": "\\~",
                              "|": "\\|"})
    parts: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        char = pattern[i]
        if char == "*":
            end = i
            while end < n and pattern[end] == "*":
                end += 1
            if end - i == 1:
                parts.append("[^/]*")
            elif (i == 0 or pattern[i - 1] == "/") and pattern.startswith("/", end):
                parts.append("(?:.*/)?")
                end += 1
            else:
                parts.append(".*")
            i = end
        elif char == "?":
            parts.append("[^/]")
            i += 1
        elif char == "[":
            j = i + 1
            negate = j < n and pattern[j] in "!^"
            j += negate
            body_start = j
            if j < n and pattern[j] == "]":
                j += 1
            close = pattern.find("]", j)
            if close < 0:
                raise GlobError("unclosed")
            body = pattern[body_start:close]
            if "--" in body:
                raise GlobError("--")
            body = body.translate(specials)
            parts.append(f"[^/{body}]" if negate else f"[{body}]")
            i = close + 1
        elif char == "\\":
            if i + 1 == n:
                raise GlobError("lone backslash")
            parts.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            parts.append(re.escape(char))
            i += 1
    try:
        return re.compile(rf"(?s:{''.join(parts)})\Z", re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise GlobError(exc.msg) from exc


_PATTERN_ATOMS = st.sampled_from(["a", "b", "B", "-", "/", "*", "**", "**/", "?", "[ab]",
                                  "[!a]", "[^/]", "[a-c]", "[]]", "\\*", ".", "K"])


@settings(max_examples=600, deadline=None)
@given(atoms=st.lists(_PATTERN_ATOMS, min_size=1, max_size=7),
       text=st.text(alphabet="abAB-/.*]Kk\u212a", max_size=12),
       ignore_case=st.booleans())
def test_glob_matches_as_the_reference_regex(atoms: list[str], text: str,
                                             ignore_case: bool) -> None:
    pattern = "".join(atoms)
    expected = _reference_regex(pattern, ignore_case=ignore_case).match(text) is not None
    assert compile_glob(pattern, ignore_case=ignore_case).matches(text) is expected


@pytest.mark.parametrize("text", [
    "a-" * 125 + "b",  # a valid 251-character ref: backtracking took 5-7 s
    "-" * 250 + "/",  # cannot match at all: backtracking took 107 s
])
def test_many_stars_match_in_linear_steps(text: str) -> None:
    glob = compile_glob("*-*-*-*-*")
    states = 9  # five stars and four dashes
    assert glob.steps(text) <= len(text) * states
    assert glob.matches(text) is text.endswith("b")
    assert compile_glob("**-**-**-**-**x").steps(text) <= len(text) * 10


def test_routes_match_the_repository_before_the_ref() -> None:
    slow = route(0, "acme/shop", branch="*-*-*-*-*")
    counted = {"ref": 0}
    original = slow.ref_pattern

    class Counting:
        def match(self, text: str) -> str | None:
            counted["ref"] += 1
            return original.match(text)

    object.__setattr__(slow, "ref_pattern", Counting())
    assert lookup((slow,), push("other/repo", branch="a-b-c-d-e")) == ()
    assert counted["ref"] == 0
    assert indexes(lookup((slow,), push("acme/shop", branch="a-b-c-d-e"))) == [0]


def test_a_ref_over_the_bound_matches_nothing_and_explain_says_why() -> None:
    name = "x" * (MAX_REF_LENGTH - len("refs/heads/") + 1)
    everything = route(0, "**", branch="**")
    assert lookup((everything,), push("acme/shop", branch=name)) == ()
    assert indexes(lookup((everything,), push("acme/shop", branch=name[:-1]))) == [0]
    verdict, = explain((everything,), source=None, repo="acme/shop", ref=f"refs/heads/{name}")
    assert verdict.reasons == (f"ref is {MAX_REF_LENGTH + 1} characters long, over the "
                               f"{MAX_REF_LENGTH} relay accepts",)


def test_explain_with_paths_and_message_shows_each_filter() -> None:
    from relay.gates.filters import RouteFilters  # noqa: PLC0415 - only this test needs it

    route = Route(index=0, repo="acme/shop", branch="main", tag=None, cluster=1,
                  action=Action.VERSION, filters=RouteFilters(paths_ignore=("docs/**",)))
    verdicts = explain([route], source=None, repo="acme/shop", ref="main")
    data = verdicts_to_json(verdicts, source=None, repo="acme/shop", ref="main",
                            paths=["docs/a.md"], message="Fix [skip ci]")
    assert data["routes"][0]["filters"] == [
        {"filter": "skip_markers", "verdict": "ignore",
         "reason": "the head commit message contains [skip ci]"},
        {"filter": "paths", "verdict": "ignore",
         "reason": "all of the 1 changed file match paths_ignore"}]
    plain = verdicts_to_json(verdicts, source=None, repo="acme/shop", ref="main")
    assert "filters" not in plain["routes"][0]


def test_a_glob_remembers_a_bounded_number_of_answers() -> None:
    from relay.globs import SEEN_MAX, Glob

    glob = Glob("release/*", ignore_case=True)
    fresh = Glob("release/*", ignore_case=True)
    texts = [f"release/{i}" if i % 3 else f"Release/x/{i}" for i in range(SEEN_MAX + 50)]
    for text in texts + texts[:10]:
        assert glob.matches(text) is fresh._run(text)[0]
        assert len(glob._seen) <= SEEN_MAX
    assert glob.match("RELEASE/1") == "RELEASE/1" and glob.match("release/a/b") is None


def test_a_glob_keeps_no_answer_for_long_texts_or_literal_patterns() -> None:
    from relay.globs import SEEN_TEXT_MAX, Glob

    glob = Glob("acme/*")
    assert glob.matches("acme/" + "x" * SEEN_TEXT_MAX) and glob._seen == {}
    literal = Glob("acme/shop")
    assert literal.matches("acme/shop") and not literal.matches("acme/shop2")
    assert literal._seen == {}
