"""Round rules side by side: the loss each reaches after the same critical path, from the same seeds.

Usage: python bench/round_rules.py [--data spiral] [--climbers 16] [--steps 1250] [--critical 150000]
                                   [--seeds 0,1,2] [--rules best,recombine,sum,...] [--out bench/results]

Every rule runs the same round as the search does: N climbers start from the broadcast best with the
seeds of (round, climber) and climb `steps` steps (the project's own climbs, `workers.climbs`); what
differs is what the round keeps, and, for two rules, how the climbers move. Rules:

- best: the best climber (the round before recombination).
- recombine: the project's rule (`coordinator.rounds.combine.round_best`): the log-rank weighted mean of the
  improving climbers' changes, scored at LENGTHS times it.
- mu-lengths: the same mean at mu/4, mu/2 and mu times it (mu improving climbers; mu times the mean
  is about their sum).
- powers: the same mean at 1, 2, 4, ... up to 2 mu times it.
- sum: every improving climber's change added up, once.
- gain: weights proportional to each climber's gain, at 1, 2 and 4 times the mean.
- deviation: the mean at once, twice and four times, and twice the mean plus a quarter or half of the
  sum of the climbers' deviations from it.
- partition: climber c moves only the parameters of hidden units u with u mod N == c (incoming weights,
  bias, outgoing weights; the output biases dealt out the same way), and the round keeps the sum of
  the improving climbers' changes (disjoint, so nothing is counted twice) if it beats the best climber.
- scale2, scale4: recombine, with every climber's step sizes multiplied by 2 or 4 for its round (the
  mean repairs larger steps, as in evolution strategies); the broadcast keeps the unscaled sizes.
- adapt-short, adapt-long: recombine, with round lengths that follow who won the last round: after a
  round a recombination won, adapt-short halves the next round's steps (pooling paid: pool more
  often) and adapt-long doubles them; after a round a single climber won, the opposite; within
  1/8 to 4 times --steps. A function of the history alone, so still one answer a seed.

A run's critical path is, per round, one climber's evaluations (1 + steps) plus the coordinator's
(each candidate it scores). The loss is the best training loss when the critical path reaches
--critical (the round that crosses it included). Raw output: round_rules.jsonl, a line per run;
round_rules.md, the table.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, RESULTS, append_jsonl, comma_list, environment_defaults

environment_defaults(ONE_THREAD)  # before numpy is imported: its BLAS reads them once

import numpy as np  # noqa: E402

from cluster.atomic_files import atomic_write_text  # noqa: E402
from coordinator import SearchConfig  # noqa: E402
from coordinator.rounds.best import Best  # noqa: E402
from coordinator.rounds.combine import keep_best, rank_key, recombination_weights, round_best  # noqa: E402
from coordinator.rounds.prepare import prepare_run  # noqa: E402
from coordinator.rounds.seeds import seed_for  # noqa: E402
from coordinator.rounds.stepper import training_evaluator  # noqa: E402
from workers import ClimbOutcome, ClimbReport, Layout  # noqa: E402
from workers import climbs as climbs_module  # noqa: E402
from workers.climbs import Solution  # noqa: E402
from workers.rows import pack_rows, with_l2  # noqa: E402

RULES = (
    "best", "recombine", "mu-lengths", "powers", "sum", "gain", "deviation", "partition", "scale2", "scale4",
    "adapt-short", "adapt-long",
)  # fmt: skip
# The adaptive rules: the factor on the next round's steps after a round a recombination won (its inverse
# after a round it did not), and the bounds, in multiples of --steps.
ADAPTIVE = {"adapt-short": 0.5, "adapt-long": 2.0}
ADAPTIVE_BOUNDS = (1 / 8, 4.0)
DATA = {"spiral": {"dataset": "spiral"}, "digits": {"dataset": "digits", "hidden": (32,)}}


def hidden_unit_parts(layout: Layout, parts: int) -> list[np.ndarray]:
    """Disjoint parameter sets: hidden unit u's incoming weights, bias and outgoing weights go to part u mod parts."""
    owned: list[list[int]] = [[] for _ in range(parts)]
    sizes, offsets = layout.sizes, layout.offsets
    unit = 0
    for m in range(len(sizes) - 2):  # hidden layers
        start, biases, _ = offsets[m]
        n_in, n_out = sizes[m], sizes[m + 1]
        next_start = offsets[m + 1][0]
        for j in range(n_out):
            fan = [start + i * n_out + j for i in range(n_in)] + [biases + j]
            if m == len(sizes) - 3:  # the last hidden layer: its outgoing weights too
                fan += [next_start + j * sizes[m + 2] + q for q in range(sizes[m + 2])]
            owned[unit % parts] += fan
            unit += 1
    _, output_biases, end = offsets[-1]
    for q, index in enumerate(range(output_biases, end)):
        owned[q % parts].append(index)
    return [np.array(sorted(part), dtype=np.int64) for part in owned]


