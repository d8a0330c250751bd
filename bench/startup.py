"""How much of a short run's budget goes to climbing: the default job with a small time budget, repeated.

Usage: python bench/startup.py [--budget 10] [--repeats 3] [--out bench/results]

Runs `python -m coordinator run --time-budget B --log-json --out DIR` (the default job: spiral,
2-64-3, a private local Ray on every CPU) once to warm the kernel's compile cache, then --repeats
times, and prints for each: when the first round ended, the seconds inside rounds (the sum of the
rounds' wall seconds), their share of the budget, the rounds the driver climbed while Ray started,
and the process's whole wall time. Writes startup.json into --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import RESULTS, ROOT
from cluster.atomic_files import atomic_write_text


def one_run(budget: float) -> dict:
    """The default job with this budget, in a process of its own; what its rounds say."""
    with tempfile.TemporaryDirectory(prefix="hillclimb-startup-") as scratch:
        command = [sys.executable, "-m", "coordinator", "run", "--time-budget", str(budget), "--log-json"]
        command += ["--out", str(Path(scratch) / "run")]
        started = time.monotonic()
        finished = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=True)
        wall = time.monotonic() - started
    rounds = [json.loads(line) for line in finished.stdout.splitlines()]
    inside = sum(record["wall_seconds"] for record in rounds)
    return {
        "budget_s": budget,
        "process_wall_s": wall,
        "rounds": len(rounds),
        "first_round_done_s": rounds[0]["elapsed_s"],
        "last_round_done_s": rounds[-1]["elapsed_s"],
        "inside_rounds_s": inside,
        "share_of_budget": inside / budget,
        "driver_rounds": sum(1 for record in rounds if record["workers"] == 0),
        "best_loss": rounds[-1]["best_loss"],
    }


def main(argv: list[str] | None = None) -> int:
    """Warm the cache once, then time --repeats runs and print a table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=10.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    one_run(2.0)  # the kernel's compile cache, as "a machine that has run it before" has it
    runs = [one_run(args.budget) for _ in range(args.repeats)]
    print("| run | first round done (s) | inside rounds (s) | share of budget | rounds (by the driver) | process (s) |")
    print("|---:|---:|---:|---:|---:|---:|")
    for index, run in enumerate(runs):
        print(
            f"| {index} | {run['first_round_done_s']:.2f} | {run['inside_rounds_s']:.2f} | "
            f"{run['share_of_budget']:.0%} | {run['rounds']} ({run['driver_rounds']}) | {run['process_wall_s']:.1f} |"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(args.out) / "startup.json", json.dumps({"runs": runs}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
