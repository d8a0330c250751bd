"""The limit of short rounds: evolution strategies that pool their population after every evaluation.

`bench/parallel_search.py critical` measures how much sooner N climbers reach one climber's loss,
counted in evaluations on the critical path (per round, the most one climber made plus the
coordinator's own). Its rounds are hundreds to thousands of steps long, because a round costs Ray
a few milliseconds. This script measures the other end: population methods whose N members are
pooled after each single evaluation, the rounds of one step that Ray could not afford. A
generation of lambda = N members is one evaluation on the critical path (every member has a core),
so the critical path to a loss is the number of generations. If these methods, which the theory
of evolution strategies credits with progress per generation growing with lambda, do not reach
one climber's loss N times sooner, then pooling whole climbs is not what stands in the way.

Methods, each from the same start as the climbs (`init_params` from the seed, nnfs's 0.01 * randn):
- snes: separable natural evolution strategies (Schaul et al. 2011): mean, a step size per
  parameter, log-rank utilities, learning rates 1 and (3 + ln n) / (5 sqrt n); the project's own
  numpy implementation (`snes` below), its random numbers from a Generator of the seed's own.
- cma: pycma's CMA-ES (`cma.CMAEvolutionStrategy`, full covariance) with popsize N; optional
  (`pip install cma`), skipped where it is missing.
- sepcma: pycma with `CMA_diagonal: True` (a diagonal covariance, as the climbers' per-parameter
  step sizes).

Target, budget and data: those of parallel_search.py's spiral (2-64-3 on nnfs spiral 100 x 3, the
loss one climber reaches after 800,000 evaluations, median of seeds 0-2: 0.0441; read from its raw
output so that both measure against the same figure). The loss counted is the best member's.

Usage:
    python bench/population_es.py run [--methods snes,cma,sepcma] [--population 4,16,64] [--seeds 0,1,2]
        [--sigma 0.1] [--generations 200000] [--out bench/results]
    python bench/population_es.py report [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, RESULTS, append_jsonl, comma_list, environment_defaults, read_jsonl

environment_defaults(ONE_THREAD)  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

from bench.critical_path import critical_work, work_units  # noqa: E402
from bench.peer_methods import problem_data  # noqa: E402
from cluster.atomic_files import atomic_write_text  # noqa: E402
from workers.network import Layout, evaluate, init_params  # noqa: E402

RAW = "population_es.jsonl"
CRITICAL = "parallel_search.jsonl"  # parallel_search.py's raw output: the one-climber target and path
LAYERS = (2, 64, 3)
METHODS = ("snes", "cma", "sepcma")
# A line of the raw output every this many generations, and one at the end.
TRACE_EVERY = 1000


def spiral_rows(out: Path) -> tuple[float, list[dict]]:
    """The spiral's target (one climber's median loss at its budget) and parallel_search.py's recombine runs to it."""
    rows = read_jsonl(out / CRITICAL)
    spiral = [row for row in rows if row["data"] == "spiral" and row["combine"] == "recombine"]
    target = max(row["target"] for row in spiral if row["target"] is not None)
    return target, [row for row in spiral if row["target"] == target]


