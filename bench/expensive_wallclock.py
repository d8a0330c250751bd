"""Expensive objectives in wall clock: real Ray actors, an objective that waits 100 ms an evaluation, 1 to 32 workers.

TIMED: run it with nothing else on the machine. The objective is the chapter's: the cross-entropy of a 2-16-3
network on nnfs's spiral data (100 points x 3 classes), computed by the compiled code (microseconds), after
`time.sleep(--sleep)`: a stand-in for a simulator or a remote service, so that 32 workers need no more than 2
cores (each worker waits; none computes for long). The search is the default for an objective (SNES, its
population the default: SNES's own 18 for the net's 99 parameters, raised to fill whole evaluations a worker;
with the centre and the best so far, 20 candidates a round on 1 to 4 workers, 24 on 8, 32 on 16 and 32).

1. `target`: in this process, without the wait, one worker's run for `--generations` rounds, seeds 0-2: the
   target is the median of their final best losses. For every worker count W and seed, the same run in this
   process (the same bits as on Ray) gives the critical path to the target in evaluations: the sum of each
   round's largest group of candidates, which is what W workers that only wait would take, times the wait.
2. `wall`: for each W, a private local Ray with W actors (warm before the clock starts), each seed run until its
   best reaches the target: the wall-clock seconds from the first round to the round that reached it, and the
   share of those seconds outside evaluations (the rounds' seconds less the critical path's, over the rounds').
3. `report`: the table of speed-ups (one worker's median time over W's), beside the critical path's prediction,
   and the plot of the speed-up against workers.

    python bench/expensive_wallclock.py target --out bench/results/expensive_wallclock.jsonl
    python bench/expensive_wallclock.py wall --workers 1,2,4,8,16,32 --out bench/results/expensive_wallclock.jsonl
    python bench/expensive_wallclock.py report --out bench/results/expensive_wallclock.jsonl
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, QUIET_RAY, RESULTS, append_jsonl, comma_list, environment_defaults, read_jsonl

environment_defaults(ONE_THREAD, QUIET_RAY, {"RAY_AUTH_MODE": "disabled"})

import numpy as np  # noqa: E402

LAYERS = (2, 16, 3)
SEEDS = (0, 1, 2)
WORKERS = (1, 2, 4, 8, 16, 32)
SLEEP_S = 0.1


class SlowSpiralLoss:
    """The chapter's loss of a network on the spiral, after a wait: an expensive objective that uses no CPU."""

    def __init__(self, sleep_s: float):
        from coordinator.data.datasets import nnfs_data

        # The chapter's data, as after its nnfs.init() (seed 0), drawn without patching numpy for the process.
        self.X, self.y = nnfs_data("spiral", 100, 3)
        self.sleep_s = sleep_s

    def __call__(self, params: np.ndarray) -> float:
        """Wait, then the loss of params on the spiral (the compiled code's: the same bits in every process)."""
        from workers.network import Layout, evaluate_compiled

        if self.sleep_s:
            time.sleep(self.sleep_s)
        loss, _accuracy = evaluate_compiled(params, self.X, self.y, Layout(LAYERS))
        return float(loss)


def config_of(seed: int, workers: int, rounds: int):
    """The run: the default search for an objective, on W workers (its population from them)."""
    from coordinator import SearchConfig

    return SearchConfig(layers=LAYERS, seed=seed, workers=workers, rounds=rounds, time_budget=None)


def in_process(seed: int, workers: int, rounds: int, target: float | None = None) -> dict:
    """A run in this process without the wait: each round's best loss and largest group, up to the target."""
    from coordinator.rounds.executors import InProcessExecutor
    from coordinator.rounds.prepare import prepare_run
    from coordinator.rounds.stepper import SearchStepper

    objective = SlowSpiralLoss(0.0)
    prepared = prepare_run(config_of(seed, workers, rounds), objective=objective)
    executor = InProcessExecutor(None, prepared.config, prepared.objective)
    stepper = SearchStepper(prepared, executor)
    losses, critical = [], []
    while stepper.rounds_completed < rounds:
        record = stepper.step()
        losses.append(record.best_loss)
        critical.append(record.critical_evaluations)
        if target is not None and record.best_loss <= target:
            break
    return {"losses": losses, "critical": critical, "population": stepper.config.population}


