"""Candidate evaluations per second on one core: the seed's loop against this project's kernel.

Usage: python bench/throughput.py [--seconds 3]

Each search runs on the same data for about --seconds; the figures are measured in one run, so
their ratios hold even on a noisy machine. One evaluation = one candidate's loss over all samples.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # one core, for every contender

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from bench.seed_reference import seed_experiment  # noqa: E402
from coordinator.data import nnfs_data  # noqa: E402
from workers import ClimbSettings, Layout, climb  # noqa: E402

CASES = [("vertical", (2, 3, 3)), ("spiral", (2, 64, 3))]
KERNELS = {
    "kernel, seed's rule (every parameter, step 0.05)": dict(mutation_rate=1.0, adaptive=False),
    "kernel, default rule (2% of parameters, adaptive)": dict(
        mutation_rate=0.02, adaptive=True, step_scope="parameter"
    ),
    "numpy reference, seed's rule": dict(mutation_rate=1.0, adaptive=False, engine="numpy"),
}


def time_seed_loop(X, y, hidden, seconds):
    """Evaluations per second of the seed's class-based loop."""
    randn = np.random.default_rng(0).standard_normal
    iterations = 200
    while True:
        started = time.perf_counter()
        seed_experiment(X, y, "adjust", iterations=iterations, hidden=hidden, randn=lambda *shape: randn(shape))
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4:
            return iterations / elapsed
        iterations *= 4


def time_kernel(X, y, sizes, settings, seconds):
    """Evaluations per second of one climber of this project."""
    layout = Layout(sizes)
    climb(None, 0, X, y, layout, ClimbSettings(steps=10, **settings))  # compile or load the cache first
    steps = 1000
    while True:
        started = time.perf_counter()
        outcome = climb(None, 1, X, y, layout, ClimbSettings(steps=steps, **settings))
        elapsed = time.perf_counter() - started
        if elapsed >= seconds / 4:
            return outcome.evaluations / elapsed
        steps *= 4


def main() -> None:
    """Print a table of evaluations per second and ratios to the seed's loop."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="about how long each contender runs")
    args = parser.parse_args()
    print("| data, network | search | evaluations/s | x seed's loop |")
    print("|---|---|---:|---:|")
    for name, sizes in CASES:
        X, y = nnfs_data(name, 100, 3)
        X = X.astype(np.float64)
        label = f"{name}, {'-'.join(map(str, sizes))}"
        seed_rate = time_seed_loop(X, y, sizes[1], args.seconds)
        print(f"| {label} | the seed's loop (its classes, numpy) | {seed_rate:,.0f} | 1.0 |", flush=True)
        for kernel_name, settings in KERNELS.items():
            rate = time_kernel(X, y, sizes, settings, args.seconds)
            print(f"| {label} | {kernel_name} | {rate:,.0f} | {rate / seed_rate:.1f} |", flush=True)


if __name__ == "__main__":
    main()
