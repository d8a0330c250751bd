"""Expensive objectives: how much sooner N workers reach the return one worker reaches, counted in evaluations.

In-process and deterministic (a count, not a time). Where an evaluation is a few episodes of an
environment, evaluations are the whole cost, so the critical path of a search (per round, the most
evaluations one worker makes plus any the coordinator makes itself) is its time. For each of
gymnasium's CartPole-v1, Acrobot-v1 and Pendulum-v1, with bench/objectives.py's policy (one hidden
layer of 16 ReLU units; minus the mean return of 5 episodes whose seeds derive from the round's seed,
the same for every candidate of the round):

1. target: ONE worker runs the current climb (the project's own `SearchStepper` on an in-process
   executor, climbers=1, its default rounds) for `--budget` evaluations; its result (the best network)
   then plays `EVALUATION_EPISODES` unseen episodes (odd seeds drawn from 1000 + the run's seed); the
   target is the median over seeds of that mean return;
2. every method, for every number of workers W: the critical path until its result (the climb's best
   network, a population strategy's centre) first reaches the target on the same unseen episodes,
   checked after every round (a population strategy: once at least `CHECK_EVERY` evaluations were made
   since the last check); a run stops at the target, or when its critical path reaches the cap
   min(budget, CAP_WORK * budget / W): beyond it the speed-up is below budget / cap anyway.

The speed-up at W workers is one worker's median critical path to the target over the method's
median. Methods (`--methods`, each `name[/key=value...]`):
- climb: the current climb, climbers = W, its default rounds (`--steps` other than the default: `climb/steps=4`);
- openai_es, snes, pgpe: `workers.population`, members handed out as seeds, a generation of
  `population` members plus the centre and the best so far costing ceil((population + 2) / W)
  evaluations of the critical path (`population=4w`: 4W - 2 members, 4 evaluations a worker;
  `population=auto`: the search's default, SNES's own for the parameters filled to whole evaluations
  a worker); other keys are `PopulationSettings` fields (sigma, learning_rate, ...), and
  `result=centre` checks the centre rather than the best candidate.

Usage (counts: may run beside other work, under nice):
    python bench/expensive_objectives.py target --envs CartPole-v1 --budget 2000 --seeds 0,1,2
    python bench/expensive_objectives.py run --envs CartPole-v1 --methods climb,openai_es/population=2w \
        --workers 1,2,4,8,16,32,64 --seeds 0,1,2 --jobs 2
    python bench/expensive_objectives.py report
Raw output: bench/results/expensive_objectives.jsonl (one line per run, its trace of (critical path,
unseen return) included); the report: bench/results/expensive_objectives.md.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, RESULTS, environment_defaults

environment_defaults(ONE_THREAD)

import numpy as np  # noqa: E402

ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1")
HIDDEN = (16,)  # bench/objectives.py's policy
EPISODES = 5  # per evaluation, bench/objectives.py's
EVALUATION_EPISODES = 20  # unseen episodes the result plays at every check
EVALUATION_SEED = 1000  # + the run's seed: bench/objectives.py's evaluation seed
CHECK_EVERY = 16  # a population strategy's result is checked once this many evaluations were made since the last
CAP_WORK = 2  # a run's evaluations in all are at most about CAP_WORK times the budget
WORKERS = (1, 2, 4, 8, 16, 32, 64)
RAW = "expensive_objectives.jsonl"
REPORT = "expensive_objectives.md"
DEFAULT_BUDGET = 2000


class UnseenReturns:
    """The mean return of a result on the run's unseen episodes, computed once per distinct network."""

    def __init__(self, env: str, seed: int):
        from coordinator.data.environments import env_spec
        from workers.episodes import EpisodeObjective

        spec = env_spec(env)
        self.objective = EpisodeObjective(env, 1, spec, spec.layers(HIDDEN))
        self.seed = EVALUATION_SEED + seed
        self._last: tuple[bytes, float] | None = None

    def __call__(self, params: np.ndarray) -> float:
        key = np.asarray(params, dtype=np.float64).tobytes()
        if self._last is None or self._last[0] != key:
            self._last = (key, float(self.objective.returns(params, EVALUATION_EPISODES, self.seed).mean()))
        return self._last[1]