def run_target(args) -> None:
    """One worker's runs for the generations: the target; then every W's critical path to it, in this process."""
    finals = [in_process(seed, 1, args.generations)["losses"][-1] for seed in SEEDS]
    target = float(np.median(finals))
    append_jsonl(args.out, {"kind": "target", "generations": args.generations, "finals": finals, "target": target})
    print(f"target {target:.5f} (one worker's finals after {args.generations} rounds: {finals})", flush=True)
    for workers in args.workers:
        for seed in SEEDS:
            run = in_process(seed, workers, args.cap, target)
            reached = run["losses"][-1] <= target
            row = {
                "kind": "critical_path", "workers": workers, "seed": seed, "target": target, "reached": reached,
                "rounds": len(run["losses"]), "critical_evaluations": int(sum(run["critical"])),
                "population": run["population"],
            }  # fmt: skip
            append_jsonl(args.out, row)
            print(f"W={workers} seed {seed}: {row['critical_evaluations']} evaluations one after another", flush=True)


def run_wall(args) -> None:
    """Each W on a private local Ray: the seconds from the first round to the target, and what was not waiting."""
    from coordinator.rounds.executors import RayExecutor
    from coordinator.rounds.prepare import prepare_run
    from coordinator.rounds.stepper import SearchStepper

    target = [row for row in read_jsonl(args.out) if row["kind"] == "target"][-1]["target"]
    for workers in args.workers:
        objective = SlowSpiralLoss(args.sleep)
        prepared = prepare_run(config_of(0, workers, args.cap), objective=objective)
        config = prepared.config.model_copy(update={"climb_while_starting": False})
        started = time.monotonic()
        executor = RayExecutor(None, config, objective=prepared.objective)
        try:
            executor.wait_until_ready()
            ready_s = time.monotonic() - started
            for seed in SEEDS:
                seeded = prepare_run(config_of(seed, workers, args.cap), objective=objective)
                stepper = SearchStepper(seeded, executor)
                load_before = os.getloadavg()
                clock = time.monotonic()
                round_seconds, critical = [], []
                while stepper.rounds_completed < args.cap:
                    record = stepper.step()
                    round_seconds.append(record.wall_seconds)
                    critical.append(record.critical_evaluations)
                    if record.best_loss <= target:
                        break
                seconds = time.monotonic() - clock
                waited = sum(critical) * args.sleep  # what the critical path's evaluations take, waiting alone
                row = {
                    "kind": "wall", "workers": workers, "seed": seed, "target": target, "sleep_s": args.sleep,
                    "reached": record.best_loss <= target, "rounds": len(critical), "seconds": seconds,
                    "round_seconds": float(sum(round_seconds)), "critical_evaluations": int(sum(critical)),
                    "predicted_seconds": waited, "outside_share": 1 - waited / seconds,
                    "population": stepper.config.population, "actors": record.actors,
                    "driver_tasks": record.driver_tasks, "ready_seconds": ready_s,
                    "load_before": load_before, "load_after": os.getloadavg(),
                }  # fmt: skip
                append_jsonl(args.out, row)
                print(
                    f"W={workers} seed {seed}: {seconds:.1f} s to {target:.4f} in {len(critical)} rounds "
                    f"(critical path {waited:.1f} s; outside evaluations {row['outside_share']:.1%}; "
                    f"load {load_before[0]:.2f})",
                    flush=True,
                )
        finally:
            executor.close()


