"""Route filters: `skip_markers` on the head commit message, `paths` / `paths_ignore` (pure).

A filtered push makes no deployment (docs/gates.md, at routing).

Path globs use relay's glob dialect (relay.globs), matched case-sensitively against the
repository-relative path (`src/app.py`, no leading `/`):
`*` any run of characters but `/`; `**` any run including `/`; `**/` at the start of a
segment also matches nothing (`**/*.md` matches `README.md` and `docs/a/b.md`, `docs/**`
matches everything under `docs/`); `?` one character but `/`; `[abc]`, `[a-z]`, `[!abc]`
a character class; a backslash makes the next character literal. So `*.md` matches only
top-level files, as in GitHub Actions' `paths` filters.

Skip markers are matched case-insensitively as plain substrings of the head commit message:
GitLab documents its `[skip ci]` / `[ci skip]` as working "using any capitalization"
(https://docs.gitlab.com/ci/pipelines/#skip-a-pipeline); GitHub's list
(https://docs.github.com/en/actions/managing-workflow-runs/skipping-workflow-runs) names the
lowercase forms and says nothing about case, so relay takes the lenient reading for all hosts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from relay.gates.changes import PushChanges
from relay.globs import Glob, GlobError, compile_glob

DEFAULT_SKIP_MARKERS = ("[skip ci]", "[ci skip]", "[no ci]", "[skip deploy]", "[deploy skip]")


class FilterError(ValueError):
    """A route filter that cannot be used; `problems` lists each, with its key."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class Verdict(enum.StrEnum):
    """A filter's answer for one push."""

    DEPLOY = "deploy"
    IGNORE = "ignore"  # no deployment; the reason says which filter and why
    NEEDS_COMPARE = "needs_compare"  # the file lists are incomplete: ask the host's compare API


@dataclass(frozen=True, slots=True)
class FilterDecision:
    """One filter's answer (`filter` is `skip_markers` or `paths`) and its reason in words."""

    filter: str
    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True)