class Losses:
    """The spiral's training loss of a batch of networks (B, P), and the best seen so far.

    The seed's 2-64-3 written out for a batch (`workers.network.evaluate` is general, and 2.5x slower
    here); the constructor checks that both give the same bits on a batch.
    """

    def __init__(self):
        data = problem_data("spiral")
        self.X, self.y, self.layout = data.features, data.labels, Layout(LAYERS)
        self.rows = np.arange(len(self.y))
        self.best = math.inf
        check = np.stack([10 * init_params(self.layout, np.random.default_rng(seed)) for seed in range(3)])
        assert np.array_equal(self._loss(check), evaluate(check, self.X, self.y, self.layout)[0])

    def _loss(self, batch: np.ndarray) -> np.ndarray:
        count = batch.shape[0]
        (w1, b1, _), (w2, b2, end) = self.layout.offsets
        first = batch[:, w1:b1].reshape(count, LAYERS[0], LAYERS[1])
        second = batch[:, w2:b2].reshape(count, LAYERS[1], LAYERS[2])
        hidden = np.matmul(self.X, first)  # (B, S, 64)
        hidden += batch[:, b1:w2][:, None, :]
        np.maximum(hidden, 0.0, out=hidden)
        logits = np.matmul(hidden, second)  # (B, S, 3)
        logits += batch[:, b2:end][:, None, :]
        logits -= logits.max(axis=-1, keepdims=True)
        exps = np.exp(logits)
        true = exps[:, self.rows, self.y] / exps.sum(axis=-1)  # (B, S)
        return -np.log(np.clip(true, 1e-7, 1 - 1e-7)).mean(axis=-1)

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            losses = self._loss(np.ascontiguousarray(batch))
        losses = np.where(np.isnan(losses), np.inf, losses)
        self.best = min(self.best, float(losses.min()))
        return losses


def snes(losses: Losses, start: np.ndarray, population: int, sigma: float, rng: np.random.Generator):
    """Separable NES: yields after each generation (mean update from log-rank utilities of the sorted members)."""
    n = start.size
    mean, sigmas = start.copy(), np.full(n, sigma)
    utilities = np.maximum(0.0, math.log(population / 2 + 1) - np.log(np.arange(1, population + 1)))
    utilities = utilities / utilities.sum() - 1.0 / population
    rate = (3 + math.log(n)) / (5 * math.sqrt(n))
    while True:
        normals = rng.standard_normal((population, n))  # (lambda, P)
        order = np.argsort(losses(mean + sigmas * normals), kind="stable")
        ranked = normals[order]
        mean = mean + sigmas * (utilities @ ranked)
        sigmas = sigmas * np.exp(rate / 2 * (utilities @ (ranked**2 - 1)))
        yield


def pycma(losses: Losses, start: np.ndarray, population: int, sigma: float, seed: int, diagonal: bool):
    """pycma's CMA-ES (diagonal: sep-CMA), asked and told one generation at a time."""
    import cma

    options = {"popsize": population, "seed": seed + 1, "verbose": -9, "CMA_diagonal": diagonal, "tolfun": 0}
    options.update({"tolx": 0, "tolfunhist": 0, "tolstagnation": 10**9, "maxiter": 10**9})
    strategy = cma.CMAEvolutionStrategy(start, sigma, options)
    while True:
        members = np.asarray(strategy.ask())
        strategy.tell(list(members), losses(members).tolist())
        yield


def run(method: str, population: int, seed: int, sigma: float, generations: int, target: float, out: Path) -> dict:
    """One method from the seed's start until its best loss is at or below the target, or `generations` pass."""
    losses = Losses()
    start = init_params(losses.layout, np.random.default_rng(seed))
    if method == "snes":
        steps = snes(losses, start, population, sigma, np.random.default_rng([seed, population]))
    else:
        steps = pycma(losses, start, population, sigma, seed, diagonal=method == "sepcma")
    began, path, generation = time.perf_counter(), [], 0
    while generation < generations and losses.best > target:
        next(steps)
        generation += 1
        if generation % TRACE_EVERY == 0:
            path.append([generation, losses.best])
    path.append([generation, losses.best])
    row = {
        "method": method,
        "population": population,
        "seed": seed,
        "sigma": sigma,
        "target": target,
        "reached": losses.best <= target,
        "critical": generation,
        "evaluations": generation * population,
        "loss": losses.best,
        "seconds": time.perf_counter() - began,
        "path": path,
    }
    append_jsonl(out / RAW, row)
    return row


