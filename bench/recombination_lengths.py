"""Which length along the recombined direction wins a round: once, twice or four times the weighted mean change.

Usage: python bench/recombination_lengths.py [--seeds 0,1,2,3,4] [--climbers 16] [--steps 1250]
                                             [--critical 150000] [--out bench/results]

The search as it runs (`SearchStepper` on an `InProcessExecutor`: a result does not depend on where climbs
run) on the chapter's spiral, net 2-64-3, --climbers climbers of --steps steps a round, every other setting
its default (`--combine recombine`), each seed until its critical path reaches --critical evaluations (as
bench/round_rules.py counts it: per round one climber's evaluations and the coordinator's). The executor is
wrapped in one that hands the climbers' reports on and keeps them; after each round the coordinator's rule
(`coordinator.rounds.combine.round_best`) is asked again, on the same reports and the best before the round,
with an evaluator that notes every candidate it scores (in the order of `combine.LENGTHS`): the candidate it
keeps is the length that won. The repeat is checked against the round the search kept, bit for bit, so what
is counted is the product's own choice. A round goes to a length, to the best climber (candidates scored,
none lower than it), or to neither because nothing was recombined (round 0, which has no start to move
from, and rounds in which fewer than two climbers improved).

Counts of evaluations, not time: they do not depend on the machine or its load. Writes into --out
recombination_lengths.jsonl (a line a round: its seed and index, the climbers that improved, the loss the
candidates had to beat, each length's loss, and the winner: "1", "2", "4", "best climber" or "not
recombined") and recombination_lengths.txt (the counts).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, RESULTS, comma_list, environment_defaults, git_commit

environment_defaults(ONE_THREAD)  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

from cluster.atomic_files import atomic_write_text  # noqa: E402
from coordinator import SearchConfig  # noqa: E402
from coordinator.rounds.combine import LENGTHS, keep_best, round_best  # noqa: E402
from coordinator.rounds.executors import InProcessExecutor  # noqa: E402
from coordinator.rounds.prepare import prepare_run  # noqa: E402
from coordinator.rounds.stepper import SearchStepper, training_evaluator  # noqa: E402

NOT_RECOMBINED = "not recombined"
BEST_CLIMBER = "best climber"


class KeepingReports:
    """An executor that hands on another's reports and keeps the last round's."""

    def __init__(self, executor):
        self.executor = executor
        self.workers = executor.workers
        self.reports = []

    def run_round(self, start, tasks):
        """The wrapped executor's reports, each kept as it passes."""
        self.reports = []
        for report in self.executor.run_round(start, tasks):
            self.reports.append(report)
            yield report

    def workers_alive(self) -> int:
        """The wrapped executor's."""
        return self.executor.workers_alive()

    def environment(self):
        """The wrapped executor's."""
        return self.executor.environment()

    def close(self) -> None:
        """Closes the wrapped executor."""
        self.executor.close()


def seed_rounds(seed: int, climbers: int, steps: int, critical_cap: int) -> tuple[list[dict], float]:
    """One search on the spiral 2-64-3 until its critical path reaches the cap: a row per round, and its final loss."""
    config = SearchConfig(
        dataset="spiral", climbers=climbers, steps=steps, seed=seed, rounds=10**9, time_budget=None, workers=1
    )
    prepared = prepare_run(config)
    executor = KeepingReports(InProcessExecutor(prepared.dataset, prepared.config))
    stepper = SearchStepper(prepared, executor)
    evaluator = training_evaluator(prepared.dataset, stepper.layout, stepper.config.l2, prepared.loss_name)
    rows, critical = [], 0
    while critical < critical_cap:
        previous = stepper.best
        record = stepper.step()
        critical += record.critical_evaluations
        candidates: list[tuple[np.ndarray, float]] = []

        def noting(params, candidates=candidates):
            loss, score = evaluator(params)
            candidates.append((np.array(params), loss))
            return loss, score

        reports = executor.reports
        kept = round_best(previous, reports, stepper.config.combine, noting, record.round, snap=stepper.layout.snap)
        same = kept.combined == record.combined and kept.best.loss == stepper.best.loss
        if not (same and np.array_equal(kept.best.outcome.params, stepper.best.outcome.params)):
            raise RuntimeError(f"seed {seed} round {record.round}: the repeat of round_best kept another network")
        to_beat = keep_best(previous, reports).loss  # the best climber's loss, or the start's where none improved
        if not candidates:
            winner = NOT_RECOMBINED
        elif not kept.combined:
            winner = BEST_CLIMBER
        else:
            index = next(
                i for i, (params, _) in enumerate(candidates) if np.array_equal(params, kept.best.outcome.params)
            )
            winner = f"{LENGTHS[index]:g}"
        rows.append(
            {
                "seed": seed,
                "round": record.round,
                "improvers": sum(report.loss < previous.loss for report in reports) if previous is not None else None,
                "to_beat": to_beat,
                "candidates": {f"{length:g}": loss for length, (_, loss) in zip(LENGTHS, candidates, strict=False)},
                "winner": winner,
                "kept_loss": stepper.best.loss,
                "critical": critical,
            }
        )
    return rows, stepper.best.loss