class RouteFilters:
    """A route's filters. `paths` None: any file; `paths_ignore` None: none ignored.

    `skip_markers` defaults to DEFAULT_SKIP_MARKERS (the top-level list); `()` for none.
    Raises FilterError for a malformed glob, an empty `paths` list (it could never deploy)
    or an empty marker.
    """

    paths: tuple[str, ...] | None = None
    paths_ignore: tuple[str, ...] | None = None
    skip_markers: tuple[str, ...] = DEFAULT_SKIP_MARKERS
    path_patterns: tuple[Glob, ...] = field(init=False, repr=False, compare=False)
    ignore_patterns: tuple[Glob, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        problems: list[str] = []
        if self.paths is not None and not self.paths:
            problems.append("paths: an empty list would never deploy a branch push; "
                            "leave the key out to deploy on any change")
        paths = _compile("paths", self.paths or (), problems)
        ignored = _compile("paths_ignore", self.paths_ignore or (), problems)
        problems += [f"skip_markers[{i}]: must not be empty"
                     for i, marker in enumerate(self.skip_markers) if not marker.strip()]
        if problems:
            raise FilterError(problems)
        object.__setattr__(self, "path_patterns", paths)
        object.__setattr__(self, "ignore_patterns", ignored)

    @property
    def filters_paths(self) -> bool:
        """The route has a `paths` or `paths_ignore` filter."""
        return bool(self.path_patterns or self.ignore_patterns)


def find_marker(markers: Iterable[str], message: str | None) -> str | None:
    """The first of `markers` contained in `message` (ignoring case), as configured; or None."""
    if not message:
        return None
    folded = message.casefold()
    return next((m for m in markers if m.casefold() in folded), None)


def decide_markers(filters: RouteFilters, message: str | None) -> FilterDecision:
    """`skip_markers`: IGNORE when the head commit message contains a marker."""
    marker = find_marker(filters.skip_markers, message)
    if marker is not None:
        return FilterDecision("skip_markers", Verdict.IGNORE,
                              f"the head commit message contains {marker}")
    if not filters.skip_markers:
        return FilterDecision("skip_markers", Verdict.DEPLOY, "no skip markers configured")
    return FilterDecision("skip_markers", Verdict.DEPLOY,
                          "the head commit message contains no skip marker")


def decide_files(filters: RouteFilters, files: Iterable[str]) -> FilterDecision:
    """`paths` / `paths_ignore` over a complete set of changed files (a branch push).

    DEPLOY when (without `paths`, or at least one file matches `paths`) and not every file
    matches `paths_ignore`; a push that changed no file at all is IGNOREd under any filter.
    """
    changed = sorted(set(files))
    if not filters.filters_paths:
        return FilterDecision("paths", Verdict.DEPLOY, "no path filters")
    if not changed:
        return FilterDecision("paths", Verdict.IGNORE, "the push changed no files")
    if filters.path_patterns:
        hit = next((f for f in changed if _matches(filters.path_patterns, f)), None)
        if hit is None:
            return FilterDecision("paths", Verdict.IGNORE,
                                  f"none of the {_count(changed)} matches paths")
    kept = next((f for f in changed if not _matches(filters.ignore_patterns, f)), None)
    if kept is None:
        return FilterDecision("paths", Verdict.IGNORE,
                              f"all of the {_count(changed)} match paths_ignore")
    if filters.path_patterns:
        return FilterDecision("paths", Verdict.DEPLOY,
                              f"{hit} matches paths" + _kept_words(filters, hit, kept))
    return FilterDecision("paths", Verdict.DEPLOY, f"{kept} is not matched by paths_ignore")


def decide_paths(filters: RouteFilters, changes: PushChanges, *, is_tag: bool,
                 can_compare: bool = True) -> FilterDecision:
    """`paths` / `paths_ignore` for a push as its payload describes it.

    Tags ignore paths. When the payload's file lists are incomplete: NEEDS_COMPARE (the
    caller fetches the changed files from the host's compare API and calls `decide_files`),
    or with `can_compare=False` (the source has no `api`) DEPLOY, saying why.
    """
    if is_tag:
        return FilterDecision("paths", Verdict.DEPLOY, "tags ignore paths")
    if not filters.filters_paths:
        return FilterDecision("paths", Verdict.DEPLOY, "no path filters")
    missing = changes.incomplete_reason()
    if missing is None:
        return decide_files(filters, changes.files)
    if can_compare:
        return FilterDecision("paths", Verdict.NEEDS_COMPARE,
                              f"file lists incomplete ({missing}): ask the compare API")
    return FilterDecision("paths", Verdict.DEPLOY,
                          f"file lists incomplete ({missing}) and the source has no api: "
                          "deploying rather than guessing nothing changed")


def decide(filters: RouteFilters, changes: PushChanges, *, is_tag: bool,
           can_compare: bool = True) -> FilterDecision:
    """Both filters, skip markers first (no API call needed): the first non-DEPLOY answer,
    else the paths answer."""
    markers = decide_markers(filters, changes.head_message)
    if markers.verdict is not Verdict.DEPLOY:
        return markers
    return decide_paths(filters, changes, is_tag=is_tag, can_compare=can_compare)


def explain(filters: RouteFilters, *, paths: Sequence[str] | None, message: str | None,
            is_tag: bool = False) -> tuple[FilterDecision, ...]:
    """Each filter's decision in words, for `relay routes explain --paths ... --message ...`.

    `paths` None: no file list given (path filters are then reported as not evaluated).
    """
    markers = (decide_markers(filters, message) if message is not None else
               FilterDecision("skip_markers", Verdict.DEPLOY, "no message given"))
    if is_tag:
        files = FilterDecision("paths", Verdict.DEPLOY, "tags ignore paths")
    elif paths is None:
        files = FilterDecision("paths", Verdict.DEPLOY,
                               "no paths given" if filters.filters_paths else "no path filters")
    else:
        files = decide_files(filters, paths)
    return (markers, files)


def _compile(key: str, globs: Iterable[str], problems: list[str]) -> tuple[Glob, ...]:
    patterns = []
    for index, glob in enumerate(globs):
        try:
            patterns.append(compile_glob(glob.lstrip("/")))
        except GlobError as exc:
            problems.append(f"{key}[{index}]: {exc}")
    return tuple(patterns)


def _matches(patterns: Iterable[Glob], path: str) -> bool:
    return any(p.match(path) is not None for p in patterns)


def _count(files: Sequence[str]) -> str:
    return "1 changed file" if len(files) == 1 else f"{len(files)} changed files"


def _kept_words(filters: RouteFilters, hit: str | None, kept: str) -> str:
    if not filters.ignore_patterns:
        return ""
    return (" and is not matched by paths_ignore" if kept == hit
            else f" and {kept} is not matched by paths_ignore")