class Bench:
    """One data set's rows, network and settings, and the rules' rounds on them."""

    def __init__(self, data: str, steps: int):
        prepared = prepare_run(SearchConfig(**DATA[data], steps=steps, climbers=1, time_budget=None))
        self.config = prepared.config
        self.dataset = prepared.dataset
        self.layout = Layout(self.config.layers)
        self.settings = self.config.climb_settings()
        self.rows = pack_rows(self.dataset.X, self.dataset.labels)
        self.scorer = training_evaluator(self.dataset, self.layout, self.settings.l2)

    def climb(self, start: Solution | None, seed, owned: np.ndarray | None = None, steps: int | None = None):
        """One climber's round, as the search makes it (owned: only those parameters move; steps: the round's own)."""
        if owned is None:
            settings = self.settings if steps is None else self.settings.model_copy(update={"steps": steps})
            return climbs_module.climb_rows(start, [seed], self.rows, self.layout, settings)[0]
        return partition_climb(self, start, seed, owned)

    def run(self, rule: str, climbers: int, seed: int, critical_cap: int) -> dict:
        best: Best | None = None
        critical, rounds, combined = 0, 0, 0
        parts = hidden_unit_parts(self.layout, climbers) if rule == "partition" else None
        scale = {"scale2": 2.0, "scale4": 4.0}.get(rule, 1.0)
        base = steps = self.settings.steps
        lengths = []  # each round's steps
        while critical < critical_cap:
            lengths.append(steps)
            start = None if best is None else Solution(best.outcome.params, best.outcome.step_sizes)
            if start is not None and scale != 1.0:
                start = Solution(start.params, np.clip(start.step_sizes * scale, 1e-9, 1e3))
            reports = []
            for climber in range(climbers):
                owned = parts[climber] if parts is not None and best is not None else None
                outcome = self.climb(start, seed_for(seed, rounds, climber), owned, steps)
                if scale != 1.0 and best is not None:
                    outcome = ClimbOutcome(
                        outcome.params, outcome.step_sizes / scale, outcome.loss, outcome.score, outcome.evaluations
                    )
                reports.append(ClimbReport(round_index=rounds, climber_index=climber, outcome=outcome))
            adapt = rule in ADAPTIVE and best is not None  # the first round has nothing to recombine
            best, evaluations, won = self.keep(rule, best, reports, rounds)
            critical += reports[0].outcome.evaluations + evaluations
            if adapt:
                factor = ADAPTIVE[rule] if won else 1 / ADAPTIVE[rule]
                low, high = (round(base * bound) for bound in ADAPTIVE_BOUNDS)
                steps = min(max(round(steps * factor), low), high)
            combined += won
            rounds += 1
        return {
            "loss": best.loss, "rounds": rounds, "combined": combined, "critical": critical,
            "median_steps": statistics.median(lengths),
        }  # fmt: skip

    def keep(self, rule: str, previous: Best | None, reports: list[ClimbReport], round_index: int):
        """(best after the round, the coordinator's evaluations, whether a combination won) under a rule."""
        if rule in ("recombine", "scale2", "scale4", *ADAPTIVE):
            kept = round_best(previous, reports, "recombine", self.scorer, round_index)
            return kept.best, kept.coordinator_evaluations, kept.combined
        single = keep_best(previous, reports)
        if rule == "best" or previous is None:
            return single, 0, False
        improvers = sorted((report for report in reports if report.loss < previous.loss), key=rank_key)
        if len(improvers) < 2:
            return single, 0, False
        start = previous.outcome.params
        changes = [report.outcome.params - start for report in improvers]
        if rule == "gain":
            gains = np.array([previous.loss - report.loss for report in improvers])
            weights = gains / gains.sum()
        else:
            weights = recombination_weights(len(improvers))
        mean = sum(weight * change for weight, change in zip(weights, changes, strict=True))
        mu = len(improvers)
        if rule in ("sum", "partition"):
            candidates = [sum(changes)]
        elif rule == "mu-lengths":
            candidates = [fraction * mu * mean for fraction in (0.25, 0.5, 1.0)]
        elif rule == "powers":
            candidates = [2.0**k * mean for k in range(int(math.log2(mu)) + 2)]
        elif rule == "gain":
            candidates = [length * mean for length in (1.0, 2.0, 4.0)]
        elif rule == "deviation":
            deviations = sum(change - mean for change in changes)
            candidates = [length * mean for length in (1.0, 2.0, 4.0)]
            candidates += [2.0 * mean + share * deviations for share in (0.25, 0.5)]
        else:
            raise ValueError(f"unknown rule {rule!r}")
        best, won = single, False
        step_sizes = improvers[0].outcome.step_sizes
        if rule == "partition":  # each part's step sizes are its own climber's
            step_sizes = previous.outcome.step_sizes.copy()
            for report in improvers:
                moved = report.outcome.params != start
                step_sizes[moved] = report.outcome.step_sizes[moved]
        for change in candidates:
            params = start + change
            loss, accuracy = self.scorer(params)
            if loss < best.loss:
                outcome = ClimbOutcome(params, step_sizes, loss, accuracy, 0)
                best, won = ClimbReport(round_index=round_index, climber_index=-2, outcome=outcome), True
        return best, len(candidates), won


