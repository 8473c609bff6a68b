"""Summarise a py-spy collapsed-stack file: share of samples per thread, per function (self
and inclusive). `python -m bench.profile FILE [N]`; the files come from `bench.run --profile`."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path


def summarise(path: Path, top: int = 25) -> str:
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        frames, samples = stack.split(";"), int(n)
        total += samples
        threads[frames[0]] += samples
        own[frames[-1]] += samples
        for frame in set(frames[1:]):
            inclusive[frame] += samples
    if not total:
        return f"{path}: no samples"
    out = [f"{path}: {total} samples"]
    out += [f"{n / total:6.1%}  thread {t}" for t, n in threads.most_common(4)]
    out.append("self:")
    out += [f"{n / total:6.1%}  {f}" for f, n in own.most_common(top)]
    out.append("inclusive:")
    out += [f"{n / total:6.1%}  {f}" for f, n in inclusive.most_common(top * 2)]
    return "\n".join(out)


if __name__ == "__main__":
    print(summarise(Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25))
