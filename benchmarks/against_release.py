"""PublishReports ingest of this tree beside an earlier release's, on this machine, in turns.

`make bench` holds each figure against a ceiling measured in the same run. Whether a change
made ingest slower than the release before it is another question, and two machines (or two
hours of one) differ by more than the few percent it is about. This answers it on one machine:
each tree's own benchmark code and server, run in turns, best of each.

    python -m benchmarks.against_release 13f859b [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from .processes import REPO

MEASURE = """
import tempfile, uuid
from benchmarks import report_bus as rb
payloads = [b.SerializeToString() for b in rb.make_batches()]
with tempfile.TemporaryDirectory() as scratch:
    sqlite = rb.publish_rate(f"sqlite:///{scratch}/{uuid.uuid4().hex}.db", payloads)
with rb.postgres_schema() as url:
    postgres = rb.publish_rate(url, payloads)
print(sqlite, postgres)
"""
"""Run in a tree's own directory with its own packages first on the path: its benchmark code
starts its own server (with the flags that release knew) and prints reports/s on each backend."""


def measure(tree: Path) -> tuple[float, float]:
    paths = [tree / "sdk", tree / "servers", tree / "clients", tree]
    env = {**os.environ, "PYTHONPATH": ":".join(map(str, paths))}
    done = subprocess.run([sys.executable, "-c", MEASURE], cwd=tree, env=env, capture_output=True, text=True, check=True)
    sqlite, postgres = done.stdout.split()[-2:]
    return float(sqlite), float(postgres)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help="the earlier release (a commit or tag)")
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        earlier = Path(scratch) / "earlier"
        subprocess.run(["git", "worktree", "add", "--detach", str(earlier), arguments.ref], cwd=REPO, check=True,
                       capture_output=True)  # fmt: skip
        try:
            runs: dict[str, list[tuple[float, float]]] = {"earlier": [], "this": []}
            trees = {"earlier": earlier, "this": REPO}
            for turn in range(arguments.runs):  # each goes first in every other turn: no seat is favoured
                for name in sorted(trees, reverse=bool(turn % 2)):
                    runs[name].append(measure(trees[name]))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(earlier)], cwd=REPO, check=True)
    print(f"{'PublishReports, batches of 500':<34}{arguments.ref:>14}{'this tree':>14}{'ratio':>8}")
    for column, backend in enumerate(("SQLite", "PostgreSQL")):
        before = max(run[column] for run in runs["earlier"])
        now = max(run[column] for run in runs["this"])
        print(f"{backend + ' (best of ' + str(arguments.runs) + ')':<34}{before:>14,.0f}{now:>14,.0f}{now / before:>8.3f}")


if __name__ == "__main__":
    main()
