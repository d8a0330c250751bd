"""This project's search against gradient-free peers, every search given the same data, wall-clock budget and seeds.

Usage: python bench/peers.py [--budgets 10,60] [--budgets-for digits=60,spiral=10/60]
                             [--datasets spiral,vertical,digits] [--seeds 0,1,2]
                             [--peers seed,oneplusone,cma,snes,pgpe,project1,project]
                             [--objective numpy|compiled|numpy,compiled] [--cores N]
                             [--project-executor ray|inprocess] [--out bench/results]
                             [--resume] [--estimate] [--replot]

The final measurement (on a quiet machine; --estimate prints the plan and its duration and exits):

    python bench/peers.py --budgets 10,60 --datasets spiral,vertical,digits --seeds 0,1,2 --out bench/results

is 126 searches (3 data sets x 2 budgets x 3 seeds x 7 searches), about 1 h 27 min on 2 cores. The
shorter one keeps spiral's two budgets and gives vertical 10 s and digits 60 s (84 searches, about
58 min):

    python bench/peers.py --budgets-for spiral=10/60,vertical=10,digits=60 --seeds 0,1,2 --out bench/results

Then the same command with `--objective compiled --resume` (same --out) adds the peers' rows on the
compiled loss (90 more searches after the full command, about 1 h 3 min; 60 after the shorter one,
about 42 min). Estimates are rough (OVERHEAD_S); --estimate prints one for any command.

The data and the nets: nnfs spiral_data(100, 3) with layers 2-64-3 and vertical_data(100, 3) with
2-3-3 (300 rows each; no test rows: loss and accuracy are on those rows), and scikit-learn's digits
with 64-32-10, split 75/25 (stratified, data seed 0) and standard-scaled exactly as
`prepare_run(SearchConfig(dataset="digits"))` does it (bench/peer_methods.problem_data calls it). Every
search learns from the same training rows (1,347 for digits; this project's search holds its
default validation share, 0.2, of them out to pick its network, and fits its scaling on the rest,
as its defaults do) and every run records the test accuracy of its final network on the 450 test
rows (a peer's best point; this project's result).

The searches, each in a process of its own, one after another, for every seed in --seeds (a
search's optimiser seed and its starting point both come from the seed):

- the peers (seed loop, nevergrad OnePlusOne, pycma CMA-ES, EvoTorch SNES and PGPE) on one core each
  (OMP/MKL/OpenBLAS/numba/torch threads set to 1), minimising the seed's loss through
  bench/peer_methods.py. --objective numpy (the default): `workers.network.evaluate`, population methods
  handing it the whole population as one (B, P) batch (with glibc's malloc thresholds raised, see
  MALLOC_ENVIRONMENT, so that batches do not page-fault on every call). --objective compiled: the
  workers package's compiled from-scratch loss, one call per network (population methods call it per
  member): the peers then pay what a full evaluation costs this project's kernel, which separates
  the strategy (and the incremental evaluation) from the cost of numpy's. Both may be given
  (numpy,compiled); the table shows each as its own rows;
- this project's search, `search(SearchConfig(dataset, layers, seed, time_budget=budget), executor="ray")`
  with its defaults, twice: on one worker ("project1", like for like with the one-core peers) and on
  every local core (or --cores; "project"; not run where that is one core).

A peer's clock starts when its optimiser is built (after imports, data loading and compiling); this
project's clock starts when `search` is called, so its time includes Ray's start-up and the workers'
warm-up, and it always finishes the round it is in (on digits one round of 20,000 steps can take
longer than 10 s). Peers whose packages are missing are skipped with a note (pip install -e '.[bench]').

peers.json is rewritten (atomically) after every search, so an interrupted measurement keeps what it
measured; --resume reruns only the searches peers.json in --out lacks (or that failed there), and keeps
its other runs, so two commands with different --objective or --budgets fill one table. --replot redraws
peers.md and peers.png from peers.json without running anything.

Writes into --out: peers.json (every run: its seed, settings, cores, CPU and wall seconds, figures and
trace of best loss against time), peers.md (the table, also printed: per cell the median over seeds
and the spread, min-max) and peers.png (median best loss against time per search, a band for the
spread).
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import RESULTS, ROOT, comma_list, git_commit, grouped, machine, package_versions
from bench.peer_methods import LAYERS, OBJECTIVE_KINDS
from cluster.atomic_files import atomic_write_text

PEER_ORDER = ("seed", "oneplusone", "cma", "snes", "pgpe", "project1", "project")
PROJECT_SEARCHES = ("project1", "project")
DATASETS = tuple(LAYERS)
OWN = "own kernel"  # the objective column of this project's rows: its own (incremental, compiled) evaluation
LABELS = {
    "seed": "seed loop",
    "oneplusone": "nevergrad OnePlusOne",
    "cma": "pycma CMA-ES",
    "snes": "EvoTorch SNES",
    "pgpe": "EvoTorch PGPE (ClipUp)",
    "project1": "hillclimb search, 1 core",
    "project": "hillclimb search, N cores",
}
# Modules a search needs beyond the project's own dependencies.
REQUIRES = {
    "oneplusone": ("nevergrad",),
    "cma": ("cma",),
    "snes": ("evotorch", "torch"),
    "pgpe": ("evotorch", "torch"),
}
DATASET_REQUIRES = {"digits": ("sklearn",)}
ONE_CORE_ENVIRONMENT = {
    name: "1"
    for name in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "NUMBA_NUM_THREADS",
    )
}
# glibc returns the big temporaries of a batched numpy evaluation to the kernel after every call and
# page-faults them back in on the next one; with these thresholds a (21, P) batch of the spiral
# network costs ~80 us per network instead of ~230 us (single networks are unaffected). Peers only.
MALLOC_ENVIRONMENT = {"MALLOC_MMAP_THRESHOLD_": str(256 << 20), "MALLOC_TRIM_THRESHOLD_": str(256 << 20)}
TRACE_POINTS = 400  # a trace is thinned to about this many points, evenly in log-time
PLOT_POINTS = 300  # times at which the seeds' traces are read for the median and the band
CHILD_SLACK_S = 600  # how long a search may run past its budget (imports, Ray start-up) before it is ended
PACKAGES = ("numpy", "numba", "ray", "scikit-learn", "torch", "evotorch", "nevergrad", "cma", "matplotlib")
# Rough seconds a search's process takes beyond its budget (start, imports, data, the overshoot of its
# last step or round, Ray's shutdown), measured on the 2-core machine; for the estimate only.
OVERHEAD_S = {"seed": 2.0, "oneplusone": 4.0, "cma": 4.0, "snes": 7.0, "pgpe": 7.0, "project1": 5.0, "project": 5.0}
DATASET_OVERHEAD_S = {"digits": 2.5}  # importing scikit-learn, and the longer last step
COMPILED_OVERHEAD_S = 1.0  # importing numba and loading the compiled loss
# On digits this project's last round (20,000 steps a climber) runs on past the budget: on average
# about half a round.
PROJECT_DATASET_OVERHEAD_S = {"digits": 8.0}
CMA_DATASET_OVERHEAD_S = {"digits": 4.0}  # CMA-ES's eigendecompositions in 2,410 dimensions take seconds


# ------------------------------------------------------------------------------------------------
# Command line


def _numbers(text: str, what: str, parser: argparse.ArgumentParser, kind=float, separator: str = ",") -> list:
    try:
        values = comma_list(kind, separator=separator)(text)
    except argparse.ArgumentTypeError as error:
        parser.error(f"{what}: {error}")
    if not values:
        parser.error(f"{what}: give at least one")
    return values


def _budgets(values: list[float], what: str, parser: argparse.ArgumentParser) -> list[float]:
    if any(not (math.isfinite(value) and value > 0) for value in values):
        parser.error(f"{what}: every budget must be a positive number of seconds")
    return list(dict.fromkeys(values))


def _names(text: str, choices: tuple[str, ...], what: str, parser: argparse.ArgumentParser) -> list[str]:
    names = comma_list()(text)
    unknown = [name for name in names if name not in choices]
    if unknown or not names:
        parser.error(f"{what}: choose from {', '.join(choices)} (got {', '.join(unknown) or 'none'})")
    return [name for name in choices if name in names]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="10,60", help="wall-clock budgets in seconds, comma-separated")
    parser.add_argument(
        "--budgets-for",
        default="",
        help="budgets per data set, overriding --budgets for those named: digits=60,spiral=10/60 ('/' between budgets)",
    )
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"any of {','.join(DATASETS)}")
    parser.add_argument("--seeds", default="0,1,2", help="seeds, comma-separated: every search runs once per seed")
    parser.add_argument("--peers", default=",".join(PEER_ORDER), help=f"searches, any of {','.join(PEER_ORDER)}")
    parser.add_argument(
        "--objective", default="numpy", help="the peers' loss: numpy (batched), compiled (per network), or both"
    )
    parser.add_argument("--out", default=str(RESULTS), help="directory for peers.json/.md/.png")
    parser.add_argument("--cores", type=int, default=None, help="workers of the 'project' search (default: all)")
    parser.add_argument("--project-executor", choices=("ray", "inprocess"), default="ray")
    parser.add_argument(
        "--project-steps",
        type=int,
        default=None,
        help="steps per climber per round of this project's search (default: its default; fewer only for smoke tests)",
    )
    parser.add_argument("--resume", action="store_true", help="run only the searches peers.json in --out lacks")
    parser.add_argument("--estimate", action="store_true", help="print the plan and its estimated duration, then exit")
    parser.add_argument("--replot", action="store_true", help="only redraw peers.md and peers.png from peers.json")
    parser.add_argument(
        "--child",
        nargs=6,
        metavar=("SEARCH", "DATASET", "BUDGET", "SEED", "OBJECTIVE", "RESULT"),
        help=argparse.SUPPRESS,
    )
    args = parser.parse_args(argv)
    if args.child:
        return args
    args.budgets = _budgets(_numbers(args.budgets, "--budgets", parser), "--budgets", parser)
    args.datasets = _names(args.datasets, DATASETS, "--datasets", parser)
    text, args.budgets_for = args.budgets_for, {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, equals, values = item.partition("=")
        if not equals or name.strip() not in DATASETS:
            parser.error(
                f"--budgets-for: expected DATASET=SECONDS[/SECONDS...] with a data set of {DATASETS}, got {item!r}"
            )
        what = f"--budgets-for {name.strip()}"
        args.budgets_for[name.strip()] = _budgets(_numbers(values, what, parser, separator="/"), what, parser)
    args.seeds = list(dict.fromkeys(_numbers(args.seeds, "--seeds", parser, kind=int)))
    if any(seed < 0 for seed in args.seeds):
        parser.error("--seeds: seeds are non-negative integers")
    args.peers = _names(args.peers, PEER_ORDER, "--peers", parser)
    args.objective = _names(args.objective, OBJECTIVE_KINDS, "--objective", parser)
    if args.cores is not None and args.cores < 1:
        parser.error("--cores: must be at least 1")
    if args.project_steps is not None and args.project_steps < 1:
        parser.error("--project-steps: must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        name, dataset, budget, seed, objective, result_path = args.child
        return run_child(name, dataset, float(budget), int(seed), objective, Path(result_path), args)
    if args.replot:
        return replot(Path(args.out))
    return run_all(args)


# ------------------------------------------------------------------------------------------------
# The plan: which searches run, and how long that takes.


def run_key(run: dict) -> tuple:
    """What identifies a search: data set, budget, search, seed and objective (older records: seed 0)."""
    return (run["dataset"], float(run["budget_s"]), run["search"], run.get("seed", 0), objective_of(run))


def objective_of(run: dict) -> str:
    """The loss a run minimised: 'numpy' or 'compiled' for a peer, OWN for this project's search."""
    return OWN if run["search"] in PROJECT_SEARCHES else run.get("objective", "numpy")