def table(rows: list[dict], finals: dict[int, float], args: argparse.Namespace) -> str:
    """The counts per seed and in all: rounds won by each length, by the best climber, not recombined."""
    lengths = [f"{length:g}x the mean" for length in LENGTHS]
    lines = [
        f"spiral 2-64-3, {args.climbers} climbers x {args.steps:,} steps a round, each seed until its critical path "
        f"reaches {args.critical:,} evaluations; lengths {', '.join(f'{length:g}' for length in LENGTHS)} "
        "(coordinator.rounds.combine.LENGTHS)",
        "",
        f"| seed | rounds | won by {' | won by '.join(lengths)} | kept the best climber | not recombined "
        f"| {' | '.join(f'{length:g}x lower than the best climber' for length in LENGTHS)} | final loss |",
        "|---:|---:|" + "---:|" * (2 * len(LENGTHS) + 3),
    ]

    def line(label: str, members: list[dict], final: str) -> str:
        won = [sum(row["winner"] == f"{length:g}" for row in members) for length in LENGTHS]
        lower = [
            sum(row["candidates"].get(f"{length:g}", np.inf) < row["to_beat"] for row in members) for length in LENGTHS
        ]
        climber = sum(row["winner"] == BEST_CLIMBER for row in members)
        none = sum(row["winner"] == NOT_RECOMBINED for row in members)
        return (
            f"| {label} | {len(members)} | {' | '.join(map(str, won))} | {climber} | {none} | "
            f"{' | '.join(map(str, lower))} | {final} |"
        )

    for seed, final in finals.items():
        lines.append(line(str(seed), [row for row in rows if row["seed"] == seed], f"{final:.4f}"))
    lines.append(line("all", rows, f"median {statistics.median(finals.values()):.4f}"))
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run every seed, then write the rounds and the counts."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1,2,3,4", type=comma_list(int))
    parser.add_argument("--climbers", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1250, help="steps per climber per round")
    parser.add_argument("--critical", type=int, default=150_000, help="each seed's critical path, in evaluations")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, finals = [], {}
    for seed in args.seeds:
        seed_rows, finals[seed] = seed_rounds(seed, args.climbers, args.steps, args.critical)
        rows += seed_rows
        print(f"seed {seed}: {len(seed_rows)} rounds, final loss {finals[seed]:.5f}", flush=True)
    counts = table(rows, finals, args)
    commit = git_commit()
    command = shlex.join(["python", "bench/recombination_lengths.py", *(sys.argv[1:] if argv is None else argv)])
    head = f"{command}\ncommit {commit['head'] if commit else 'unknown'}"
    if commit and commit["uncommitted_diff_sha256"]:
        head += f" with uncommitted changes (diff sha256 {commit['uncommitted_diff_sha256'][:12]})"
    atomic_write_text(out / "recombination_lengths.jsonl", "".join(json.dumps(row) + "\n" for row in rows))
    atomic_write_text(out / "recombination_lengths.txt", f"{head}\n\n{counts}")
    print(counts, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
