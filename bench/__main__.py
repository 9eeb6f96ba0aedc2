"""`python -m bench` (what `make bench` runs): the full benchmark, its JSON, chart and README table.

`python -m bench --smoke --out DIR`: the harness against the constant endpoint only, for a second or two.
`python -m bench --only v2 --out DIR`: only the scenarios whose names start with `v2` (and only their servers).
`python -m bench report bench/results/<date>.json`: redraw the chart and the README table from a results file.
`python -m bench profile [PATH ...]` (`make profile`): where a worker's time goes, per stage, by py-spy
(bench/profile.py; docs/performance.md has the last run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import report
from bench.run import RESULTS, Plan, run

REPO = Path(__file__).resolve().parents[1]


def publish(path: Path, readme: Path = REPO / "README.md") -> None:
    """The PNG beside the JSON, and the README table pointing at it."""
    result = report.load(path)
    png = report.chart(result, path.with_suffix(".png"))
    print(f"wrote {png}")
    # Only a full run kept in the repository's results goes into the README (the chart path must resolve there).
    if not result["smoke"] and not result["plan"].get("only") and png.parent.resolve() == RESULTS.resolve():
        if report.update_readme(readme, report.table(result, str(png.resolve().relative_to(REPO)))):
            print(f"updated the Performance table in {readme}")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["profile"]:
        from bench import profile

        return profile.main(args[1:])
    if args[:1] == ["report"]:
        parser = argparse.ArgumentParser(prog="python -m bench report")
        parser.add_argument("results", type=Path)
        publish(parser.parse_args(args[1:]).results)
        return 0
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per measured run (default 10)")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds per scenario (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="workers per server (default 2)")
    parser.add_argument("--worker-counts", default="1,2", help="the peer comparison's worker counts (default 1,2)")
    parser.add_argument("--connections", type=int, default=16, help="clients in the single-row scenario")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go (default bench/results)")
    parser.add_argument("--smoke", action="store_true", help="the constant endpoint only, briefly")
    parser.add_argument("--only", default="", help="only the scenarios whose names start with this (e.g. v2)")
    opts = parser.parse_args(args)
    if opts.duration <= 0 or opts.rounds < 1 or opts.workers < 1 or opts.connections < 1:
        parser.error("--duration must be > 0; --rounds, --workers and --connections >= 1")
    counts = tuple(sorted({int(n) for n in opts.worker_counts.split(",") if n.strip()}))
    if not counts or min(counts) < 1:
        parser.error("--worker-counts must list worker counts >= 1, e.g. 1,2")
    plan = Plan(duration_s=opts.duration, rounds=opts.rounds, workers=opts.workers, worker_counts=counts,
                connections=opts.connections, only=opts.only)  # fmt: skip
    if opts.smoke:
        plan.smoke, plan.warmup_s = True, 0.0
    path = run(plan, opts.out)
    publish(path)
    return 1 if report.load(path).get("incomplete") else 0


if __name__ == "__main__":
    sys.exit(main())