def project_cores(args: argparse.Namespace) -> int:
    """Workers of the 'project' search: --cores, or every CPU this process may run on."""
    from coordinator.rounds.executors import local_cpus

    return args.cores or local_cpus()


def plan(args: argparse.Namespace) -> tuple[list[dict], list[str]]:
    """The searches to run, in order (each seed's full comparison before the next seed), and notes."""
    notes = []
    searches = list(args.peers)
    if "project" in searches and (args.project_executor == "inprocess" or project_cores(args) == 1):
        searches.remove("project")
        if "project1" not in searches:
            searches.append("project1")
        notes.append("project: on one core here (in-process, or --cores 1, or one CPU), so it runs as project1 only")
    jobs = []
    for dataset in args.datasets:
        for budget in args.budgets_for.get(dataset, args.budgets):
            for seed in args.seeds:
                for name in searches:
                    for objective in [OWN] if name in PROJECT_SEARCHES else args.objective:
                        jobs.append(
                            {
                                "search": name,
                                "dataset": dataset,
                                "budget_s": budget,
                                "seed": seed,
                                "objective": objective,
                            }
                        )
    return jobs, notes


def missing_modules(name: str, dataset: str | None = None) -> list[str]:
    """The modules a search (on a data set) needs that are not installed."""
    needed = (*REQUIRES.get(name, ()), *DATASET_REQUIRES.get(dataset, ()))
    return [module for module in needed if importlib.util.find_spec(module) is None]


