"""Row shares: the training rows split into a fixed number of shares, each climber climbing on one.

A climber on a share of 1/S of the rows pays 1/S for a step. The coordinator still keeps the best on
all the training rows, and that loss is defined so that it is the same bits wherever the shares are
held: each share's partial sum (its rows' loss terms, in the kernel's order, summed as
`kernel.ordered_mean` sums, without the division), the partials added in share order, divided by
the number of rows; then cross-entropy's clip bounds and the L2 term, as `kernel.objective` has
them. With one share this is `kernel.score`'s loss, bit for bit.

Everything here is a function of the labels, the number of shares and the seed (which rows), of the
round and the climber (which share), or of arrays (partial sums, a recombination): never of which
worker holds what.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numba
import numpy as np

from workers import fastmath, kernel
from workers.kernel import Problem
from workers.objective import CLIP, CROSS_ENTROPY, ERROR_RATE, TIE_BOUND, l2_scale

# A split's stream is its own: never a climber's (keyed by round and climber) nor a held-out split's.
SHARE_SALT = 0x73686172  # "shar"
# The automatic number of shares: at most this many steps per row of its share in a round of one climber that
# holds every share. Runs that made more stalled (bench/results/row_shares.md: 95 and 180 steps a row ended at
# 0.57 and 0.55); runs with about 12 went on (60,000 rows in 16 shares, 4,000 in 4). At most MAX_SHARES.
STEPS_PER_ROW = 16.0
MAX_SHARES = 64
# A round is sized so that it climbs at least 4 times the work of its full passes (`coordinator.rounds`); one
# climber on shares makes 4 of them (3 candidates and its own network) over all rows: 16 passes' worth of steps.
ROUND_PASSES = 16.0

_LOSS_LOW = -math.log(1 - CLIP)  # kernel.mean_of's bounds for a mean cross-entropy
_LOSS_HIGH = -math.log(CLIP)


def assign_shares(labels: np.ndarray | None, rows: int, shares: int, seed: int) -> np.ndarray:
    """The share of each training row (rows,) int64: stratified by class, drawn from the seed.

    Each class's rows, in a seeded order, are dealt to the shares in turn, the deal going on from
    class to class (classes in sorted order): every share gets within one row of rows / shares, and
    within one row of its class's rows / shares of each class. labels None (a regressor's rows):
    every row is one class.
    """
    if not 1 <= shares <= rows:
        raise ValueError(f"shares: {shares} is not between 1 and the {rows:,} training rows")
    labels = np.zeros(rows, dtype=np.int64) if labels is None else np.asarray(labels)
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, SHARE_SALT])))
    assignment = np.empty(rows, dtype=np.int64)
    dealt = 0
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        assignment[members] = (dealt + np.arange(len(members))) % shares
        dealt += len(members)
    return assignment


def auto_shares(rows: int, pass_steps: float, smallest_class: int | None = None) -> int:
    """The default number of shares for `rows` training rows: a function of the data and the net, never of workers.

    pass_steps: a full pass's work in steps (`coordinator.rounds.pass_work / step_work`, the same for any rows:
    230 on 784-32-10). One climber holding all S shares makes about ROUND_PASSES * pass_steps * S steps a round
    on a share of rows / S rows; S is the most shares that keep that at or below STEPS_PER_ROW steps a row,
    sqrt(rows * STEPS_PER_ROW / (ROUND_PASSES * pass_steps)), within 1 and MAX_SHARES and no more than the
    smallest class's rows: 16 for 60,000 MNIST rows, 4 for 4,000, 1 (no shares) below 920.
    """
    shares = math.floor(math.sqrt(rows * STEPS_PER_ROW / (ROUND_PASSES * pass_steps)))
    if smallest_class is not None:
        shares = min(shares, smallest_class)
    return max(1, min(shares, MAX_SHARES, rows))


def share_rows(assignment: np.ndarray, shares: int) -> list[np.ndarray]:
    """Each share's rows, ascending: the order they are handed to `workers.climbs.prepare_rows`."""
    return [np.flatnonzero(assignment == share) for share in range(shares)]


def share_problem(labels: np.ndarray | None, rows: int, shares: int) -> str | None:
    """What is wrong with this number of shares for these rows, in one line naming `shares`; None if nothing.

    More shares than rows leaves a share empty; a class with fewer rows than there are shares leaves
    some share without a row of it, so a climber there would never see that class.
    """
    if shares < 1:
        return f"shares: must be at least 1, got {shares}"
    if shares > rows:
        return f"shares: {shares} shares of {rows:,} training rows would leave a share empty"
    if labels is not None:
        classes, counts = np.unique(np.asarray(labels), return_counts=True)
        if counts.min() < shares:
            smallest = int(np.argmin(counts))
            return (
                f"shares: class {classes[smallest]} has {counts[smallest]} training rows, fewer than the {shares} "
                "shares: some share would have none of it"
            )
    return None


