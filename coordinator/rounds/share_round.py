"""What a round keeps when its climbers climb on row shares: a recombination of their changes, judged on all rows.

A climber on a share measures its own loss on its share only, so climbers are ranked by how far their
share's loss fell from the start's loss on that share (known from the start's partial sums, no pass of
its own). The coordinator adds the improvers' changes with the recombination weights of
`coordinator.rounds.combine` (best first) and evaluates the start plus that direction at three lengths on
all rows: each share's worker sums its rows, the coordinator adds the sums in share order
(`workers.shares.total_loss`). With a single improver its own network is a candidate too. The lowest
candidate is kept if it is strictly lower than the start; else the start stays.

The lengths follow what won (measured as `rank-adapt` in bench/results/row_shares.md against fixed
lengths): the run's scale doubles after a round won by the longest candidate (within a quarter of the
improvers) and halves after one won by the shortest or by none (down to ADAPT_LOW). The scale is part of
the run's state, saved in its checkpoint.

Everything is a pure function of the start, its partial sums, the reports (taken in a fixed order) and
the scale: arrival order and which worker holds which share decide nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from coordinator.rounds.best import Best
from coordinator.rounds.combine import COMBINED, LENGTHS, recombined_direction
from workers import ClimbOutcome, ClimbReport, from_scratch
from workers.climbs import climber_generator
from workers.losses import LOSS_KINDS
from workers.network import init_params
from workers.shares import PartialSums, share_means, total_loss

# The least the lengths' scale shrinks to, in multiples of the recombined direction.
ADAPT_LOW = 0.25

# Candidates (K, P) -> (losses (K,), scores (K,), every share's partial sums of them): the loss on all rows.
RowsEvaluator = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, list[PartialSums]]]


def climber_share(round_index: int, climber_index: int, shares: int) -> int:
    """The share climber `climber_index` climbs on in round `round_index`: (climber + round) mod shares.

    Climbers 0..S-1 cover every share in every round; the shift by the round moves each climber's
    stream to the next share each round, and lets fewer climbers than shares visit every share.
    """
    return (climber_index + round_index) % shares


def improvement_order(start_losses: np.ndarray, reports: Sequence[ClimbReport]) -> list[ClimbReport]:
    """The reports of climbers that improved on their share, best first: the largest fall of their share's loss
    (start_losses[i] - reports[i].loss, each on the climber's own share), ties to the lower climber index; a NaN
    never improves."""
    falls = [(float(start_losses[i]) - report.loss, report) for i, report in enumerate(reports)]
    improved = [(fall, report) for fall, report in falls if fall > 0]  # a NaN fall is not > 0
    return [report for _, report in sorted(improved, key=lambda pair: (-pair[0], pair[1].climber_index))]


@dataclass(frozen=True)
class ShareRoundBest:
    """A round on shares: the best after it, its partial sums, the next scale, and what the coordinator did."""

    best: Best
    partials: list[PartialSums]  # the best's partial sums, share by share (the start's where it stayed)
    scale: float  # the lengths' scale for the next round
    coordinator_evaluations: int  # networks the coordinator evaluated on all rows
    combined: bool  # the best is a recombination of the climbers' changes
    winning_climber: int | None  # a single climber's network is the best (with one improver)
    top_climber: int | None = None  # the climber whose share's loss fell most (None: none fell)


def share_round_best(
    previous: Best,
    previous_partials: list[PartialSums],
    reports: Sequence[ClimbReport],
    start_losses: np.ndarray,
    scale: float,
    evaluator: RowsEvaluator,
    round_index: int,
    snap: Callable[[np.ndarray], np.ndarray] | None = None,
) -> ShareRoundBest:
    """The best after a round on shares (see the module's docstring).

    reports: the round's, in climber order; start_losses (C,): the start's loss on each report's share.
    snap puts a candidate on the network's grid (`Layout.snap`); None: float weights, as they come.
    """
    if math.isnan(previous.loss):
        return ShareRoundBest(previous, previous_partials, scale, 0, False, None)
    ranked = improvement_order(start_losses, reports)
    if not ranked:
        return ShareRoundBest(previous, previous_partials, scale, 0, False, None)
    top = ranked[0].climber_index
    start = previous.outcome.params
    direction = recombined_direction(start, ranked)
    lengths = [scale * length for length in LENGTHS]
    candidates = [start + length * direction for length in lengths]
    if len(ranked) == 1:  # one improver: its own network beside the steps along its change
        candidates.append(ranked[0].outcome.params)
    batch = np.stack([snap(candidate) if snap is not None else candidate for candidate in candidates])
    losses, scores, partials = evaluator(batch)
    won, bar = None, previous.loss
    for index in range(len(batch)):
        if losses[index] < bar:  # strictly lower, in candidate order: a tie keeps the earlier
            won, bar = index, losses[index]
    next_scale = scale
    if won == len(lengths) - 1:
        next_scale = min(scale * 2.0, max(1.0, len(ranked) / 4))
    elif won is None or won == 0:
        next_scale = max(scale / 2.0, ADAPT_LOW)
    if won is None:
        return ShareRoundBest(previous, previous_partials, next_scale, len(batch), False, None, top)
    climber = ranked[0].climber_index if won == len(lengths) else None
    outcome = ClimbOutcome(batch[won], ranked[0].outcome.step_sizes, float(losses[won]), float(scores[won]), 0)
    best = Best(round_index=round_index, climber_index=COMBINED if climber is None else climber, outcome=outcome)
    kept = [part.pick(won) for part in partials]
    return ShareRoundBest(best, kept, next_scale, len(batch), climber is None, climber, top)


# A key of the run's seed sequence no climber's (round, climber) key can take: the common start of round 0.
START_SALT = 0x73746172  # "star"


class RowShares:
    """A run's row shares from round to round: the best's partial sums, the lengths' scale, the loss on all rows.

    evaluate(round, candidates) asks the executor for every share's partial sums and adds them in share order;
    the best's partial sums give each share's start loss for the next round's ranking without a pass of
    their own (after a resume, one scoring of the best gives them again: the same bits).
    """

    def __init__(self, shares: int, executor, layout, l2: float, loss_name: str, scale: float = 1.0):
        self.shares = shares
        self.executor = executor
        self.layout = layout
        self.l2 = l2
        self.loss_kind = LOSS_KINDS[loss_name]
        self.scale = scale
        self.partials: list[PartialSums] = []

    def evaluate(self, round_index: int, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[PartialSums]]:
        """(losses (K,), scores (K,), every share's partial sums) of candidates (K, P) on all rows."""
        partials = self.executor.score(round_index, candidates)
        net = self.layout.arrays
        squares = np.array([from_scratch.squared_weights(np.ascontiguousarray(params), net) for params in candidates])
        losses, scores = total_loss(partials, squares, self.l2, self.loss_kind)
        return losses, scores, partials

    def adopt(self, best: Best, round_index: int) -> Best:
        """The best evaluated on all rows again (a given start, or a resumed run's best), its partial sums kept."""
        losses, scores, partials = self.evaluate(round_index, best.outcome.params[None, :])
        self.partials = [part.pick(0) for part in partials]
        outcome = ClimbOutcome(best.outcome.params, best.outcome.step_sizes, float(losses[0]), float(scores[0]), 0)
        return Best(round_index=best.round_index, climber_index=best.climber_index, outcome=outcome)

    def common_start(self, seed: int, step_size: float) -> Best:
        """Round 0's start for every climber (a recombination needs one): nnfs's initialisation from a stream of the
        run's seed of its own, evaluated on all rows (round -1, climber -1)."""
        generator = climber_generator(np.random.SeedSequence([seed, START_SALT]))
        params = init_params(self.layout, generator)
        outcome = ClimbOutcome(params, np.full_like(params, step_size), math.nan, math.nan, 0)
        return self.adopt(Best(round_index=-1, climber_index=-1, outcome=outcome), -1)

    def start_losses(self, start: np.ndarray, reports: Sequence[ClimbReport], round_index: int) -> np.ndarray:
        """(C,): the start's loss on each report's share, as the climber there measured its own."""
        squares = np.array([from_scratch.squared_weights(np.ascontiguousarray(start), self.layout.arrays)])
        means = share_means(self.partials, squares, self.l2, sum(part.rows for part in self.partials))[:, 0]
        return np.array([means[climber_share(round_index, report.climber_index, self.shares)] for report in reports])

    def keep(self, previous: Best, reports: Sequence[ClimbReport], round_index: int, snap) -> ShareRoundBest:
        """What the round keeps (`share_round_best`); the scale and the best's partial sums move on with it."""
        ordered = sorted(reports, key=lambda report: report.climber_index)
        kept = share_round_best(
            previous,
            self.partials,
            ordered,
            self.start_losses(previous.outcome.params, ordered, round_index),
            self.scale,
            lambda candidates: self.evaluate(round_index, candidates),
            round_index,
            snap,
        )
        self.scale, self.partials = kept.scale, kept.partials
        return kept