def estimate_seconds(job: dict) -> float:
    """A rough wall-clock time of one search's process: its budget plus OVERHEAD_S and the data set's extra."""
    name, dataset = job["search"], job["dataset"]
    extra = DATASET_OVERHEAD_S.get(dataset, 0.0)
    if name in PROJECT_SEARCHES:
        extra += PROJECT_DATASET_OVERHEAD_S.get(dataset, 0.0)
    if name == "cma":
        extra += CMA_DATASET_OVERHEAD_S.get(dataset, 0.0)
    if job["objective"] == "compiled":
        extra += COMPILED_OVERHEAD_S
    return job["budget_s"] + OVERHEAD_S[name] + extra


def duration(seconds: float) -> str:
    """'1 h 22 min', '7 min', '40 s'."""
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def describe_plan(jobs: list[dict]) -> str:
    """How many searches, what they are made of, and how long they should take."""
    if not jobs:
        return "plan: nothing to run"
    budgets = sum(job["budget_s"] for job in jobs)
    total = sum(estimate_seconds(job) for job in jobs)
    parts = {
        "data sets": len({job["dataset"] for job in jobs}),
        "budgets": len({job["budget_s"] for job in jobs}),
        "seeds": len({job["seed"] for job in jobs}),
        "searches": len({(job["search"], job["objective"]) for job in jobs}),
    }
    made_of = " x ".join(f"{count} {what}" for what, count in parts.items())
    until = time.strftime("%H:%M", time.localtime(time.time() + total))
    return (
        f"plan: {len(jobs)} searches (up to {made_of}), budgets adding up to {duration(budgets)}; "
        f"estimated duration about {duration(total)} with each process's start-up and wind-down "
        f"(until about {until})"
    )