def parse_method(spec: str, workers: int) -> tuple[str, dict]:
    """(name, settings) of a method spec `name[/key=value...]`; `population=Nw`: N * workers - 2 members (at
    least 2), so that with the centre and the best so far a generation is N evaluations a worker."""
    name, *pairs = spec.split("/")
    settings: dict = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        if key == "population" and value.endswith("w"):
            settings[key] = max(2, int(value[:-1]) * workers - 2)
        elif key == "population" and value == "auto":
            settings[key] = "auto"  # the search's default for the policy's parameters: resolved in run_population
        else:
            settings[key] = json.loads(value) if value[:1].isdigit() or value[:1] in "-[{tf" else value
    return name, settings


def cap_of(budget: int, workers: int) -> int:
    """The most critical-path evaluations a run of `workers` makes."""
    return min(budget, math.ceil(CAP_WORK * budget / workers))


def run_climb(env: str, workers: int, seed: int, stop: float | None, cap: int, settings: dict) -> dict:
    """The current climb, climbers = workers, on the project's own stepper in this process."""
    from coordinator import SearchConfig
    from coordinator.rounds.executors import InProcessExecutor
    from coordinator.rounds.prepare import prepare_run
    from coordinator.rounds.stepper import SearchStepper

    config = SearchConfig(
        env=env, search="climb", hidden=HIDDEN, episodes=EPISODES, seed=seed, climbers=workers, workers=workers,
        time_budget=None, rounds=10**9, **settings,
    )  # fmt: skip
    prepared = prepare_run(config)
    executor = InProcessExecutor(None, prepared.config, prepared.objective)
    stepper = SearchStepper(prepared, executor)
    unseen = UnseenReturns(env, seed)
    critical, evaluations, trace = 0, 0, []
    while critical < cap:
        record = stepper.step()
        critical += record.critical_evaluations
        evaluations += record.evaluations + record.coordinator_evaluations
        value = unseen(stepper.best.outcome.params)
        trace.append([critical, round(value, 3)])
        if stop is not None and value >= stop:
            break
    return {"critical": critical, "evaluations": evaluations, "trace": trace, "steps": stepper.config.steps}


