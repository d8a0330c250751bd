"""Memory per node with row shares: in a 3-node Ray cluster, each node's worker holds its shares' rows alone.

Usage: python bench/shares_memory.py [--data mnist60k] [--out bench/results]

A `ray.cluster_utils.Cluster` on this machine: a head with no CPU (the driver's node) and three worker nodes
of one CPU each, so that each of the search's three worker actors runs on a node of its own. The data: the
60,000 training rows of bench/row_shares.py (MNIST-5k split 80/20 first, the training digits copied, each
copy moved by a pixel; 784 float64 pixels a row), net 784-32-10. Two runs of one round each (a few steps:
memory, not time, is measured):

- `arrays, 1 share`: the rows handed to `search(config, X, y)` in this process; every actor holds them all
  (put into the object store once, mapped on every node that runs an actor);
- `.npy file, 3 shares`: `--dataset train60k.npy --shares 3`; this process reads the label column and its
  held-out rows, and each actor reads its own share's rows from the file.

After round 0 every actor's process is measured (its resident and proportional set sizes, /proc's VmRSS and
smaps_rollup's Pss: Pss counts a page shared by n processes as 1/n of it), with its node and the shares it
holds, and so is this process (the driver). Counts, not times: they may run beside other work.
Writes shares_memory.jsonl (a line a run) and shares_memory.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, QUIET_RAY, RESULTS, append_jsonl, environment_defaults, machine, mnist_train_test

environment_defaults(ONE_THREAD, QUIET_RAY, {"RAY_AUTH_MODE": "disabled"})

import numpy as np  # noqa: E402

from cluster.atomic_files import atomic_write_text  # noqa: E402
from coordinator import SearchConfig, prepare_run, run_prepared  # noqa: E402
from coordinator.rounds.executors import RayExecutor, share_holdings  # noqa: E402
from coordinator.rounds.stepper import SilentProgress  # noqa: E402

OBJECT_STORE_BYTES = 1024**3  # each node's store: room for all 60,000 rows as the kernel packs them
RAW = "shares_memory.jsonl"


def memory_of(pid: int) -> dict[str, int]:
    """Resident and proportional set sizes of a process, in bytes."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")) * 1024
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    pss = next(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")) * 1024
    return {"rss": rss, "pss": pss}


class Measure(SilentProgress):
    """After round 0: every actor's memory, node and shares, and this process's."""

    def __init__(self, executor, shares: int):
        self.executor, self.shares, self.seen = executor, shares, None

    def round_done(self, record, elapsed_s: float) -> None:
        if self.seen is not None:
            return
        pool = self.executor.pool
        holdings = share_holdings(self.shares, len(pool.worker_info))
        actors = []
        for (pid, node), held in zip(pool.worker_info, holdings, strict=True):
            actors.append({"pid": pid, "node": node[:12], "shares": sorted(held), **memory_of(pid)})
        self.seen = {
            "driver": memory_of(os.getpid()),
            "actors": actors,
            "placement": [record.driver_tasks, record.actors],
        }


def run_case(name: str, config: SearchConfig, X=None, y=None) -> dict:
    """One run of one round on the cluster this process is connected to; what it measured."""
    prepared = prepare_run(config, X, y)
    executor = RayExecutor(prepared.dataset, prepared.config, address="auto", share_indices=prepared.share_indices)
    try:
        executor.wait_until_ready()
        measure = Measure(executor, prepared.config.shares)
        result = run_prepared(prepared, executor, progress=measure)
    finally:
        executor.close()
    nodes = {actor["node"] for actor in measure.seen["actors"]}
    return {
        "case": name, "shares": prepared.config.shares, "rows": prepared.data.rows,
        "share_rows": prepared.data.share_rows, "nodes": len(nodes), "best_loss": result.best_loss, **measure.seen,
    }  # fmt: skip


def table(rows: list[dict]) -> str:
    """The markdown table: per run, the driver's and each actor's memory (MB)."""
    lines = [
        "| run | rows (training) | driver RSS | per actor (node): shares, RSS / PSS |",
        "|---|---:|---:|---|",
    ]
    for row in rows:
        actors = "; ".join(
            f"{actor['node'][:6]}: {actor['shares']}, {actor['rss'] / 2**20:,.0f} / {actor['pss'] / 2**20:,.0f} MB"
            for actor in row["actors"]
        )
        lines.append(f"| {row['case']} | {row['rows']:,} | {row['driver']['rss'] / 2**20:,.0f} MB | {actors} |")
    return "\n".join(lines) + "\n"


def measure_case(case: str, data: str, scratch: Path) -> dict:
    """One case in this process (a fresh one: its memory is the case's alone), on a cluster of its own."""
    import ray
    from ray.cluster_utils import Cluster

    os.environ["RAY_TMPDIR"] = str(scratch / case.split()[0].strip(".,"))
    common = {"hidden": (32,), "climbers": 3, "workers": 3, "steps": 20, "rounds": 1, "time_budget": None}
    common |= {"climb_while_starting": False, "validation_fraction": 0.0, "seed": 0}
    cluster = Cluster()
    try:
        cluster.add_node(num_cpus=0, object_store_memory=OBJECT_STORE_BYTES, include_dashboard=False)
        for _ in range(3):
            cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES)
        ray.init(address=cluster.address, log_to_driver=False)
        if case == CASES[0]:  # the rows stay in their file: the workers read their shares
            return run_case(case, SearchConfig(dataset=str(scratch / "train.npy"), shares=3, **common))
        X, y, _, _ = mnist_train_test(data)  # the rows in this process, as a user's arrays
        return run_case(case, SearchConfig(shares=1, **common), X, y)
    finally:
        ray.shutdown()
        cluster.shutdown()


CASES = (".npy file, 3 shares", "arrays, 1 share")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="mnist60k", choices=("mnist5k", "mnist60k"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)  # one case, in a process of its own
    parser.add_argument("--scratch", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case is not None:
        print(json.dumps(measure_case(args.case, args.data, args.scratch)), flush=True)
        return
    scratch = Path(tempfile.mkdtemp(prefix="hillclimb-memory-", dir="/tmp"))
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        X, y, _, _ = mnist_train_test(args.data)
        np.save(scratch / "train.npy", np.c_[X, y])
        del X, y
        for case in CASES:
            command = [sys.executable, __file__, "--data", args.data, "--case", case, "--scratch", str(scratch)]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            row = json.loads(done.stdout.strip().splitlines()[-1])
            print(json.dumps(row), flush=True)
            append_jsonl(args.out / RAW, row | {"data": args.data, "machine": machine()})
            results.append(row)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    atomic_write_text(args.out / "shares_memory.md", table(results))
    print(table(results))


if __name__ == "__main__":
    main()