# ------------------------------------------------------------------------------------------------
# The parent: run every search in a process of its own, one after another, then report.


def run_all(args: argparse.Namespace) -> int:
    out = Path(args.out)
    jobs, notes = plan(args)
    path = out / "peers.json"
    runs, earlier = [], []
    if args.resume and path.is_file():
        previous = json.loads(path.read_text())
        done = {run_key(run) for run in previous["runs"] if run["status"] == "ok"}
        planned = {run_key(job) for job in jobs}
        runs = [run for run in previous["runs"] if run_key(run) in done or run_key(run) not in planned]
        earlier = [*previous["meta"].pop("earlier", []), previous["meta"]]
        skipped = len(jobs)
        jobs = [job for job in jobs if run_key(job) not in done]
        notes.append(f"resume: {skipped - len(jobs)} of {skipped} planned searches already in {path}")
    for note in notes:
        print(note, file=sys.stderr)
    runnable = [job for job in jobs if not missing_modules(job["search"], job["dataset"])]
    print(describe_plan(runnable), file=sys.stderr, flush=True)
    if args.estimate:
        return 0
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine(),
        "packages": package_versions(PACKAGES),
        "load_average_start": os.getloadavg(),
        "seeds": args.seeds,
        "objective": "the seed's loss (dense, ReLU, softmax, cross-entropy clipped at 1e-7) on the training rows; "
        "numpy: workers.network.evaluate (batched), compiled: bench.peer_methods.compiled_loss (per network)",
        "data": "spiral, vertical: nnfs, 100 samples x 3 classes (data seed 0), no test rows; digits: scikit-learn's, "
        "75/25 stratified split (data seed 0), standard scaling fitted on the training rows, as prepare_run does",
        "layers": {name: list(sizes) for name, sizes in LAYERS.items()},
        "peer_environment": {**ONE_CORE_ENVIRONMENT, **MALLOC_ENVIRONMENT, "torch.set_num_threads": "1"},
        "estimated_seconds": sum(estimate_seconds(job) for job in runnable),
    }
    if earlier:
        meta["earlier"] = earlier
    failed = 0
    with tempfile.TemporaryDirectory(prefix="peers-") as scratch:
        for number, job in enumerate(jobs, start=1):
            where = (
                f"[{number}/{len(jobs)}] {job['dataset']} {job['budget_s']:g} s seed {job['seed']} {job['search']}"
                + ("" if job["objective"] == OWN else f" ({job['objective']})")
            )
            missing = missing_modules(job["search"], job["dataset"])
            if missing:
                note = f"skipped: {', '.join(missing)} not installed (pip install -e '.[bench]')"
                run = {**job, "status": "skipped", "note": note}
                print(f"{where}: {note}", file=sys.stderr, flush=True)
            else:
                run = run_one(job, args, Path(scratch) / f"{number}")
                if run["status"] == "ok":
                    test = "" if run.get("test_accuracy") is None else f", test accuracy {run['test_accuracy']:.3f}"
                    print(
                        f"{where}: loss {run['loss']:.4f}{test}, {run['evaluations']:,} evaluations "
                        f"in {run['seconds']:.1f} s",
                        file=sys.stderr,
                        flush=True,
                    )
                else:
                    failed += 1
                    print(f"{where}: FAILED: {run['note']}", file=sys.stderr, flush=True)
            runs = [old for old in runs if run_key(old) != run_key(run)] + [run]
            meta["load_average_end"] = os.getloadavg()
            meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
            atomic_write_text(path, json.dumps({"meta": meta, "runs": runs}, indent=1) + "\n")
    if not path.is_file():  # nothing to run, nothing resumed
        atomic_write_text(path, json.dumps({"meta": meta, "runs": runs}, indent=1) + "\n")
    report(runs, meta, out)
    print(f"\nwrote {path}, {out / 'peers.md'}, {out / 'peers.png'}", file=sys.stderr)
    return 1 if failed else 0