def climber_share(round_index: int, climber_index: int, shares: int) -> int:
    """The share climber `climber_index` climbs on in round `round_index`: (climber + round) mod shares.

    Climbers 0..S-1 cover every share in every round; the shift by the round moves each climber's
    stream to the next share each round, and lets fewer climbers than shares visit every share.
    """
    return (climber_index + round_index) % shares


def share_l2(l2: float, rows_in_share: int, total_rows: int) -> float:
    """The L2 weight that gives a climber on a share the whole rows' L2 term: l2 * share rows / total rows.

    `kernel.with_l2` scales l2 by 1 / (2 * its rows); on a share that would weigh the penalty S times
    more than the objective the coordinator keeps.
    """
    return l2 * rows_in_share / total_rows


@dataclass(frozen=True)
class PartialSums:
    """One share's part of the loss of a batch of networks: sums (B,) of its rows' loss terms, correct (B,) rows."""

    share: int
    rows: int
    sums: np.ndarray  # (B,) float64, each the kernel-ordered sum of the share's per-row terms
    correct: np.ndarray  # (B,) int64, rows whose arg-max is the label (a classifier's; zeros for a regressor)


@numba.njit(error_model="numpy", cache=False)
def ordered_sum(terms):
    """The sum of per-row terms (S,) in `kernel.ordered_mean`'s order: four interleaved partial sums, then pairs."""
    samples = terms.shape[0]
    a = b = c = d = 0.0
    full = samples - samples % 4
    for s in range(0, full, 4):
        a += terms[s]
        b += terms[s + 1]
        c += terms[s + 2]
        d += terms[s + 3]
    for s in range(full, samples):
        a += terms[s]
    return (a + b) + (c + d)


@numba.njit(error_model="numpy", cache=False)
def _correct_rows(pre, first, labels):
    """Rows whose largest softmax probability is the label's: `kernel.score`'s accuracy times the rows, by the
    same rule (exp(z - max) / sum from fastmath, the first of equal probabilities; a NaN or +inf logit, or only
    -inf ones, predicts nothing)."""
    classes = pre.shape[0] - first
    correct = 0
    for s in range(labels.shape[0]):
        largest = -np.inf
        defined = True
        for c in range(classes):
            value = pre[first + c, s]
            if value != value or value == np.inf:
                defined = False
            largest = max(largest, value)
        if not defined or largest == -np.inf:
            continue
        total = 0.0
        for c in range(classes):
            total += fastmath.exp(pre[first + c, s] - largest)
        best, best_probability = 0, -1.0
        for c in range(classes):
            probability = fastmath.exp(pre[first + c, s] - largest) / total
            if probability > best_probability:
                best, best_probability = c, probability
        correct += best == labels[s]
    return correct


def partial_sums(batch: np.ndarray, problem: Problem, net, total_rows: int, share: int = 0) -> PartialSums:
    """Share `share`'s partial sums of the loss of parameter rows batch (B, P), from the compiled kernel.

    problem: the share's rows (`workers.climbs.prepare_rows`) with the run's loss (`kernel.with_objective`);
    total_rows: the rows of all shares together (the error loss's tie-break weight is theirs). Each row's
    term is the kernel's, computed by its `forward` and `sample_losses` (or `regression_losses`), which do
    the same operations per row whichever rows stand beside it: the same bits on every CPU.
    """
    batch = np.ascontiguousarray(batch, dtype=np.float64).reshape(-1, net.offsets[-1, 1] + net.sizes[-1])
    samples = problem.labels.shape[0]
    units = int(net.unit_start[-1])
    pre, post = np.zeros((units, samples)), np.zeros((units, samples))
    terms, scratch = np.empty(samples), np.empty((2, samples))
    first = units - int(net.sizes[-1])
    regression = problem.loss_kind not in (CROSS_ENTROPY, ERROR_RATE)
    tie = 1.0 / (total_rows * TIE_BOUND) if problem.loss_kind == ERROR_RATE else 0.0
    sums, correct = np.empty(batch.shape[0]), np.zeros(batch.shape[0], dtype=np.int64)
    for b in range(batch.shape[0]):
        kernel.forward(batch[b], problem, net, pre, post)
        if regression:
            kind = problem.loss_kind
            kernel.regression_losses(pre, first, problem.targets, problem.labels[:0], terms, (0, samples), kind)
        else:
            kernel.sample_losses(pre, first, problem.labels, problem.label_start, terms, scratch, (0, samples), tie)
            correct[b] = _correct_rows(pre, first, problem.labels)
        sums[b] = ordered_sum(terms)
    return PartialSums(share, samples, sums, correct)


