"""What a round keeps: the best climber, or a recombination of the climbers' improvements.

Keeping the best of N climbs gains like the expected maximum of N draws (about sqrt(2 ln N)),
so more climbers barely speed up the search. Their improvements carry more: each climber's change
from the broadcast start is a step downhill plus noise of its own, and the noise of different
climbers does not agree. A weighted mean of the improving climbers' changes (the weights of
CMA-ES: log-ranks, best first) keeps what they agree on; the coordinator evaluates it at a few
lengths along that direction and keeps whatever is lowest: that candidate, or the best climber.
This is the recombination of evolution strategies ((mu/mu_W, lambda)), applied to whole climbs.
On a grid (int8, ternary, binary weights) a recombined point falls between levels: each candidate is
put on its weights' nearest levels (`Layout.snap`) before it is evaluated (BENCHMARKS.md measures it
against keeping the best climber, `--combine best`).

Everything here is a pure function of the start and the reports, taken in order of (loss,
climber), so arrival order decides nothing; candidates are evaluated by the coordinator's compiled
code (or, on an objective, by the objective under the round's seed), the same bits on every CPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from coordinator.config import Combine
from coordinator.rounds.best import Best, better_of
from workers import ClimbOutcome, ClimbReport

# The lengths evaluated along the recombined direction, in multiples of it (a weighted mean of the
# improving climbers' changes). Their sum (mu times the mean) overshoots: the climbers chase the same
# easy directions first. Measured on the spiral 2-64-3, 16 climbers of 1,250 steps, 5 seeds of 120
# rounds (bench/results/recombination_lengths.txt, by bench/recombination_lengths.py): twice the mean
# won 440 of the 600 rounds, once 14 and four times 23; the best climber was kept in 118, and 5 (each
# seed's first) had nothing to recombine.
LENGTHS = (1.0, 2.0, 4.0)

# The climber index a recombination is reported under (no single climber's network).
COMBINED = -2

# A candidate's (loss, score) as the climbers would measure it: the training rows' or the objective's.
Evaluator = Callable[[np.ndarray], tuple[float, float]]


@dataclass(frozen=True)
class RoundBest:
    """A round's outcome: the global best after it, and what the coordinator did to find it."""

    best: Best
    coordinator_evaluations: int  # losses the coordinator computed itself
    combined: bool  # the best is a recombination of climbers' changes, not one climber's network


def rank_key(report: ClimbReport) -> tuple[bool, float, int]:
    """Reports in order of merit: lower loss first, NaN last, ties to the lower climber index."""
    nan = math.isnan(report.loss)
    return (nan, 0.0 if nan else report.loss, report.climber_index)


def recombination_weights(count: int) -> np.ndarray:
    """CMA-ES's positive weights for `count` ranked parents: log(count + 1/2) - log(rank), summing to 1."""
    weights = math.log(count + 0.5) - np.log(np.arange(1, count + 1))
    return weights / weights.sum()


def recombined_direction(start: np.ndarray, ranked: Sequence[ClimbReport]) -> np.ndarray:
    """The recombination weights' mean of ranked climbers' changes from start (P,), best first: the order of the
    additions is the ranking's, so the bits do not depend on when reports arrived."""
    direction = np.zeros_like(start)
    for weight, report in zip(recombination_weights(len(ranked)), ranked, strict=True):
        direction += weight * (report.outcome.params - start)
    return direction


def keep_best(previous: Best | None, reports: Sequence[ClimbReport]) -> Best | None:
    """The lowest loss among the previous best and the reports (better_of, in a fixed order)."""
    best = previous
    for report in sorted(reports, key=lambda report: report.climber_index):
        best = better_of(best, report)
    return best


def round_best(
    previous: Best | None,
    reports: Sequence[ClimbReport],
    combine: Combine,
    evaluator: Evaluator,
    round_index: int,
    snap: Callable[[np.ndarray], np.ndarray] | None = None,
) -> RoundBest:
    """The best after a round: the best climber, or (recombine) a recombination that scores lower still.

    snap puts a candidate on the network's grid (`Layout.snap`); None: float weights, as they come.
    """
    best = keep_best(previous, reports)
    if combine == "best" or previous is None or math.isnan(previous.loss):
        return RoundBest(best, 0, False)
    improvers = sorted((report for report in reports if report.loss < previous.loss), key=rank_key)
    if len(improvers) < 2:  # one improvement: recombining it is that climber
        return RoundBest(best, 0, False)
    start = previous.outcome.params
    direction = recombined_direction(start, improvers)
    combined = False
    for length in LENGTHS:
        params = start + length * direction
        if snap is not None:
            params = snap(params)
        loss, score = evaluator(params)
        # Strictly lower than the best so far: a tie keeps the climber's own network.
        if loss < best.loss:
            outcome = ClimbOutcome(params, improvers[0].outcome.step_sizes, loss, score, evaluations=0)
            best = ClimbReport(round_index=round_index, climber_index=COMBINED, outcome=outcome)
            combined = True
    return RoundBest(best, len(LENGTHS), combined)