def report(runs: list[dict], meta: dict, out: Path) -> None:
    """Write peers.md and peers.png, and print the table."""
    table = markdown_table(runs, meta)
    atomic_write_text(out / "peers.md", table)
    plot(runs, out / "peers.png")
    print(table, end="")


def replot(out: Path) -> int:
    """Redraw the table and the plot from a finished run's peers.json."""
    path = out / "peers.json"
    if not path.is_file():
        print(f"{path}: no such file; run the benchmark first", file=sys.stderr)
        return 2
    results = json.loads(path.read_text())
    report(results["runs"], results["meta"], out)
    return 0


def run_one(job: dict, args: argparse.Namespace, scratch: Path) -> dict:
    """One search in a fresh process; its result dict (status 'failed' with a note if it broke)."""
    scratch.mkdir(parents=True)
    result_path, log_path = scratch / "result.json", scratch / "log.txt"
    name, budget = job["search"], job["budget_s"]
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, job["dataset"], repr(budget)]
    command += [str(job["seed"]), job["objective"], str(result_path), "--project-executor", args.project_executor]
    if args.cores is not None:
        command += ["--cores", str(args.cores)]
    if args.project_steps is not None:
        command += ["--project-steps", str(args.project_steps)]
    environment = dict(os.environ)
    environment.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if name not in PROJECT_SEARCHES:
        environment.update(ONE_CORE_ENVIRONMENT)
        environment.update(MALLOC_ENVIRONMENT)
    base = {**job, "load_average_before": os.getloadavg(), "started": time.strftime("%Y-%m-%d %H:%M:%S %z")}
    began = time.monotonic()
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
        try:
            code = process.wait(timeout=budget + CHILD_SLACK_S)
        except subprocess.TimeoutExpired:
            process.kill()  # the child this function started, by its handle
            process.wait()
            code = None
        except BaseException:  # Ctrl-C or a kill of this process: end the search it started too
            process.kill()
            process.wait()
            raise
    base["process_seconds"] = time.monotonic() - began
    base["load_average_after"] = os.getloadavg()
    if code == 0 and result_path.is_file():
        return {**base, **json.loads(result_path.read_text())}
    tail = log_path.read_text(errors="replace").strip().splitlines()[-20:]
    why = "timed out" if code is None else f"exit status {code}"
    return {**base, "status": "failed", "note": f"{why}: {tail[-1] if tail else 'no output'}", "log_tail": tail}


# ------------------------------------------------------------------------------------------------
# The child: one search, its result written as JSON.


def run_child(
    name: str, dataset: str, budget: float, seed: int, objective: str, result_path: Path, args: argparse.Namespace
) -> int:
    if name in PROJECT_SEARCHES:
        workers = 1 if name == "project1" else args.cores
        result = run_project(dataset, budget, seed, workers, args.project_executor, args.project_steps)
    else:
        result = run_peer(name, dataset, budget, seed, objective)
    result["status"] = "ok"
    result_path.write_text(json.dumps(result))
    return 0


def run_peer(name: str, dataset: str, budget: float, seed: int, objective_kind: str = "numpy") -> dict:
    """One peer on one data set with one seed, through the numpy or the compiled objective."""
    from bench.peer_methods import PEERS, Objective

    objective = Objective(dataset, budget, objective_kind)
    settings = PEERS[name](objective, seed)
    seconds = objective.seconds()
    return {
        "label": LABELS[name],
        "layers": list(objective.layout.sizes),
        "cores": 1,
        "settings": settings,
        "training_rows": len(objective.data.labels),
        "test_rows": None if objective.data.test_labels is None else len(objective.data.test_labels),
        "loss": objective.best_loss,
        **objective.figures(),
        "evaluations": objective.evaluations,
        "seconds": seconds,
        "cpu_seconds": objective.cpu_seconds(),
        "evaluations_per_s": objective.evaluations / seconds,
        "loss_at_budget": loss_at(objective.trace, budget),
        "trace": thin(objective.trace),
    }


