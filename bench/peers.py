"""This project's search against gradient-free peers, each given the same wall-clock budget.

Usage: python bench/peers.py [--budgets 10,60] [--datasets spiral,vertical]
                             [--peers seed,oneplusone,cma,snes,pgpe,project] [--out bench/results]
                             [--cores N] [--project-executor ray|inprocess]

Everyone minimises the seed's loss (workers.network.evaluate: dense layers, ReLU, softmax,
cross-entropy clipped at 1e-7) on nnfs spiral_data(100, 3) with layers 2-64-3 and vertical_data(100, 3)
with layers 2-3-3. Each search runs in a process of its own, one after another:

- the peers (seed loop, nevergrad OnePlusOne, pycma CMA-ES, EvoTorch SNES and PGPE) on one core each
  (OMP/MKL/OpenBLAS/numba/torch threads set to 1), through the numpy objective in bench/_objective.py;
  population methods hand it the whole population as one (B, P) batch (with glibc's malloc thresholds
  raised for the peers, see MALLOC_ENVIRONMENT, so that batches do not page-fault on every call);
- this project's search, `search(SearchConfig(..., time_budget=budget), executor="ray")`, on all
  local cores (one worker per CPU unless --cores says otherwise).

A peer's clock starts when its optimiser is built (after imports and data loading); this project's
clock starts when `search` is called, so its time includes Ray's start-up and the workers' warm-up.
Peers whose packages are missing are skipped with a note (pip install -e '.[bench]').

--replot redraws peers.md and peers.png from the peers.json in --out without running anything.

Writes peers.json (every run, its settings and its trace of best loss against time), peers.md (the
table, also printed) and peers.png (best loss against time) into --out.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import itertools
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PEER_ORDER = ("seed", "oneplusone", "cma", "snes", "pgpe", "project")
LABELS = {
    "seed": "seed loop (numpy)",
    "oneplusone": "nevergrad OnePlusOne",
    "cma": "pycma CMA-ES",
    "snes": "EvoTorch SNES",
    "pgpe": "EvoTorch PGPE (ClipUp)",
    "project": "hillclimb search",
}
# Modules a peer needs beyond the project's own dependencies.
REQUIRES = {"oneplusone": ("nevergrad",), "cma": ("cma",), "snes": ("evotorch", "torch"), "pgpe": ("evotorch", "torch")}
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
CHILD_SLACK_S = 600  # how long a search may run past its budget (imports, Ray start-up) before it is ended
PACKAGES = ("numpy", "numba", "ray", "torch", "evotorch", "nevergrad", "cma", "matplotlib")


# ------------------------------------------------------------------------------------------------
# Command line


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", default="10,60", help="wall-clock budgets in seconds, comma-separated")
    parser.add_argument("--datasets", default="spiral,vertical", help="spiral and/or vertical, comma-separated")
    parser.add_argument("--peers", default=",".join(PEER_ORDER), help=f"any of {','.join(PEER_ORDER)}")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results"), help="directory for peers.json/.md/.png")
    parser.add_argument("--cores", type=int, default=None, help="workers for this project's search (default: all)")
    parser.add_argument("--project-executor", choices=("ray", "inprocess"), default="ray")
    parser.add_argument("--seed", type=int, default=0, help="seed of every search")
    parser.add_argument("--replot", action="store_true", help="only redraw peers.md and peers.png from peers.json")
    parser.add_argument("--child", nargs=4, metavar=("SEARCH", "DATASET", "BUDGET", "RESULT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        args.budgets = [float(text) for text in args.budgets.split(",") if text.strip()]
    except ValueError:
        parser.error(f"--budgets: expected numbers of seconds, got {args.budgets!r}")
    if not args.budgets or any(not (math.isfinite(b) and b > 0) for b in args.budgets):
        parser.error("--budgets: every budget must be a positive number of seconds")
    args.datasets = [name.strip() for name in args.datasets.split(",") if name.strip()]
    unknown = [name for name in args.datasets if name not in ("spiral", "vertical")]
    if unknown or not args.datasets:
        parser.error(f"--datasets: choose from spiral, vertical (got {', '.join(unknown) or 'none'})")
    args.peers = [name.strip() for name in args.peers.split(",") if name.strip()]
    unknown = [name for name in args.peers if name not in PEER_ORDER]
    if unknown or not args.peers:
        parser.error(f"--peers: choose from {', '.join(PEER_ORDER)} (got {', '.join(unknown) or 'none'})")
    args.peers = [name for name in PEER_ORDER if name in args.peers]
    if args.cores is not None and args.cores < 1:
        parser.error("--cores: must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        search_name, dataset, budget, result_path = args.child
        return run_child(search_name, dataset, float(budget), Path(result_path), args)
    if args.replot:
        return replot(Path(args.out))
    return run_all(args)


# ------------------------------------------------------------------------------------------------
# The parent: run every search in a process of its own, one after another, then report.


def missing_modules(name: str) -> list[str]:
    return [module for module in REQUIRES.get(name, ()) if importlib.util.find_spec(module) is None]


def run_all(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    meta = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "commit": git_commit(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
        },
        "packages": package_versions(),
        "load_average_start": os.getloadavg(),
        "objective": "workers.network.evaluate on nnfs data, 100 samples x 3 classes (seed 0)",
        "peer_environment": {**ONE_CORE_ENVIRONMENT, **MALLOC_ENVIRONMENT, "torch.set_num_threads": "1"},
    }
    jobs = [(budget, dataset, name) for budget in args.budgets for dataset in args.datasets for name in args.peers]
    runs = []
    failed = 0
    with tempfile.TemporaryDirectory(prefix="peers-") as scratch:
        for number, (budget, dataset, name) in enumerate(jobs, start=1):
            where = f"[{number}/{len(jobs)}] {dataset} {budget:g} s {name}"
            missing = missing_modules(name)
            if missing:
                note = f"skipped: {', '.join(missing)} not installed (pip install -e '.[bench]')"
                runs.append({"search": name, "dataset": dataset, "budget_s": budget, "status": "skipped", "note": note})
                print(f"{where}: {note}", file=sys.stderr, flush=True)
                continue
            run = run_one(name, dataset, budget, args, Path(scratch) / f"{number}")
            runs.append(run)
            if run["status"] == "ok":
                print(
                    f"{where}: loss {run['loss']:.4f}, {run['evaluations']:,} evaluations in {run['seconds']:.1f} s",
                    file=sys.stderr,
                    flush=True,
                )
            else:
                failed += 1
                print(f"{where}: FAILED: {run['note']}", file=sys.stderr, flush=True)
    meta["load_average_end"] = os.getloadavg()
    meta["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    (out / "peers.json").write_text(json.dumps({"meta": meta, "runs": runs}, indent=1) + "\n")
    report(runs, meta, out)
    print(f"\nwrote {out / 'peers.json'}, {out / 'peers.md'}, {out / 'peers.png'}", file=sys.stderr)
    return 1 if failed else 0


def report(runs: list[dict], meta: dict, out: Path) -> None:
    """Write peers.md and peers.png, and print the table."""
    table = markdown_table(runs, meta)
    (out / "peers.md").write_text(table)
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


def run_one(name: str, dataset: str, budget: float, args: argparse.Namespace, scratch: Path) -> dict:
    """One search in a fresh process; its result dict (status 'failed' with a note if it broke)."""
    scratch.mkdir(parents=True)
    result_path, log_path = scratch / "result.json", scratch / "log.txt"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", name, dataset, repr(budget), str(result_path)]
    command += ["--seed", str(args.seed), "--project-executor", args.project_executor]
    if args.cores is not None:
        command += ["--cores", str(args.cores)]
    environment = dict(os.environ)
    environment.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if name != "project":
        environment.update(ONE_CORE_ENVIRONMENT)
        environment.update(MALLOC_ENVIRONMENT)
    base = {"search": name, "dataset": dataset, "budget_s": budget, "load_average_before": os.getloadavg()}
    with log_path.open("w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=environment, cwd=ROOT)
        try:
            code = process.wait(timeout=budget + CHILD_SLACK_S)
        except subprocess.TimeoutExpired:
            process.kill()  # the child this function started, by its handle
            process.wait()
            code = None
    base["load_average_after"] = os.getloadavg()
    if code == 0 and result_path.is_file():
        return {**base, **json.loads(result_path.read_text())}
    tail = log_path.read_text(errors="replace").strip().splitlines()[-20:]
    why = "timed out" if code is None else f"exit status {code}"
    return {**base, "status": "failed", "note": f"{why}: {tail[-1] if tail else 'no output'}", "log_tail": tail}


# ------------------------------------------------------------------------------------------------
# The child: one search, its result written as JSON.


def run_child(name: str, dataset: str, budget: float, result_path: Path, args: argparse.Namespace) -> int:
    result = run_project(dataset, budget, args) if name == "project" else run_peer(name, dataset, budget, args.seed)
    result["status"] = "ok"
    result_path.write_text(json.dumps(result))
    return 0


def run_peer(name: str, dataset: str, budget: float, seed: int) -> dict:
    from bench._objective import PEERS, Objective

    objective = Objective(dataset, budget)
    settings = PEERS[name](objective, seed)
    seconds = objective.seconds()
    return {
        "label": LABELS[name],
        "layers": list(objective.layout.sizes),
        "cores": 1,
        "settings": settings,
        "loss": objective.best_loss,
        "accuracy": objective.best_accuracy,
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


def run_project(dataset: str, budget: float, args: argparse.Namespace) -> dict:
    from bench._objective import LAYERS
    from coordinator import SearchConfig, search

    config = SearchConfig(
        dataset=dataset, layers=LAYERS[dataset], time_budget=budget, rounds=10**9, seed=args.seed, workers=args.cores
    )
    started = time.monotonic()
    recorder = _Recorder(started)
    result = search(config, executor=args.project_executor, progress=recorder)
    total = time.monotonic() - started
    rounds_seconds = sum(record.wall_seconds for record in result.history)
    startup = None
    if recorder.first_round_done is not None:
        startup = recorder.first_round_done[0] - recorder.first_round_done[1]
    environment = result.environment
    cores = environment.workers if environment.executor == "ray" else 1
    where = f"Ray, {cores} workers" if environment.executor == "ray" else "in-process"
    trace = recorder.trace
    if not trace or trace[-1][1] > result.best_loss:
        trace.append((total, result.best_loss))
    return {
        "label": f"{LABELS['project']} ({where})",
        "layers": list(config.layers),
        "cores": cores,
        "settings": config.model_dump(mode="json"),
        "environment": environment.model_dump(mode="json"),
        "loss": result.best_loss,
        "accuracy": result.best_accuracy,
        "evaluations": result.evaluations,
        "seconds": total,
        "cpu_seconds": None,
        "evaluations_per_s": result.evaluations / total,
        "loss_at_budget": loss_at(trace, budget),
        "search_wall_seconds": result.wall_seconds,
        "startup_seconds": startup,
        "rounds_seconds": rounds_seconds,
        "rounds_completed": result.rounds_completed,
        "stopped_because": result.stopped_because,
        "evaluations_per_s_in_rounds": result.evaluations / rounds_seconds if rounds_seconds > 0 else None,
        "trace": thin(trace),
    }


# ------------------------------------------------------------------------------------------------
# Traces, table, plot


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


def _number(value, digits: int) -> str:
    return "—" if value is None or (isinstance(value, float) and not math.isfinite(value)) else f"{value:,.{digits}f}"


def markdown_table(runs: list[dict], meta: dict | None = None) -> str:
    """The results as a markdown table, with notes on this project's runs, failures and the machine."""
    lines = [
        "| dataset | budget (s) | search | cores | CPU/wall | loss | loss at budget | accuracy | evaluations "
        "| evals/s | seconds |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    notes = []
    for run in runs:
        label = run.get("label", LABELS[run["search"]])
        head = f"| {run['dataset']} | {run['budget_s']:g} | {label} |"
        if run["status"] != "ok":
            lines.append(f"{head} — | — | {run['status']}: see note | | | | | |")
            notes.append(f"- {run['dataset']}, {run['budget_s']:g} s, {label}: {run['note']}")
            continue
        lines.append(
            f"{head} {run['cores']} | {_cpu_share(run)} | {run['loss']:.4f} | {_number(run['loss_at_budget'], 4)} | "
            f"{run['accuracy']:.3f} | {run['evaluations']:,} | {run['evaluations_per_s']:,.0f} | {run['seconds']:.1f} |"
        )
        if run["search"] == "project":
            notes.append(
                f"- {run['dataset']}, {run['budget_s']:g} s, {label}: {run['seconds']:.1f} s from the call to `search` "
                f"to its return; the result's wall_seconds {run['search_wall_seconds']:.1f} s; "
                f"start-up before the first round {_number(run['startup_seconds'], 1)} s; "
                f"{run['rounds_completed']} round(s) took {run['rounds_seconds']:.1f} s "
                f"({_number(run['evaluations_per_s_in_rounds'], 0)} evals/s within rounds); "
                f"stopped by {run['stopped_because']}."
            )
    loads = [run["load_average_before"][0] for run in runs if "load_average_before" in run]
    if meta and loads:
        notes.append(
            f"- Machine: {meta['machine']['cpus']} CPUs; 1-minute load average before each search "
            f"{min(loads):.1f} to {max(loads):.1f}. CPU/wall: CPU seconds of the peer's process over its wall "
            "seconds (below 1: other processes took the core)."
        )
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text


def _cpu_share(run: dict) -> str:
    cpu = run.get("cpu_seconds")
    return "—" if cpu is None or not run.get("seconds") else f"{cpu / run['seconds']:.2f}"


def plot(runs: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(run["dataset"] for run in runs))
    budgets = list(dict.fromkeys(run["budget_s"] for run in runs))
    figure, axes = plt.subplots(
        len(datasets), len(budgets), figsize=(5.5 * len(budgets), 4 * len(datasets)), squeeze=False
    )
    colours = {name: f"C{index}" for index, name in enumerate(PEER_ORDER)}
    for row, dataset in enumerate(datasets):
        for column, budget in enumerate(budgets):
            axis = axes[row][column]
            for run in runs:
                if run["dataset"] != dataset or run["budget_s"] != budget or run["status"] != "ok" or not run["trace"]:
                    continue
                times = [t for t, _ in run["trace"]] + [run["seconds"]]
                losses = [loss for _, loss in run["trace"]] + [run["loss"]]
                axis.step(times, losses, where="post", color=colours[run["search"]], label=run["label"])
            axis.axvline(budget, color="grey", linestyle=":", linewidth=1)
            layers = next((run["layers"] for run in runs if run["dataset"] == dataset and "layers" in run), None)
            shape = "-".join(map(str, layers)) if layers else ""
            axis.set_title(f"{dataset} {shape}, budget {budget:g} s")
            axis.set_xscale("log")
            axis.set_xlim(left=0.01)
            axis.set_yscale("log")
            axis.set_xlabel("seconds since the search began (log scale)")
            axis.set_ylabel("best loss so far")
            axis.grid(True, which="both", alpha=0.3)
            if axis.get_legend_handles_labels()[0]:
                axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ------------------------------------------------------------------------------------------------
# Where it ran


def git_commit() -> dict | None:
    """HEAD, and a hash of the uncommitted changes to tracked files (None when there are none)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        diff = subprocess.run(["git", "-C", str(ROOT), "diff", "HEAD"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"head": head, "uncommitted_diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}


def package_versions() -> dict:
    from importlib import metadata

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


if __name__ == "__main__":
    sys.exit(main())
