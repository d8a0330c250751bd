"""The default climb's cost per step, this checkout against another one, in alternation, in CPU time.

Usage: python bench/kernel_ab.py --against DIR [--repeats 3] [--steps 40000]

DIR is another checkout of the project (say `git archive REV | tar -x -C DIR`). Each side runs in a
fresh process of its own: the default climb (ClimbSettings()) on spiral 2-64-3 (300 rows) and on
scikit-learn's digits 64-32-10 (all 1,797 rows, standardised), its best of three climbs of --steps
steps after a warm-up, timed in CPU time of that process (other jobs of a shared machine do not count
against either side). The sides alternate --repeats times, so a drift of the machine hits both.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# What one side runs: its own package first on the path (so nothing of this checkout, bench.common included,
# is imported by either side).
SIDE = """
import os, sys, time
os.environ["NUMBA_NUM_THREADS"] = "1"
sys.path.insert(0, sys.argv[1])
import numpy as np
from sklearn.datasets import load_digits
from coordinator.data.datasets import nnfs_data
from workers import ClimbSettings, Layout
from workers.climbs import climb_rows
from workers.rows import pack_rows
steps = int(sys.argv[2])
X, y = load_digits(return_X_y=True)
X = (X - X.mean(0)) / np.where(X.std(0) > 0, X.std(0), 1)
cases = {"spiral-2-64-3": (*nnfs_data("spiral", 100, 3), (2, 64, 3)), "digits-64-32-10": (X, y, (64, 32, 10))}
for name, (features, labels, sizes) in cases.items():
    rows, layout, settings = pack_rows(features, labels), Layout(sizes), ClimbSettings(steps=steps)
    climb_rows(None, [0], rows, layout, settings.model_copy(update={"steps": 10}))  # compiled or loaded
    best = float("inf")
    for repeat in range(3):
        started = time.process_time()
        climb_rows(None, [repeat], rows, layout, settings)
        best = min(best, time.process_time() - started)
    print(f"{name} {best / steps * 1e6:.2f}", flush=True)
"""


def main(argv: list[str] | None = None) -> int:
    """Alternate the two sides and print each one's microseconds per step, then the ratios."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", type=Path, required=True, help="the other checkout's directory")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=40_000)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()}; {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", flush=True)
    figures: dict[tuple[str, str], list[float]] = {}
    for _ in range(args.repeats):
        for side, directory in (("other", args.against), ("this", ROOT)):
            command = [sys.executable, "-c", SIDE, str(directory.resolve()), str(args.steps)]
            output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
            for line in output.splitlines():
                case, microseconds = line.split()
                figures.setdefault((side, case), []).append(float(microseconds))
                print(f"{side} {case}: {float(microseconds):.2f} us/step", flush=True)
    for case in sorted({case for _, case in figures}):
        this, other = min(figures[("this", case)]), min(figures[("other", case)])
        ratio = this / other
        print(f"{case}: this {this:.2f} us/step, other {other:.2f} (best of {args.repeats}); this / other {ratio:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