class _Recorder:
    """A search Progress that notes (seconds since the call, best loss) after every climber."""

    def __init__(self, call_time: float):
        self.call_time = call_time
        self.trace: list[tuple[float, float]] = []
        self.first_round_done: tuple[float, float] | None = None  # (seconds since the call, round seconds)

    def close(self) -> None:
        """Nothing to end."""

    def started(self) -> None:
        """Nothing to note before the first round."""

    def climber_done(self, round_index, done, total, best) -> None:
        if best is not None and (not self.trace or best.loss < self.trace[-1][1]):
            self.trace.append((time.monotonic() - self.call_time, float(best.loss)))

    def round_done(self, record, elapsed_s) -> None:
        if self.first_round_done is None:
            self.first_round_done = (time.monotonic() - self.call_time, record.wall_seconds)


def run_project(
    dataset: str, budget: float, seed: int, workers: int | None, executor: str, steps: int | None = None
) -> dict:
    """This project's search with its defaults (workers=None: one per CPU), its clock started at the call."""
    from coordinator import SearchConfig, search

    options = {} if steps is None else {"steps": steps}
    config = SearchConfig(
        dataset=dataset,
        layers=LAYERS[dataset],
        time_budget=budget,
        rounds=10**9,
        seed=seed,
        workers=workers,
        **options,
    )
    started, cpu_started = time.monotonic(), time.process_time()
    recorder = _Recorder(started)
    result = search(config, executor=executor, progress=recorder)
    total = time.monotonic() - started
    cpu_seconds = time.process_time() - cpu_started
    rounds_seconds = sum(record.wall_seconds for record in result.history)
    startup = None
    if recorder.first_round_done is not None:
        startup = recorder.first_round_done[0] - recorder.first_round_done[1]
    environment = result.environment
    cores = environment.workers if environment.executor == "ray" else 1
    where = "Ray" if environment.executor == "ray" else "in-process"
    trace = recorder.trace
    if not trace or trace[-1][1] > result.best_loss:
        trace.append((total, result.best_loss))
    data = result.data
    return {
        "label": f"hillclimb search, {cores} core{'s' if cores > 1 else ''} ({where})",
        "layers": list(config.layers),
        "cores": cores,
        "settings": config.model_dump(mode="json"),
        "environment": environment.model_dump(mode="json"),
        "training_rows": data.rows,
        "validation_rows": None if data.validation is None else data.validation.rows,
        "test_rows": None if data.test is None else data.test.rows,
        "loss": result.best_loss,
        "accuracy": result.best_accuracy,
        "validation_accuracy": result.validation_accuracy,
        "test_loss": result.test_loss,
        "test_accuracy": result.test_accuracy,
        "evaluations": result.evaluations,
        "seconds": total,
        "cpu_seconds": cpu_seconds if environment.executor == "inprocess" else None,
        "evaluations_per_s": result.evaluations / total,
        "loss_at_budget": loss_at(trace, budget),
        "search_wall_seconds": result.wall_seconds,
        "startup_seconds": startup,
        "rounds_seconds": rounds_seconds,
        "rounds_completed": result.rounds_completed,
        "selected_round": result.selected_round,
        "stopped_because": result.stopped_because.value,
        "evaluations_per_s_in_rounds": result.evaluations / rounds_seconds if rounds_seconds > 0 else None,
        "trace": thin(trace),
    }


# ------------------------------------------------------------------------------------------------
# Traces


def loss_at(trace: list[tuple[float, float]], seconds: float) -> float | None:
    """Best loss at `seconds` (None if nothing had been evaluated by then)."""
    best = None
    for at, loss in trace:
        if at > seconds:
            break
        best = loss
    return best


def thin(trace: list[tuple[float, float]], points: int = TRACE_POINTS) -> list[list[float]]:
    """At most about `points` points: the last of each log-spaced time bin, the first and last kept."""
    if len(trace) <= points:
        return [[float(t), float(loss)] for t, loss in trace]
    first = max(trace[0][0], 1e-4)
    scale = points / math.log(max(trace[-1][0], first * 1.0001) / first)

    def bin_of(t: float) -> int:
        return math.floor(math.log(max(t, first) / first) * scale)

    kept = [trace[0]]
    kept += [now for now, later in itertools.pairwise(trace[1:]) if bin_of(now[0]) != bin_of(later[0])]
    kept.append(trace[-1])
    return [[float(t), float(loss)] for t, loss in kept]


# ------------------------------------------------------------------------------------------------
# Cells: the runs of one search on one data set and budget, over seeds


