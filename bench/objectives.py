"""Policies for gymnasium's classic control, beside EvoTorch's PGPE and SNES at the same budget and cores.

    python bench/objectives.py --out bench/results/objectives.jsonl
    python bench/objectives.py --summarise bench/results/objectives.jsonl

Every method trains the same policy network (workers.policy: observations in, arg-max for discrete
actions, tanh scaled to the box for continuous ones; one hidden layer of 16 ReLU units) on the same
objective (workers.episodes.EpisodeObjective: minus the mean return of 5 episodes, their seeds drawn
from a seed per round or generation, the same for every candidate of it), with the same wall-clock
budget on the same cores:

- hillclimb: `search(SearchConfig(env=...), executor="ray")`, a private Ray with one worker per core;
  the budget counts starting Ray and the workers (as a user's run does); its defaults (a population
  strategy, SNES, for an environment), or other settings with `--hillclimb-settings` ({"search": "climb"});
- pgpe, snes: EvoTorch's PGPE (ClipUp) and SNES, each generation's population scored by a pool of
  one process per core, half the population each; the clock starts before the pool does.

Then each result (the climb's best network; PGPE's and SNES's centre) plays the same 100 episodes it
never trained on (evaluation seeds: odd, drawn from 1000 + the run's seed), and their mean return is
the figure. Each run is a fresh process, one after another; one JSON line per run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

import numpy as np

from bench.common import RESULTS, ROOT, append_jsonl, comma_list, read_jsonl

ENVS = ("CartPole-v1", "Pendulum-v1", "Acrobot-v1")
METHODS = ("hillclimb", "pgpe", "snes")
HIDDEN = (16,)
EPISODES = 5  # per evaluation of a candidate, every method
EVALUATION_EPISODES = 100
# EvoTorch's settings for policies (its PGPE gym examples: ClipUp, centred ranks, radius 0.27 of the
# centre's speed); SNES with its own defaults and a starting spread like PGPE's.
PGPE_SETTINGS = {
    "popsize": 50,
    "center_learning_rate": 0.01125,
    "stdev_learning_rate": 0.1,
    "radius_init": 0.27,
    "optimizer": "clipup",
    "optimizer_config": {"max_speed": 0.015},
    "ranking_method": "centered",
}
SNES_SETTINGS = {"stdev_init": 0.1}


def policy_of(env: str):
    """(spec, layers) of the benchmark's policy for env."""
    from coordinator.data.environments import env_spec

    spec = env_spec(env)
    return spec, (spec.observation_size, *HIDDEN, spec.action_size)


def unseen_returns(env: str, params: np.ndarray, seed: int) -> np.ndarray:
    """The returns of params on the benchmark's 100 evaluation episodes for this seed (the same for every method)."""
    from coordinator.data.environments import evaluate_policy

    spec, layers = policy_of(env)
    return evaluate_policy(env, spec, layers, params, EVALUATION_EPISODES, 1000 + seed).returns


def run_hillclimb(env: str, seed: int, budget: float, cores: int, settings: dict | None = None) -> dict:
    """The project's search on a private Ray, one worker per core (settings: other climb settings than the defaults)."""
    from coordinator import SearchConfig, search

    config = SearchConfig(
        env=env, hidden=HIDDEN, episodes=EPISODES, seed=seed, time_budget=budget, workers=cores, **(settings or {})
    )
    started = time.monotonic()
    result = search(config, executor="ray")
    seconds = time.monotonic() - started
    return {
        "params": result.params,
        "seconds": seconds,
        "evaluations": result.evaluations,
        "rounds": result.rounds_completed,
        "search": result.config.search,
        "population": result.config.population,
        "steps_per_round": result.config.steps,
        "climbers": result.config.climbers,
        "best_training_return": -result.best_loss,
        "settings": settings or {},
    }


_OBJECTIVE = None


def _pool_start(env: str) -> None:
    global _OBJECTIVE
    from workers.episodes import EpisodeObjective

    spec, layers = policy_of(env)
    _OBJECTIVE = EpisodeObjective(env, EPISODES, spec, layers)


def _pool_losses(arguments) -> np.ndarray:
    params, seed = arguments
    return _OBJECTIVE(params, seed)


def run_evotorch(method: str, env: str, seed: int, budget: float, cores: int) -> dict:
    """EvoTorch's PGPE or SNES, the population scored by `cores` processes, a new episode seed each generation."""
    import multiprocessing

    import evotorch
    import torch
    from evotorch import Problem
    from evotorch.algorithms import PGPE, SNES

    from coordinator.rounds.objective_round import round_seed
    from workers import Layout

    torch.set_num_threads(1)
    layers = policy_of(env)[1]
    started = time.monotonic()
    context = multiprocessing.get_context("spawn")
    evaluations, generation = 0, [0]
    with context.Pool(cores, initializer=_pool_start, initargs=(env,)) as pool:

        def fitness(solutions: torch.Tensor) -> torch.Tensor:
            nonlocal evaluations
            population = solutions.detach().cpu().numpy().astype(np.float64)
            episode_seed = round_seed(seed, generation[0])  # common random numbers, as the climbs have
            generation[0] += 1
            parts = np.array_split(population, cores)
            losses = np.concatenate(pool.map(_pool_losses, [(part, episode_seed) for part in parts]))
            evaluations += len(population)
            return torch.from_numpy(losses)

        problem = Problem(
            "min", fitness, solution_length=Layout(layers).num_params, initial_bounds=(-0.01, 0.01),
            dtype=torch.float64, vectorized=True, seed=seed,
        )  # fmt: skip
        if method == "pgpe":
            searcher, settings = PGPE(problem, **PGPE_SETTINGS), PGPE_SETTINGS
        else:
            searcher, settings = SNES(problem, **SNES_SETTINGS), SNES_SETTINGS
        while time.monotonic() - started < budget:
            searcher.step()
        center = searcher.status["center"].detach().cpu().numpy().astype(np.float64)
        best_training_return = -float(searcher.status["best_eval"])
    return {
        "params": center,
        "seconds": time.monotonic() - started,
        "evaluations": evaluations,
        "generations": generation[0],
        "popsize": getattr(searcher, "_popsize", None),
        "best_training_return": best_training_return,
        "settings": settings,
        "evotorch": evotorch.__version__,
    }


