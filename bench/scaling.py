"""How the search scales with workers, and what Ray costs per round.

Usage: python bench/scaling.py [--workers 1,2] [--climbers 32] [--steps 10000] [--rounds 3]

Every configuration runs the same rounds (same climbers, same steps, same seeds: the result is
identical), so evaluations per second compare directly. For each worker count it prints:
- evaluations/s over the timed rounds (round 0, which starts the actors, is left out);
- parallel efficiency against one worker;
- Ray overhead per round: the part of a round not spent climbing, against the ideal of the
  same climbs' time in this process (no Ray, one core) divided over the workers (imbalance,
  e.g. 32 climbers on 3 workers, counts as overhead too);
- beside it, the same climbs in as many plain processes without Ray (multiprocessing), the
  ceiling that the machine itself allows.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, QUIET_RAY, comma_list, environment_defaults

environment_defaults(ONE_THREAD, QUIET_RAY)  # before numpy is imported: its BLAS reads them once

from coordinator import SearchConfig, search  # noqa: E402
from coordinator.data.datasets import load_dataset  # noqa: E402
from coordinator.rounds.executors import RayExecutor  # noqa: E402
from coordinator.rounds.prepare import prepare_run  # noqa: E402
from coordinator.rounds.stepper import round_tasks  # noqa: E402
from workers import ClimbWorker, pack_rows  # noqa: E402


def _in_process_rate(config: SearchConfig, rounds: int) -> float:
    """Evaluations/s of `rounds` rounds' climbs in this process, one after another."""
    _init_plain(config)
    _PLAIN_WORKER.warm_up()
    started = time.perf_counter()
    evaluations = sum(_run_plain(task) for index in range(rounds) for task in round_tasks(config, index))
    return evaluations / (time.perf_counter() - started)


def _plain_process_rate(config: SearchConfig, processes: int) -> float:
    """Evaluations/s of the same round's climbs spread over plain processes (no Ray)."""
    tasks = round_tasks(config, 0)
    with multiprocessing.get_context("spawn").Pool(processes, initializer=_init_plain, initargs=(config,)) as pool:
        pool.map(_warm_plain, range(processes))
        started = time.perf_counter()
        evaluations = sum(pool.map(_run_plain, tasks, chunksize=1))
        return evaluations / (time.perf_counter() - started)


_PLAIN_WORKER: ClimbWorker | None = None


def _init_plain(config: SearchConfig) -> None:
    global _PLAIN_WORKER
    dataset = load_dataset(config)
    _PLAIN_WORKER = ClimbWorker(pack_rows(dataset.X, dataset.labels), config.layers, config.climb_settings())


def _warm_plain(_index: int) -> None:
    _PLAIN_WORKER.warm_up()
    time.sleep(0.2)  # so that every process of the pool gets a warm-up task


def _run_plain(task) -> int:
    return _PLAIN_WORKER.run(None, [task])[0].outcome.evaluations


def main() -> None:
    """Print the scaling table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cpus = os.cpu_count() or 1
    default_workers = ",".join(str(n) for n in (1, 2, 4, 8, 16, 32) if n <= cpus)
    parser.add_argument(
        "--workers", default=default_workers, type=comma_list(int), help=f"worker counts (default {default_workers})"
    )
    parser.add_argument("--climbers", type=int, default=32, help="climbers per round, the same for every count")
    parser.add_argument("--steps", type=int, default=10_000, help="steps per climber per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per configuration (round 0 is not timed)")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain-process comparison")
    args = parser.parse_args()
    counts = args.workers

    import ray

    ray.init(num_cpus=max(counts), include_dashboard=False, _node_ip_address="127.0.0.1", log_to_driver=False)
    # Resolved as a run resolves it (layers from the data, the data's defaults), so plain workers get the same.
    base = prepare_run(SearchConfig(climbers=args.climbers, steps=args.steps, rounds=args.rounds, time_budget=None))
    base = base.config
    kernel_rate = _in_process_rate(base, max(1, args.rounds - 1))
    print(f"climbers {args.climbers}, steps {args.steps}, {args.rounds - 1} timed rounds, {cpus} CPUs")
    print(f"one core, no Ray: {kernel_rate:,.0f} evaluations/s")
    print("| workers | evaluations/s | speed-up | efficiency | round s | Ray overhead | plain evals/s | Ray/plain |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    one_worker_rate = None
    losses = set()
    for workers in counts:
        config = base.model_copy(update={"workers": workers})
        # Every round on warm actors: without this the driver climbs the first rounds while they start.
        executor = RayExecutor(load_dataset(config), config)
        executor.wait_until_ready()
        try:
            result = search(config, executor=executor)
        finally:
            executor.close()
        losses.add(result.best_loss)
        timed = result.history[1:]
        evaluations = sum(record.evaluations for record in timed)
        seconds = sum(record.wall_seconds for record in timed)
        rate = evaluations / seconds
        one_worker_rate = one_worker_rate or rate / workers
        speed_up = rate / one_worker_rate
        efficiency = speed_up / workers
        ideal = evaluations / (workers * kernel_rate) / len(timed)
        round_seconds = seconds / len(timed)
        overhead = max(0.0, 1 - ideal / round_seconds)
        plain = "" if args.no_plain else f"{_plain_process_rate(base, workers):,.0f}"
        ratio = "" if args.no_plain else f"{rate / float(plain.replace(',', '')):.2f}"
        print(
            f"| {workers} | {rate:,.0f} | {speed_up:.2f} | {efficiency:.2f} | {round_seconds:.2f} | {overhead:.1%} "
            f"| {plain} | {ratio} |",
            flush=True,
        )
    print(f"best loss identical for every worker count: {len(losses) == 1} ({sorted(losses)})")
    ray.shutdown()


if __name__ == "__main__":
    main()