def cells(runs: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """Runs grouped by (data set, budget, search, objective), in the table's order."""
    groups = grouped(runs, lambda run: (run["dataset"], float(run["budget_s"]), run["search"], objective_of(run)))

    def order(key: tuple) -> tuple:
        dataset, budget, search, objective = key
        dataset_rank = DATASETS.index(dataset) if dataset in DATASETS else len(DATASETS)
        search_rank = PEER_ORDER.index(search) if search in PEER_ORDER else len(PEER_ORDER)
        objective_rank = (*OBJECTIVE_KINDS, OWN).index(objective) if objective in (*OBJECTIVE_KINDS, OWN) else 9
        return (dataset_rank, dataset, budget, search_rank, objective_rank)

    return [(key, sorted(groups[key], key=lambda run: run.get("seed", 0))) for key in sorted(groups, key=order)]


def spread(values: list, digits: int) -> str:
    """'median (min-max)' of the values there are; 'k of n' added where some runs have none."""
    present = [value for value in values if value is not None and math.isfinite(value)]
    if not present:
        return "—"
    text = f"{statistics.median(present):.{digits}f}"
    if len(present) > 1:
        text += f" ({min(present):.{digits}f}-{max(present):.{digits}f})"
    if len(present) < len(values):
        text += f", {len(present)} of {len(values)}"
    return text


def _median(values: list):
    present = [value for value in values if value is not None]
    return statistics.median(present) if present else None


def _number(value, digits: int) -> str:
    return "—" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:,.{digits}f}"