def partition_climb(bench: Bench, start: Solution, seed, owned: np.ndarray) -> ClimbOutcome:
    """A climb whose steps move only the owned parameters (k of them a step, as the settings say for that many)."""
    from workers import kernel

    settings, layout = bench.settings, bench.layout
    generator = climbs_module.climber_generator(seed)
    params, step_sizes = start.params.copy(), start.step_sizes.copy()
    problem = with_l2(bench.rows, settings.l2)
    net = layout.arrays
    rule = climbs_module.step_rule(settings)
    work = kernel.workspace(problem, net)
    for number, block in enumerate(climbs_module._blocks(settings.steps)):
        indices, noise = climbs_module.draw_moves(generator, block, settings, layout, owned)
        fresh = number % climbs_module.REFRESH_BLOCKS == 0
        kernel.adjust_sparse(params, step_sizes, indices, noise, rule, problem, net, *work, fresh)
    loss, accuracy = bench.scorer(params)
    return ClimbOutcome(params, step_sizes, loss, accuracy, 1 + settings.steps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="spiral", choices=sorted(DATA))
    parser.add_argument("--climbers", type=int, default=16)
    parser.add_argument("--steps", type=int, default=1250)
    parser.add_argument("--critical", type=int, default=150_000)
    parser.add_argument("--seeds", default="0,1,2", type=comma_list(int))
    parser.add_argument("--rules", default=",".join(RULES), type=comma_list(choices=RULES))
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bench = Bench(args.data, args.steps)
    seeds = args.seeds
    rows = []
    for rule in args.rules:
        runs = [bench.run(rule, args.climbers, seed, args.critical) for seed in seeds]
        row = {
            "data": args.data,
            "layers": list(bench.config.layers),
            "rule": rule,
            "climbers": args.climbers,
            "steps": args.steps,
            "critical": args.critical,
            "seeds": seeds,
            "losses": [run["loss"] for run in runs],
            "median": statistics.median(run["loss"] for run in runs),
            "rounds": [run["rounds"] for run in runs],
            "combined": [run["combined"] for run in runs],
            "median_steps": [run["median_steps"] for run in runs],
        }
        rows.append(row)
        append_jsonl(out / "round_rules.jsonl", row)
        print(json.dumps(row), flush=True)
    table = [
        f"{args.data} {'-'.join(map(str, bench.config.layers))}, {args.climbers} climbers x {args.steps:,} steps, "
        f"loss after a critical path of {args.critical:,} evaluations, seeds {','.join(map(str, seeds))}",
        "",
        "| rule | median loss | per seed | rounds won by a combination |",
        "|---|---:|---|---:|",
    ]
    for row in rows:
        won = sum(row["combined"]) / max(1, sum(row["rounds"]))
        per_seed = ", ".join(f"{loss:.4f}" for loss in row["losses"])
        table.append(f"| {row['rule']} | {row['median']:.4f} | {per_seed} | {won:.0%} |")
    path = out / f"round_rules_{args.data}_{args.climbers}x{args.steps}.md"
    atomic_write_text(path, "\n".join(table) + "\n")
    print("\n".join(table))


if __name__ == "__main__":
    main()
