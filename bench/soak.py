"""Soak: many climbers for many rounds on Ray; the driver's and every actor's memory must hold steady.

Usage: python bench/soak.py [--climbers 256] [--rounds 200] [--steps 200] [--workers 2] [--limit 0.10]

Runs the search's own round loop (coordinator.rounds.search.search, with a RayExecutor handed in and a
checkpoint written every round into a temporary run directory) on a private local Ray with
--workers CPUs. Resident memory (VmRSS in /proc/PID/status) of the driver and of each actor is
read before round 0 (actors started and warmed), after round 0 (the baseline: the kernels have
run, the first buffers exist), every --every rounds, and after the last round. Exit status 1 if
any process grew by more than --limit from its baseline, or an actor was replaced (its memory
would then start over).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, QUIET_RAY, comma_list, environment_defaults

# Before numpy is imported (its BLAS reads them once); a private local Ray writes no token file to ~/.ray.
environment_defaults(ONE_THREAD, QUIET_RAY, {"RAY_AUTH_MODE": "disabled"})

from coordinator import SearchConfig, search  # noqa: E402
from coordinator.data.datasets import load_dataset  # noqa: E402
from coordinator.rounds.executors import RayExecutor  # noqa: E402

MIB = 1024 * 1024


def resident_bytes(pid: int) -> int | None:
    """VmRSS of a process in bytes, or None if it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


class MemoryLog:
    """Resident memory of the driver and the actors, sampled between rounds (a search Progress)."""

    def __init__(self, executor: RayExecutor, every: int):
        self.executor = executor
        self.every = every
        self.samples: list[tuple[str, dict[str, int | None]]] = []
        self.rounds_done = 0

    def processes(self) -> dict[str, int]:
        """Label -> pid of the driver and of every live actor."""
        labels = {"driver": os.getpid()}
        for index, (pid, _node) in enumerate(self.executor.pool.worker_info):
            labels[f"actor {index}"] = pid
        return labels

    def sample(self, when: str) -> None:
        """Record every process's resident memory now."""
        self.samples.append((when, {label: resident_bytes(pid) for label, pid in self.processes().items()}))

    def close(self) -> None:
        """Nothing to end."""

    def started(self) -> None:
        """Nothing to note before the first round."""

    def climber_done(self, round_index, done, total, best) -> None:
        """Nothing between a round's climbers."""

    def round_done(self, record, elapsed_s) -> None:
        """Sample after round 0 and every `every` rounds; print a short line."""
        self.rounds_done = record.round + 1
        if record.round == 0 or self.rounds_done % self.every == 0:
            self.sample(f"after round {record.round}")
            driver = self.samples[-1][1]["driver"] or 0
            print(
                f"round {record.round:>4}  best loss {record.best_loss:.5f}  {elapsed_s:7.1f} s  "
                f"driver {driver / MIB:7.1f} MiB",
                flush=True,
            )


def main() -> int:
    """Run the soak and print the memory table; the exit status says whether memory held."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--climbers", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200, help="steps per climber per round")
    parser.add_argument("--workers", type=int, default=2, help="actors, one CPU each (the local Ray gets as many)")
    parser.add_argument("--layers", default="2,64,3", type=comma_list(int))
    parser.add_argument("--every", type=int, default=50, help="sample memory every this many rounds")
    parser.add_argument("--limit", type=float, default=0.10, help="largest allowed growth from the baseline")
    args = parser.parse_args()

    config = SearchConfig(
        dataset="spiral",
        layers=tuple(args.layers),
        climbers=args.climbers,
        rounds=args.rounds,
        steps=args.steps,
        workers=args.workers,
        time_budget=None,
    )
    dataset = load_dataset(config)
    print(
        f"soak: {config.climbers} climbers x {config.rounds} rounds x {config.steps} steps, "
        f"layers {list(config.layers)}, {config.workers} workers, checkpoint every round",
        flush=True,
    )
    started = time.monotonic()
    executor = RayExecutor(dataset, config)
    executor.wait_until_ready()  # memory of the actors from round 0 on
    try:
        log = MemoryLog(executor, args.every)
        log.sample("before round 0")
        with tempfile.TemporaryDirectory() as run_dir:
            result = search(config, executor=executor, progress=log, run_dir=Path(run_dir) / "run")
        if log.samples[-1][0] != f"after round {result.rounds_completed - 1}":
            log.sample(f"after round {result.rounds_completed - 1}")
        replacements = executor.pool.replacements
    finally:
        executor.close()
    wall = time.monotonic() - started

    labels = list(log.samples[0][1])
    baseline = log.samples[1][1]
    print(f"\n{result.rounds_completed} rounds, {result.evaluations:,} evaluations in {wall:.0f} s; best loss "
          f"{result.best_loss:.5f}; actors replaced: {replacements}")  # fmt: skip
    print("resident memory (MiB):")
    print(f"{'':<16}" + "".join(f"{label:>12}" for label in labels))
    for when, sizes in log.samples:
        print(f"{when:<16}" + "".join(_mib(sizes.get(label)) for label in labels))
    worst = 0.0
    growth_line = ""
    for label in labels:
        first, last = baseline.get(label), log.samples[-1][1].get(label)
        if first and last:
            growth = last / first - 1
            worst = max(worst, growth)
            growth_line += f"{growth:>+11.1%} "
        else:
            growth_line += f"{'gone':>11} "
            worst = float("inf")
    print(f"{'growth':<16}" + growth_line.rstrip() + "   (end against after round 0)")
    held = worst <= args.limit and replacements == 0
    print(f"largest growth {worst:+.1%}; limit {args.limit:+.0%}: {'held' if held else 'EXCEEDED'}")
    return 0 if held else 1


def _mib(size: int | None) -> str:
    return f"{size / MIB:>12.1f}" if size else f"{'gone':>12}"


if __name__ == "__main__":
    sys.exit(main())