def markdown_table(runs: list[dict], meta: dict | None = None) -> str:
    """The results as a markdown table (median and min-max over seeds), with notes on the runs and the machine."""
    lines = [
        "| dataset | budget (s) | search | objective | cores | seeds | CPU/wall | loss at budget | accuracy "
        "| test accuracy | evaluations | evals/s | seconds |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for (dataset, budget, search, objective), group in cells(runs):
        ok = [run for run in group if run["status"] == "ok"]
        label = (ok or group)[0].get("label", LABELS.get(search, search))
        head = f"| {dataset} | {budget:g} | {label} | {objective} |"
        for run in group:
            if run["status"] != "ok":
                notes.append(f"- {dataset}, {budget:g} s, {label}, seed {run.get('seed', 0)}: {run['note']}")
        if not ok:
            status = "/".join(sorted({run["status"] for run in group}))
            lines.append(f"{head} — | {len(group)} | {status}: see notes | | | | | | |")
            continue
        cores = "/".join(str(core) for core in sorted({run["cores"] for run in ok}))
        shares = [_cpu_share(run) for run in ok]
        share = "—" if all(value is None for value in shares) else spread(shares, 2)
        lines.append(
            f"{head} {cores} | {len(ok)} | {share} | {spread([run['loss_at_budget'] for run in ok], 4)} | "
            f"{spread([run['accuracy'] for run in ok], 3)} | {spread([run.get('test_accuracy') for run in ok], 3)} | "
            f"{_number(_median([run['evaluations'] for run in ok]), 0)} | "
            f"{_number(_median([run['evaluations_per_s'] for run in ok]), 0)} | "
            f"{_number(_median([run['seconds'] for run in ok]), 1)} |"
        )
        if search in PROJECT_SEARCHES:
            stops = ", ".join(sorted({str(run["stopped_because"]) for run in ok}))
            notes.append(
                f"- {dataset}, {budget:g} s, {label} (medians over {len(ok)} seed(s)): "
                f"{_number(_median([run['seconds'] for run in ok]), 1)} s from the call to `search` to its return; "
                f"start-up before the first round {_number(_median([run['startup_seconds'] for run in ok]), 1)} s; "
                f"{_number(_median([run['rounds_completed'] for run in ok]), 0)} round(s) took "
                f"{_number(_median([run['rounds_seconds'] for run in ok]), 1)} s "
                f"({_number(_median([run['evaluations_per_s_in_rounds'] for run in ok]), 0)} evals/s within rounds); "
                f"stopped by {stops}."
            )
    text = "\n".join(lines) + "\n"
    head = _preamble(runs, meta)
    loads = [run["load_average_before"][0] for run in runs if "load_average_before" in run]
    if meta and loads:
        notes.append(
            f"- Machine: {meta['machine']['cpus']} CPUs; 1-minute load average before each search "
            f"{min(loads):.1f} to {max(loads):.1f}."
        )
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return head + text


def _preamble(runs: list[dict], meta: dict | None) -> str:
    """What every figure in the table is: the data, the nets, the seeds, the cores, the statistics."""
    ok = [run for run in runs if run["status"] == "ok"]
    seeds = sorted({run.get("seed", 0) for run in ok})
    lines = [
        'Per cell: the median over seeds, and in brackets the spread (min-max); "k of n": only k of the n '
        "seeds had a figure (loss at budget: nothing evaluated by the budget).",
        f"Seeds: {', '.join(map(str, seeds)) or 'none'}. Budgets are wall-clock seconds per search.",
    ]
    for dataset in dict.fromkeys(run["dataset"] for run in ok):
        here = [run for run in ok if run["dataset"] == dataset]
        peer = next((run for run in here if run["search"] not in PROJECT_SEARCHES), None)
        own = next((run for run in here if run["search"] in PROJECT_SEARCHES), None)
        layers, test_rows = here[0].get("layers"), here[0].get("test_rows")
        shape = "-".join(map(str, layers)) if layers else "?"
        if test_rows is None:
            where = (
                f"{here[0].get('training_rows', '?')} rows, no test rows: loss and accuracy are on the rows searched"
            )
        else:
            where = "loss and accuracy on the training rows searched ("
            where += f"peers: {peer.get('training_rows')}" if peer else ""
            if own:
                where += "; " if peer else ""
                where += f"this project's search: {own.get('training_rows')}"
                where += (
                    f", {own['validation_rows']} more held out for validation" if own.get("validation_rows") else ""
                )
            where += f"), test accuracy on {test_rows} test rows"
        lines.append(f"{dataset}: net {shape}; {where}.")
    lines.append(
        "Peers run on one core each; objective numpy: batched numpy loss, compiled: the workers package's compiled "
        "from-scratch loss per network; this project's rows use its own kernel (incremental evaluation). "
        "CPU/wall: CPU seconds of the search's process over its wall seconds (peers; in-process search)."
    )
    return "\n".join(lines) + "\n\n"


def _cpu_share(run: dict) -> float | None:
    cpu = run.get("cpu_seconds")
    return None if cpu is None or not run.get("seconds") else cpu / run["seconds"]


# ------------------------------------------------------------------------------------------------
# The plot


def trace_values(run: dict, times) -> list[float]:
    """A run's best loss at each time: NaN before its first evaluation and after it ended."""
    values = []
    for at in times:
        value = loss_at(run["trace"], at) if at <= run["seconds"] else None
        values.append(math.nan if value is None else value)
    return values


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    groups = [(key, [run for run in group if run["status"] == "ok" and run["trace"]]) for key, group in cells(runs)]
    groups = [(key, group) for key, group in groups if group]
    datasets = list(dict.fromkeys(key[0] for key, _ in groups)) or ["none"]
    budgets = sorted({key[1] for key, _ in groups}) or [0.0]
    figure, axes = plt.subplots(
        len(datasets), len(budgets), figsize=(5.5 * len(budgets), 4 * len(datasets)), squeeze=False
    )
    colours = {name: f"C{index}" for index, name in enumerate(PEER_ORDER)}
    for row, dataset in enumerate(datasets):
        for column, budget in enumerate(budgets):
            axis = axes[row][column]
            here = [(key, group) for key, group in groups if key[0] == dataset and key[1] == budget]
            if not here:
                axis.set_visible(False)
                continue
            end = max(run["seconds"] for _, group in here for run in group)
            times = np.geomspace(0.01, max(end, 0.02), PLOT_POINTS)
            for (_, _, search, objective), group in here:
                values = np.array([trace_values(run, times) for run in group])
                complete = ~np.isnan(values).any(axis=0)  # drawn where every seed has a network
                if not complete.any():
                    continue
                median = np.where(complete, np.median(values, axis=0), np.nan)
                label = group[0]["label"] + ("" if objective in (OWN, "numpy") else f" ({objective})")
                label += f", median of {len(group)}" if len(group) > 1 else ""
                style = "--" if objective == "compiled" else "-"
                colour = colours.get(search, "k")
                axis.plot(times, median, style, color=colour, label=label, linewidth=1.3)
                if len(group) > 1:
                    low = np.where(complete, values.min(axis=0), np.nan)
                    high = np.where(complete, values.max(axis=0), np.nan)
                    axis.fill_between(times, low, high, color=colour, alpha=0.15, linewidth=0)
            axis.axvline(budget, color="grey", linestyle=":", linewidth=1)
            layers = here[0][1][0].get("layers")
            shape = "-".join(map(str, layers)) if layers else ""
            axis.set_title(f"{dataset} {shape}, budget {budget:g} s")
            axis.set_xscale("log")
            axis.set_xlim(left=0.01)
            axis.set_yscale("log")
            axis.set_xlabel("seconds since the search began (log scale)")
            axis.set_ylabel("best training loss so far")
            axis.grid(True, which="both", alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=6)
    figure.suptitle("Median over seeds of the best loss so far; bands: min-max over seeds", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


if __name__ == "__main__":
    sys.exit(main())
