"""Run the benchmarks and append their tables to bench/RESULTS.md: `python -m bench.run`.

`--only ingest,burst` picks benchmarks; `--quick` shortens every run (a check of the harness,
its figures are not comparable); `--no-append` prints the section without writing it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import burst, idle, ingest, rollouts, trigger
from bench.profile import summarise
from bench.results import RESULTS, Table, Target, append, git_commit, render_run, targets_table
from bench.wrk import available as wrk_available

ROOT = Path(__file__).resolve().parents[1]
Bench = Callable[[Path, bool], tuple[list[Table], list[Target]]]
PROFILE: list[Path] = []  # set by --profile: where py-spy writes


def _ingest(work: Path, quick: bool) -> tuple[list[Table], list[Target]]:
    s = ingest.IngestSettings()
    if quick:
        s = ingest.IngestSettings(rounds=1, duration_s=2, warmup_s=1, rate_duration_s=2)
    s.profile_dir = PROFILE[0] if PROFILE else None
    return ingest.run(work, s)


def _trigger(work: Path, quick: bool) -> tuple[list[Table], list[Target]]:
    s = trigger.TriggerSettings(duration_s=5, clusters=20) if quick else trigger.TriggerSettings()
    return trigger.run(work, s)


def _rollouts(work: Path, quick: bool) -> tuple[list[Table], list[Target]]:
    s = (rollouts.RolloutSettings(clusters=100, step_s=15, window_s=2) if quick
         else rollouts.RolloutSettings())
    s.profile_dir = PROFILE[0] if PROFILE else None
    return rollouts.run(work, s)


def _burst(work: Path, quick: bool) -> tuple[list[Table], list[Target]]:
    return burst.run(work, burst.BurstSettings(pushes=100) if quick else burst.BurstSettings())


def _idle(work: Path, quick: bool) -> tuple[list[Table], list[Target]]:
    return idle.run(work, idle.IdleSettings(starts=1, settle_s=0.5) if quick
                    else idle.IdleSettings())


BENCHMARKS: dict[str, Bench] = {"ingest": _ingest, "trigger": _trigger,
                                "rollouts": _rollouts, "burst": _burst, "idle": _idle}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(BENCHMARKS),
                        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--quick", action="store_true", help="short runs: checks the harness")
    parser.add_argument("--label", default="", help="a few words for the section heading")
    parser.add_argument("--no-append", action="store_true", help="print only")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    parser.add_argument("--profile", action="store_true",
                        help="also sample relay with py-spy (ingest, rollouts) and print where "
                        "its time goes; implies --keep")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    if "ingest" in names and not wrk_available():
        print("bench: wrk is not installed (apt-get install wrk); skipping ingest",
              file=sys.stderr)
        names.remove("ingest")
    work = Path(tempfile.mkdtemp(prefix="relay-bench-"))
    if args.profile:
        PROFILE.append(work)
        args.keep = True
    tables: list[Table] = []
    targets: list[Target] = []
    started = time.monotonic()
    try:
        for name in names:
            t0 = time.monotonic()
            print(f"bench: {name} ...", flush=True)
            try:
                got_tables, got_targets = BENCHMARKS[name](work, args.quick)
            except Exception as exc:  # noqa: BLE001 - one failed benchmark, reported, not fatal
                print(f"bench: {name} failed: {type(exc).__name__}: {exc}", file=sys.stderr)
                got_tables = []
                got_targets = [Target(name, "the benchmark ran", f"failed: {exc}"[:120], False)]
            tables += got_tables
            targets += got_targets
            print(f"bench: {name} done in {time.monotonic() - t0:.0f} s", flush=True)
    finally:
        if args.keep:
            print(f"bench: logs and databases kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    label = args.label + (" (--quick: harness check, figures not comparable)"
                          if args.quick else "")
    text = render_run([targets_table(targets), *tables], commit=git_commit(ROOT),
                      label=label.strip())
    text += f"Total run time: {time.monotonic() - started:.0f} s.\n\n"
    print(text)
    for profile in sorted(work.glob("*.txt")) if args.profile else []:
        print(summarise(profile))
    if not args.no_append:
        append(text)
        print(f"bench: appended to {RESULTS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