def run_population(env: str, method: str, workers: int, seed: int, stop: float | None, cap: int, settings: dict):
    """A `workers.population` strategy, its candidates split among `workers` as workers would score them.

    settings["result"]: "best" (the lowest-scoring candidate of the last generation, the default) or "centre".
    """
    from coordinator.data.environments import env_objective, env_spec
    from coordinator.rounds.objective_round import round_seed
    from coordinator.rounds.population_round import auto_population
    from workers.network import Layout
    from workers.population import PopulationSettings, candidate_count, run_generation, start_centre, start_state

    settings = dict(settings)
    result = settings.pop("result", "best")
    spec = env_spec(env)
    layers = spec.layers(HIDDEN)
    layout = Layout(layers)
    if settings.get("population") == "auto":
        settings["population"] = auto_population(workers, layout.num_params)
    objective = env_objective(env, EPISODES, spec, layers)
    strategy = PopulationSettings(search=method, **settings)
    state = start_state(start_centre(seed, layout), strategy)
    unseen = UnseenReturns(env, seed)
    critical = evaluations = since_check = 0
    trace = []
    while critical < cap:
        count = candidate_count(state, strategy)
        state, _ = run_generation(objective, state, strategy, seed, round_seed(seed, state.generation), workers)
        critical += -(-count // workers)
        evaluations += count
        since_check += count
        if since_check >= CHECK_EVERY or critical >= cap:
            since_check = 0
            value = unseen(state.best if result == "best" else state.centre)
            trace.append([critical, round(value, 3)])
            if stop is not None and value >= stop:
                break
    return {"critical": critical, "evaluations": evaluations, "trace": trace, "population": strategy.population,
            "generations": state.generation, "result": result}  # fmt: skip


def one_run(env: str, spec: str, workers: int, seed: int, stop: float | None, cap: int) -> dict:
    """One run: its figures and trace, as a raw line."""
    name, settings = parse_method(spec, workers)
    began = time.process_time()
    if name == "climb":
        figures = run_climb(env, workers, seed, stop, cap, settings)
    else:
        figures = run_population(env, name, workers, seed, stop, cap, settings)
    trace = figures["trace"]
    reached = None if stop is None else first_reach(trace, stop)
    reached = None if reached == math.inf else reached
    return {
        "env": env,
        "method": spec,
        "name": name,
        "settings": settings,
        "workers": workers,
        "seed": seed,
        "target": stop,
        "cap": cap,
        "reached": reached,
        "final_return": trace[-1][1],
        **figures,
        "cpu_seconds": round(time.process_time() - began, 1),
        "policy": "-".join(map(str, _layers(env))),
        "episodes_per_evaluation": EPISODES,
        "evaluation_episodes": EVALUATION_EPISODES,
    }


def _layers(env: str) -> tuple[int, ...]:
    from coordinator.data.environments import env_spec

    return env_spec(env).layers(HIDDEN)


def _one(arguments) -> dict:
    return one_run(*arguments)


def read_rows(out: Path) -> list[dict]:
    """Every raw line so far."""
    path = out / RAW
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def target_of(rows: list[dict], env: str, budget: int) -> tuple[float, float] | None:
    """(target return, one worker's median critical path to it) from the target runs of env at this budget."""
    runs = [row for row in rows if row["env"] == env and row.get("kind") == "target" and row["cap"] == budget]
    if len(runs) < 3:
        return None
    target = statistics.median(row["final_return"] for row in runs)
    paths = [first_reach(row["trace"], target) for row in runs]
    return target, statistics.median(paths)


def first_reach(trace: list, target: float) -> float:
    """The critical path at the first check whose unseen return is at or above target (inf: none)."""
    return next((critical for critical, value in trace if value >= target), math.inf)


def command_target(args) -> None:
    """One worker's current climb for the budget: the target's runs."""
    out = Path(args.out)
    jobs = [(env, "climb", 1, seed, None, args.budget) for env in args.envs.split(",") for seed in _ints(args.seeds)]
    for row in _map(jobs, args.jobs):
        row["kind"] = "target"
        _append(out, row)
        print(f"{row['env']} target seed {row['seed']}: {row['final_return']:.1f} after {row['critical']} "
              f"({row['cpu_seconds']} s)", flush=True)  # fmt: skip


def command_run(args) -> None:
    """Every method and worker count to the target (or its cap)."""
    out = Path(args.out)
    rows = read_rows(out)
    jobs = []
    for env in args.envs.split(","):
        found = target_of(rows, env, args.budget)
        if found is None:
            raise SystemExit(f"{env}: no target at budget {args.budget}; run `target` with 3 seeds first")
        for method in args.methods.split(","):
            for workers in _ints(args.workers):
                for seed in _ints(args.seeds):
                    jobs.append((env, method, workers, seed, found[0], cap_of(args.budget, workers)))
    for row in _map(jobs, args.jobs):
        row["kind"] = "run"
        row["budget"] = args.budget
        _append(out, row)
        print(f"{row['env']} {row['method']} W={row['workers']} seed {row['seed']}: reached {row['reached']} "
              f"(cap {row['cap']}, final {row['final_return']:.1f}, {row['cpu_seconds']} s)", flush=True)  # fmt: skip


def command_report(args) -> None:
    """The table of speed-ups: one worker's median critical path to the target over each method's median."""
    from cluster.atomic_files import atomic_write_text

    out = Path(args.out)
    rows = read_rows(out)
    lines = [
        "# Expensive objectives: critical path in evaluations to one worker's return, 1 to 64 workers",
        "",
        "In-process and deterministic (counts; bench/expensive_objectives.py says how it is measured):",
        "",
        "    python bench/expensive_objectives.py target --budget 2000 --seeds 0,1,2 --jobs 2",
        "    python bench/expensive_objectives.py run --budget 2000 --seeds 0,1,2 --jobs 2 \\",
        "        --methods climb,openai_es/population=1w/sigma=0.3/learning_rate=0.3",
        "    python bench/expensive_objectives.py run --budget 2000 --seeds 0,1,2 --jobs 2 --workers 16,64 \\",
        "        --methods snes/population=1w/sigma=0.3,pgpe/population=1w/sigma=0.3",
        "    python bench/expensive_objectives.py run --budget 2000 --seeds 0,1,2 --jobs 2 --workers 1,2,4,8,32 \\",
        "        --methods snes/population=1w/sigma=0.3",
        "    python bench/expensive_objectives.py run --budget 2000 --seeds 0,1,2 --jobs 2 \\",
        "        --methods snes/population=auto   # the search's default (SNES's own population, filled)",
        "    python bench/expensive_objectives.py report",
        "",
        "Raw lines: expensive_objectives.jsonl (kind 'target': one worker's climb for the budget; kind 'run').",
        "",
    ]
    for env in ENVS:
        for budget in sorted({row["cap"] for row in rows if row["env"] == env and row.get("kind") == "target"}):
            found = target_of(rows, env, budget)
            if found is None:
                continue
            target, one_path = found
            runs = [row for row in rows if row["env"] == env and row.get("kind") == "run" and row["budget"] == budget
                    and row["target"] == target]  # fmt: skip
            if not runs:
                continue
            lines += [
                f"### {env} (policy {runs[0]['policy']}, {EPISODES} episodes an evaluation), budget {budget:,} "
                f"evaluations",
                "",
                f"Target: unseen mean return {target:.1f} ({EVALUATION_EPISODES} episodes), one worker's climb's "
                f"median over 3 seeds at the budget; its median critical path to it: {one_path:,.0f} evaluations.",
                "",
                "| method | " + " | ".join(f"{w} workers" for w in WORKERS) + " |",
                "|---|" + "---:|" * len(WORKERS),
            ]
            for method in dict.fromkeys(row["method"] for row in runs):
                cells = []
                for workers in WORKERS:
                    cell = [row for row in runs if row["method"] == method and row["workers"] == workers]
                    cells.append(_cell(cell, one_path))
                lines.append(f"| {method} | " + " | ".join(cells) + " |")
                own = [row for row in runs if row["method"] == method and row["workers"] == 1]
                own_path = statistics.median(_path(row) for row in own) if own else math.inf
                if method != "climb" and not math.isinf(own_path):  # against itself on one worker: its own scaling
                    cells = [_cell([row for row in runs if row["method"] == method and row["workers"] == workers],
                                   own_path) for workers in WORKERS]  # fmt: skip
                    lines.append(f"| {method}, against itself on 1 worker | " + " | ".join(cells) + " |")
            lines.append("")
    lines.append(
        "Each cell: speed-up = one worker's median critical path to the target / the method's median over the "
        "seeds (in brackets: that median critical path in evaluations; the number of seeds). '<' where the median "
        "run stopped at its cap without reaching the target. 'against itself on 1 worker': the same method's own "
        "median on one worker over its median here. A population strategy's `population=1w` is W - 2 members "
        "(at least 2) plus the centre and the best so far: one evaluation a worker a generation from 4 workers "
        "on, so its runs on 1, 2 and 4 workers are the same run split differently (the same result, as the "
        "final returns in the raw lines show). A median path of 1 to 4 evaluations means the first generations' "
        "best candidate already reached the target: there the figure says how easy the target is rather than how "
        "the method scales."
    )
    atomic_write_text(out / REPORT, "\n".join(lines) + "\n")
    print("\n".join(lines))


def _path(row: dict) -> float:
    return row["reached"] if row["reached"] is not None else math.inf


def _cell(cell: list[dict], one_path: float) -> str:
    if not cell:
        return ""
    median = statistics.median(_path(row) for row in cell)
    seeds = len(cell)
    if math.isinf(median):
        cap = max(row["cap"] for row in cell)
        return f"< {one_path / cap:.1f}x ({seeds})"
    return f"{one_path / median:.1f}x ({median:,.0f}; {seeds})"


def _ints(text: str) -> list[int]:
    return [int(value) for value in text.split(",") if value]


def _map(jobs: list, processes: int):
    if processes <= 1:
        for job in jobs:
            yield one_run(*job)
        return
    with ProcessPoolExecutor(processes) as pool:
        yield from pool.map(_one, jobs)


def _append(out: Path, row: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / RAW).open("a") as stream:
        stream.write(json.dumps(row) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("target", "run", "report"))
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--methods", default="climb,openai_es/population=2w")
    parser.add_argument("--workers", default=",".join(map(str, WORKERS)))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET, help="one worker's evaluations (the target's)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (processes)")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    {"target": command_target, "run": command_run, "report": command_report}[args.command](args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