def command_run(args) -> None:
    out = Path(args.out)
    target, _ = spiral_rows(out)
    for method in args.methods:
        if method != "snes":
            try:
                import cma  # noqa: F401
            except ImportError:
                print(f"{method}: pycma is not installed (pip install cma); skipped", flush=True)
                continue
        for population in args.population:
            for seed in args.seeds:
                row = run(method, population, seed, args.sigma, args.generations, target, out)
                shown = {key: value for key, value in row.items() if key != "path"}
                print(json.dumps(shown), flush=True)


def command_report(args) -> None:
    out = Path(args.out)
    target, climbs = spiral_rows(out)
    step, full = work_units("spiral")
    one = [row for row in climbs if row["climbers"] == 1]
    one_path = statistics.median([row["critical"] if row["reached"] else math.inf for row in one])
    one_work = statistics.median([critical_work(row, step, full) if row["reached"] else math.inf for row in one])
    rows = read_jsonl(out / RAW)
    lines = [
        f"Target: the spiral 2-64-3's training loss {target:.4f}; one climber's median critical path to it "
        f"{one_path:,.0f} evaluations, {one_work / 1e9:.1f} billion multiply-adds (a step {step:,.0f}, a full pass "
        f"{full:,.0f}).",
        "",
        "| method | N (climbers, or members a generation) | seeds | critical path to the target (median) | per seed "
        "| speed-up in evaluations | speed-up in multiply-adds | evaluations in all (median) |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for climbers in sorted({row["climbers"] for row in climbs if row["climbers"] > 1}):
        runs = sorted((row for row in climbs if row["climbers"] == climbers), key=lambda row: row["seed"])
        paths = [row["critical"] if row["reached"] else math.inf for row in runs]
        works = [critical_work(row, step, full) if row["reached"] else math.inf for row in runs]
        lines.append(_line("recombined climbs", climbers, runs, paths, works, one_path, one_work, None))
    for method in METHODS:
        for population in sorted({row["population"] for row in rows if row["method"] == method}):
            runs = [row for row in rows if row["method"] == method and row["population"] == population]
            runs = sorted((row for row in runs if row["target"] == target), key=lambda row: row["seed"])
            if not runs:
                continue
            paths = [row["critical"] if row["reached"] else math.inf for row in runs]
            works = [path * full for path in paths]  # a member is a full pass: every parameter moves
            lines.append(_line(method, population, runs, paths, works, one_path, one_work, "evaluations"))
    atomic_write_text(out / "population_es.md", "\n".join(lines) + "\n")
    print("\n".join(lines))


def _line(name, count, runs, paths, works, one_path, one_work, total_key) -> str:
    """A row of the report: median critical path, per seed, speed-ups in evaluations and in work."""
    median, work = statistics.median(paths), statistics.median(works)
    per_seed = ", ".join(
        f"{path:,.0f}" if not math.isinf(path) else f"> {row['critical']:,} ({row['loss']:.4f})"
        for path, row in zip(paths, runs, strict=True)
    )
    shown = "beyond the budget" if math.isinf(median) else f"{median:,.0f}"
    speedup = "—" if math.isinf(median) else f"{one_path / median:.2f}x"
    work_speedup = "—" if math.isinf(work) else f"{one_work / work:.2f}x"
    total = "" if total_key is None else f"{statistics.median(row[total_key] for row in runs):,.0f}"
    return f"| {name} | {count} | {len(runs)} | {shown} | {per_seed} | {speedup} | {work_speedup} | {total} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "report"))
    parser.add_argument("--methods", default="snes,cma,sepcma", type=comma_list(choices=METHODS))
    parser.add_argument(
        "--population", default="4,16,64", type=comma_list(int), help="members a generation (lambda = N climbers)"
    )
    parser.add_argument("--seeds", default="0,1,2", type=comma_list(int))
    parser.add_argument("--sigma", type=float, default=0.1, help="starting step size of every method")
    parser.add_argument("--generations", type=int, default=200_000, help="most generations a run makes")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    {"run": command_run, "report": command_report}[args.command](args)


if __name__ == "__main__":
    main()
