"""Row shares, as a worker meets them: a climber on one share's rows, and a share's part of the loss on all rows.

A climber on a share of 1/S of the training rows pays 1/S for a step. The coordinator still keeps the
best on all the rows, and that loss is defined so that it is the same bits wherever the shares are
held: each share's partial sum (its rows' loss terms, in the compiled code's order, summed as
`from_scratch.ordered_mean` sums, without the division), the partials added in share order, divided by
the number of rows; then cross-entropy's clip bounds and the L2 term, as `from_scratch.mean_of` and
`with_penalty` have them. With one share this is `from_scratch.evaluate_batch`'s loss, bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from workers import from_scratch
from workers.losses import CLIP, CROSS_ENTROPY, ERROR_RATE, error_tie, l2_scale
from workers.rows import Problem, pack_rows

_LOSS_LOW = -math.log(1 - CLIP)  # from_scratch.mean_of's bounds for a mean cross-entropy
_LOSS_HIGH = -math.log(CLIP)


@dataclass(frozen=True)
class ShareRows:
    """The shares a worker holds: each share's packed rows (`workers.rows.pack_rows`), and the rows of all shares."""

    rows: Mapping[int, Problem]  # share index -> its rows, as the compiled code reads them
    total_rows: int  # the training rows of every share together (what the loss on all rows is a mean over)


@dataclass(frozen=True)
class ShareFile:
    """Shares a worker reads itself from a .npy file every node can read: which rows, their class indices, the scaling.

    A small message (row indices, not rows): a worker that dies takes its rows with it, and its replacement
    reads the same rows again. Features are the file's columns but the label's, scaled as
    (x - offset) / scale (the coordinator's `Scaling.apply`; none: as they are).
    """

    path: str
    label_column: int
    rows: Mapping[int, np.ndarray]  # share -> the file's rows (ascending)
    labels: Mapping[int, np.ndarray]  # share -> those rows' class indices (int64)
    total_rows: int  # the training rows of every share together
    offset: np.ndarray | None = None  # (features,)
    scale: np.ndarray | None = None  # (features,)

    def read(self) -> ShareRows:
        """Every share's rows read from the file, scaled and packed: what this worker holds."""
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        features = [column for column in range(array.shape[1]) if column != self.label_column]
        packed = {}
        for share, rows in self.rows.items():
            X = np.asarray(array[rows][:, features], dtype=np.float64)
            if self.scale is not None:
                X = (X - self.offset) / self.scale
            packed[share] = pack_rows(X, self.labels[share])
        return ShareRows(packed, self.total_rows)


def share_l2(l2: float, rows_in_share: int, total_rows: int) -> float:
    """The L2 weight that gives a climber on a share the whole rows' L2 term: l2 * share rows / total rows.

    `workers.rows.with_l2` scales l2 by 1 / (2 * its rows); on a share that would weigh the penalty S times
    more than the loss the coordinator keeps.
    """
    return l2 * rows_in_share / total_rows


@dataclass(frozen=True)
class PartialSums:
    """One share's part of the loss of a batch of networks: sums (B,) of its rows' loss terms, correct (B,) rows."""

    share: int
    rows: int
    sums: np.ndarray  # (B,) float64, each the ordered sum of the share's per-row terms
    correct: np.ndarray  # (B,) int64, rows whose arg-max is the label (a classifier's; zeros for a regressor)

    def pick(self, index: int) -> PartialSums:
        """The partial sums of network `index` of the batch alone."""
        return PartialSums(self.share, self.rows, self.sums[index : index + 1], self.correct[index : index + 1])


def partial_sums(batch: np.ndarray, problem: Problem, net, total_rows: int, share: int = 0) -> PartialSums:
    """Share `share`'s partial sums of the loss of parameter rows batch (B, P), from the compiled code.

    problem: the share's rows with the run's loss (`workers.rows.with_loss`); total_rows: the rows of all
    shares together (the error loss's tie-break weight is theirs). Each row's term is the one
    `from_scratch.evaluate_batch` computes, by the same operations per row whichever rows stand beside it:
    the same bits on every CPU.
    """
    batch = np.ascontiguousarray(np.atleast_2d(batch), dtype=np.float64)
    tie = error_tie(total_rows) if problem.loss_kind == ERROR_RATE else 0.0
    sums, correct = from_scratch.partial_sums(batch, problem, net, tie)
    return PartialSums(share, problem.labels.shape[0], sums, correct)


def total_loss(
    partials: Sequence[PartialSums], squares: np.ndarray, l2: float, loss_kind: int
) -> tuple[np.ndarray, np.ndarray]:
    """(losses (B,), scores (B,)) on all rows from every share's partial sums, added in share order.

    squares (B,): each network's sum of squared weights (`from_scratch.squared_weights`), used when l2 > 0.
    The mean is the sum over shares, in share order, of each share's ordered sum, divided by the rows
    of all shares; a mean cross-entropy is kept within the clip's bounds (`from_scratch.mean_of`); then
    the L2 term l2 / (2 * rows) * squares (`from_scratch.with_penalty`). A classifier's score is its
    accuracy; a regressor's R^2 is not a sum of parts, and is NaN here.
    """
    ordered = sorted(partials, key=lambda part: part.share)
    if [part.share for part in ordered] != list(range(len(ordered))):
        raise ValueError(f"partial sums of shares {[part.share for part in ordered]}: every share once is needed")
    rows = sum(part.rows for part in ordered)
    count = ordered[0].sums.shape[0]
    scale = l2_scale(l2, rows) if l2 > 0 else 0.0
    losses, scores = np.empty(count), np.empty(count)
    for b in range(count):
        total, correct = 0.0, 0
        for part in ordered:  # share order: the same bits wherever each share's sum was made
            total += float(part.sums[b])
            correct += int(part.correct[b])
        mean = total / rows
        if loss_kind == CROSS_ENTROPY and mean == mean:
            mean = min(max(mean, _LOSS_LOW), _LOSS_HIGH)
        losses[b] = mean + scale * float(squares[b]) if scale > 0.0 else mean
        scores[b] = correct / rows if loss_kind in (CROSS_ENTROPY, ERROR_RATE) else math.nan
    return losses, scores


def share_means(partials: Sequence[PartialSums], squares: np.ndarray, l2: float, total_rows: int) -> np.ndarray:
    """(S, B): each network's loss on each share alone, as a climber there measures it (the mean of the share's
    terms plus the whole rows' L2 term): what a climber's improvement is measured against."""
    scale = l2_scale(l2, total_rows) if l2 > 0 else 0.0
    ordered = sorted(partials, key=lambda part: part.share)
    return np.stack([part.sums / part.rows + scale * np.asarray(squares) for part in ordered])