def total_loss(
    partials: Sequence[PartialSums], squares: np.ndarray, l2: float, loss_kind: int
) -> tuple[np.ndarray, np.ndarray]:
    """(losses (B,), accuracies (B,)) on all rows from every share's partial sums, added in share order.

    squares (B,): each network's sum of squared weights (`kernel.squared_weights`), used when l2 > 0.
    The mean is the sum over shares, in share order, of each share's ordered sum, divided by the rows
    of all shares; a mean cross-entropy is kept within the clip's bounds (`kernel.mean_of`); then the
    L2 term l2 / (2 * rows) * squares (`kernel.with_penalty`). A regressor's accuracy is NaN here.
    """
    ordered = sorted(partials, key=lambda part: part.share)
    if [part.share for part in ordered] != list(range(len(ordered))):
        raise ValueError(f"partial sums of shares {[part.share for part in ordered]}: every share once is needed")
    rows = sum(part.rows for part in ordered)
    count = ordered[0].sums.shape[0]
    scale = l2_scale(l2, rows) if l2 > 0 else 0.0
    losses, accuracies = np.empty(count), np.empty(count)
    for b in range(count):
        total, correct = 0.0, 0
        for part in ordered:  # share order: the same bits wherever each share's sum was made
            total += float(part.sums[b])
            correct += int(part.correct[b])
        mean = total / rows
        if loss_kind == CROSS_ENTROPY and mean == mean:
            mean = min(max(mean, _LOSS_LOW), _LOSS_HIGH)
        losses[b] = mean + scale * float(squares[b]) if scale > 0.0 else mean
        accuracies[b] = correct / rows if loss_kind in (CROSS_ENTROPY, ERROR_RATE) else math.nan
    return losses, accuracies


def share_means(partials: Sequence[PartialSums], squares: np.ndarray, l2: float, total_rows: int) -> np.ndarray:
    """(S, B): each network's objective on each share alone, as a climber there measures it (mean of the share's
    terms plus the whole rows' L2 term), from the partial sums: what a climber's improvement is measured against."""
    scale = l2_scale(l2, total_rows) if l2 > 0 else 0.0
    ordered = sorted(partials, key=lambda part: part.share)
    return np.stack([part.sums / part.rows + scale * np.asarray(squares) for part in ordered])


def rank_weights(count: int) -> np.ndarray:
    """CMA-ES's positive weights for `count` ranked parents: log(count + 1/2) - log(rank), summing to 1."""
    weights = math.log(count + 0.5) - np.log(np.arange(1, count + 1))
    return weights / weights.sum()


def weighted_direction(start: np.ndarray, ends: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """The weighted mean of the climbers' changes: sum over c of weights[c] * (ends[c] - start); ends (C, P)."""
    direction = np.zeros_like(start)
    for weight, end in zip(weights, ends, strict=True):  # in rank order: a fixed order of additions
        direction += weight * (end - start)
    return direction


def mover_direction(start: np.ndarray, ends: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Each parameter's weighted mean change over the climbers that moved it (zero where none did); ends (C, P).

    Climbers that each move one parameter a step change mostly different parameters: there this is
    the sum of their changes (each climber's improvement kept whole), and where several moved the
    same parameter, their weighted mean.
    """
    total, weight_of_movers = np.zeros_like(start), np.zeros_like(start)
    for weight, end in zip(weights, ends, strict=True):
        change = end - start
        moved = change != 0.0
        total += weight * change
        weight_of_movers += np.where(moved, weight, 0.0)
    return np.divide(total, weight_of_movers, out=np.zeros_like(start), where=weight_of_movers > 0)


def improvement_order(start_losses: np.ndarray, end_losses: np.ndarray, climbers: np.ndarray) -> np.ndarray:
    """Indices of the climbers that improved on their share, best first: the largest fall of their share's loss
    (start_losses - end_losses), ties to the lower climber index; a NaN never improves."""
    falls = np.asarray(start_losses) - np.asarray(end_losses)
    improved = [i for i in range(len(falls)) if falls[i] > 0]
    return np.array(sorted(improved, key=lambda i: (-falls[i], climbers[i])), dtype=np.int64)