def report(args) -> str:
    """The table (medians over the seeds) and the plot of the speed-up against workers."""
    rows = read_jsonl(args.out)
    target = [row for row in rows if row["kind"] == "target"][-1]
    wall = [row for row in rows if row["kind"] == "wall"]
    path = [row for row in rows if row["kind"] == "critical_path"]
    one_wall = np.median([row["seconds"] for row in wall if row["workers"] == 1])
    one_path = np.median([row["critical_evaluations"] for row in path if row["workers"] == 1])
    lines = [
        f"# Expensive objectives in wall clock: {SLEEP_S * 1000:.0f} ms an evaluation, real Ray actors",
        "",
        f"Objective: the cross-entropy of a {'-'.join(map(str, LAYERS))} network on nnfs's spiral (100 x 3) after "
        f"a wait of {SLEEP_S:g} s. Target: {target['target']:.5f}, the median of one worker's best after "
        f"{target['generations']} rounds (seeds 0-2). Search: the default (SNES, its default population). "
        "Medians over seeds 0-2.",
        "",
        "| workers | population | seconds to the target | speed-up | critical path (evaluations) | predicted "
        "speed-up | measured / predicted | outside evaluations |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    speedups = []
    for workers in sorted({row["workers"] for row in wall}):
        cell = [row for row in wall if row["workers"] == workers]
        counted = [row["critical_evaluations"] for row in path if row["workers"] == workers]
        seconds = float(np.median([row["seconds"] for row in cell]))
        critical = float(np.median(counted))
        speedup, predicted = one_wall / seconds, one_path / critical
        outside = float(np.median([row["outside_share"] for row in cell]))
        speedups.append((workers, speedup, predicted))
        unreached = sum(not row["reached"] for row in cell)
        note = f" ({unreached} unreached)" if unreached else ""
        lines.append(
            f"| {workers} | {cell[0]['population']} | {seconds:.1f}{note} | "
            f"{speedup:.1f}x | {critical:.0f} | {predicted:.1f}x | {speedup / predicted:.0%} | {outside:.1%} |"
        )
    lines += [
        "",
        "Speed-up: one worker's median seconds over W's. Predicted: one worker's median critical path (the sum of "
        "each round's largest group of candidates, counted in this process) over W's. Outside evaluations: the "
        "share of the seconds from the first round to the target not spent waiting on the critical path's "
        "evaluations (Ray's calls, the coordinator's update, the broadcast).",
    ]
    _plot(speedups, Path(args.out).with_suffix(".png"))
    return "\n".join(lines)


def _plot(speedups: list[tuple[int, float, float]], path: Path) -> None:
    """The speed-up against workers: measured, predicted by the critical path, and linear."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workers = [row[0] for row in speedups]
    figure, axes = plt.subplots(figsize=(5.5, 4))
    axes.plot(workers, workers, ":", color="grey", label="linear")
    axes.plot(workers, [row[2] for row in speedups], "s--", label="critical path (counted)")
    axes.plot(workers, [row[1] for row in speedups], "o-", label="wall clock, real Ray")
    axes.set_xscale("log", base=2)
    axes.set_yscale("log", base=2)
    axes.set_xlabel("workers")
    axes.set_ylabel("speed-up to the target over one worker")
    axes.set_title(f"{SLEEP_S * 1000:.0f} ms an evaluation, 2 cores")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("step", choices=("target", "wall", "report"))
    parser.add_argument("--workers", default=",".join(map(str, WORKERS)), type=comma_list(int))
    parser.add_argument("--generations", type=int, default=60, help="one worker's rounds that set the target")
    parser.add_argument("--cap", type=int, default=2000, help="rounds at most, a run that never reaches the target")
    parser.add_argument("--sleep", type=float, default=SLEEP_S, help="seconds an evaluation waits")
    parser.add_argument("--out", default=str(RESULTS / "expensive_wallclock.jsonl"))
    args = parser.parse_args(argv)
    args.out = Path(args.out)
    if args.step == "target":
        run_target(args)
    elif args.step == "wall":
        run_wall(args)
    else:
        text = report(args)
        args.out.with_suffix(".md").write_text(text + "\n")
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