def one_run(env: str, method: str, seed: int, budget: float, cores: int, settings: dict | None = None) -> dict:
    """One run in this process: train, then play the unseen episodes."""
    load_before = os.getloadavg()
    if method == "hillclimb":
        figures = run_hillclimb(env, seed, budget, cores, settings)
    else:
        figures = run_evotorch(method, env, seed, budget, cores)
    returns = unseen_returns(env, figures.pop("params"), seed)
    return {
        "env": env,
        "method": method,
        "seed": seed,
        "budget": budget,
        "cores": cores,
        "policy": "-".join(map(str, policy_of(env)[1])),
        "episodes_per_evaluation": EPISODES,
        **figures,
        "unseen_mean_return": float(returns.mean()),
        "unseen_min_return": float(returns.min()),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


def summarise(paths: list[str]) -> str:
    """A markdown table: median (min-max) of the unseen mean return per environment and method."""
    runs = [run for path in paths for run in read_jsonl(path)]
    lines = [
        "| environment | policy | method | unseen mean return, median (min to max) | seeds | evaluations | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        if run["method"] == "hillclimb":  # which search it made (runs before population strategies: the climbs)
            given = ", ".join(f"{key}={value}" for key, value in (run.get("settings") or {}).items())
            search = run.get("search", "climb")
            population = f", population {run['population']}" if run.get("population") else ""
            run["method"] = f"hillclimb ({search}{population})" + (f" {given}" if given else "")
    order = lambda key: (ENVS.index(key[0]), METHODS.index(key[1].split()[0]), key[1])  # noqa: E731
    for env, method in sorted({(run["env"], run["method"]) for run in runs}, key=order):
        cell = [run for run in runs if run["env"] == env and run["method"] == method]
        values = [run["unseen_mean_return"] for run in cell]
        evaluations = int(np.median([run["evaluations"] for run in cell]))
        seconds = np.median([run["seconds"] for run in cell])
        lines.append(
            f"| {env} | {cell[0]['policy']} | {method} | {np.median(values):.1f} ({min(values):.1f} to "
            f"{max(values):.1f}) | {','.join(str(run['seed']) for run in cell)} | {evaluations:,} | {seconds:.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--envs", default=",".join(ENVS), type=comma_list(choices=ENVS), help=f"any of {','.join(ENVS)}"
    )
    parser.add_argument(
        "--methods", default=",".join(METHODS), type=comma_list(choices=METHODS), help=f"any of {','.join(METHODS)}"
    )
    parser.add_argument("--seeds", default="0,1,2", type=comma_list(int))
    parser.add_argument("--budget", type=float, default=60.0, help="wall-clock seconds of each run")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument(
        "--hillclimb-settings", default="{}", help='the hillclimb runs\' other settings, JSON: {"search": "climb"}'
    )
    parser.add_argument("--out", default=str(RESULTS / "objectives.jsonl"))
    parser.add_argument("--one", help=argparse.SUPPRESS)  # env,method,seed: one run, its JSON line on stdout
    parser.add_argument("--summarise", nargs="+", metavar="JSONL", help="print the table of these files and exit")
    args = parser.parse_args(argv)
    if args.summarise:
        print(summarise(args.summarise))
        return 0
    if args.one:
        env, method, seed = args.one.split(",")
        settings = json.loads(args.hillclimb_settings)
        print(json.dumps(one_run(env, method, int(seed), args.budget, args.cores, settings)))
        return 0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"load average before: {os.getloadavg()}", flush=True)
    environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    for env in args.envs:
        for seed in args.seeds:
            for method in args.methods:
                command = [sys.executable, __file__, "--one", f"{env},{method},{seed}",
                           "--budget", str(args.budget), "--cores", str(args.cores),
                           "--hillclimb-settings", args.hillclimb_settings]  # fmt: skip
                completed = subprocess.run(command, capture_output=True, text=True, env=environment, check=False)
                if completed.returncode != 0:
                    print(f"{env} {method} seed {seed} failed:\n{completed.stderr[-2000:]}", flush=True)
                    continue
                run = json.loads(completed.stdout.strip().splitlines()[-1])
                append_jsonl(out, run)
                print(
                    f"{env} {method} seed {seed}: unseen mean return {run['unseen_mean_return']:.1f} "
                    f"({run['evaluations']} evaluations in {run['seconds']:.1f} s, load {run['load_before'][0]:.2f})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
