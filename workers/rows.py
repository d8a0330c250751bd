"""The training rows as the compiled code reads them: `Problem`, made once per data set, read-only.

Plain numpy, no compiled code: `pack_rows` sorts the samples by label (the loss then knows where each
class's rows are, and sums its terms in that order whatever order the caller's rows came in), keeps a
feature nonzero on many samples as a dense row and a mostly-zero one as its list of nonzero samples,
and marks every array read-only, so that Ray's object store hands every worker process of a node the
same pages. `with_loss` gives the same rows another L2 weight and loss, without a copy.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from workers import losses
from workers.losses import CROSS_ENTROPY, LOSS_KINDS, SQUARED_ERROR

# A first-layer feature nonzero on fewer than this fraction of the samples is updated through its
# list of nonzero samples; denser ones by a plain loop over all samples, which vectorises.
SPARSE_FEATURE = 0.3
_FEATURE_CHUNK = 64  # features transposed at a time by pack_rows


class Problem(NamedTuple):
    """Training rows as the compiled code reads them, with the loss it minimises and its L2 factor.

    Packed once per data set (`pack_rows`) and read-only: Ray's object store hands every
    worker process of a node the same pages. A feature nonzero on many samples keeps a dense row;
    a sparse one only its list of nonzero samples (see SPARSE_FEATURE): on wide, mostly-zero data
    (MNIST's pixels are 81% zeros) that is a fifth of the memory, and what a step reads.
    """

    dense: np.ndarray  # (D, S) float64: the dense features' values, samples sorted by label
    dense_row: np.ndarray  # (F,) int64: feature f's row of dense, or -1 for a listed (sparse) feature
    labels: np.ndarray  # (S,) int64, ascending
    label_start: np.ndarray  # (max label + 2,) int64: label c's samples are [label_start[c], label_start[c + 1])
    nonzero_start: np.ndarray  # (F + 1,) listed feature f's nonzeros are entries [start[f], start[f + 1])
    nonzero_samples: np.ndarray  # (nonzeros,) int32, ascending within a feature
    nonzero_values: np.ndarray  # (nonzeros,) float64, the inputs there
    l2_scale: float  # l2 / (2 * samples); 0.0: no penalty, and no operation for it
    targets: np.ndarray  # (T, S) float64 a regressor's targets, samples in the problem's order; (0, S) a classifier's
    # workers.losses: CROSS_ENTROPY or ERROR_RATE (labels), SQUARED_ERROR or ABSOLUTE_ERROR (targets)
    loss_kind: int


def pack_rows(
    X: np.ndarray,
    labels: np.ndarray | None,
    targets: np.ndarray | None = None,
    loss: str | None = None,
    l2: float = 0.0,
) -> Problem:
    """Training rows X (S, F) and integer labels (S,) as the compiled code reads them: packed once, read-only.

    A regressor's rows: labels None, targets (S, T) or (S,). loss: a classifier's "cross_entropy" (the
    default) or "error", a regressor's "mse" (the default) or "mae" (`with_loss` checks it fits the rows);
    l2 the weight of the L2 term. Samples are put in order of label (a stable sort): the loss then knows,
    without looking, where the true class's exp(0) = 1 need not be computed, and its sum runs in that order
    whichever way the caller's samples came; a regressor's keep their order. Hand the result to
    `workers.climbs.climb_rows` (or to a `ClimbWorker`) as often as you like: Ray's object store shares its
    arrays between the worker processes of a node.
    """
    X = np.asarray(X, dtype=np.float64)
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float64)
        if X.ndim != 2 or targets.shape[:1] != X.shape[:1] or targets.ndim not in (1, 2):
            raise ValueError(
                f"expected X (samples, features) and targets (samples, outputs), got {X.shape} and {targets.shape}"
            )
        targets = targets.reshape(X.shape[0], -1)  # (S,) is one target
        labels = np.zeros(X.shape[0], dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    if X.ndim != 2 or labels.shape != (X.shape[0],):
        raise ValueError(f"expected X (samples, features) and labels (samples,), got {X.shape} and {labels.shape}")
    order = np.argsort(labels, kind="stable")
    labels = labels[order]
    samples, features = X.shape
    counts = np.count_nonzero(X, axis=0)  # (F,)
    listed = counts < SPARSE_FEATURE * samples
    dense_row = np.full(features, -1, dtype=np.int64)
    dense_row[~listed] = np.arange(np.count_nonzero(~listed))
    dense = np.empty((np.count_nonzero(~listed), samples))
    start = np.zeros(features + 1, dtype=np.int64)
    start[1:] = np.cumsum(np.where(listed, counts, 0))
    nonzero_samples = np.empty(start[-1], dtype=np.int32)
    nonzero_values = np.empty(start[-1], dtype=np.float64)
    for low in range(0, features, _FEATURE_CHUNK):  # a few features at a time: memory stays bounded
        block = np.ascontiguousarray(X[order, low : low + _FEATURE_CHUNK].T)  # (chunk, S), sorted by label
        for offset, values in enumerate(block):
            feature = low + offset
            if not listed[feature]:
                dense[dense_row[feature]] = values
            else:
                where = np.flatnonzero(values)
                nonzero_samples[start[feature] : start[feature + 1]] = where
                nonzero_values[start[feature] : start[feature + 1]] = values[where]
    label_start = np.zeros((labels[-1] + 2) if samples else 1, dtype=np.int64)
    label_start[1:] = np.cumsum(np.bincount(labels, minlength=label_start.shape[0] - 1))
    kind = CROSS_ENTROPY if targets is None else SQUARED_ERROR
    targets = np.zeros((0, samples)) if targets is None else np.ascontiguousarray(targets[order].T)  # (T, S)
    arrays = [dense, dense_row, labels, label_start, start, nonzero_samples, nonzero_values]
    for array in [*arrays, targets]:
        array.flags.writeable = False  # one compiled signature for every caller, shared pages or not
    return with_loss(Problem(*arrays, 0.0, targets, kind), l2, loss)


def with_l2(problem: Problem, l2: float) -> Problem:
    """The same rows with another L2 weight (no copy)."""
    return problem._replace(l2_scale=losses.l2_scale(l2, problem.labels.shape[0]) if l2 > 0 else 0.0)


def with_loss(problem: Problem, l2: float, loss: str | None) -> Problem:
    """The same rows with another L2 weight and loss (no copy): a classifier's ("cross_entropy" or "error") for
    labelled rows, a regressor's ("mse" or "mae") for rows with targets; None keeps the rows' own."""
    problem = with_l2(problem, l2)
    if loss is None:
        return problem
    regression = problem.targets.shape[0] > 0
    if (loss in losses.REGRESSION_LOSSES) != regression:
        kind = "regressor" if regression else "classifier"
        names = losses.REGRESSION_LOSSES if regression else losses.CLASSIFIER_LOSSES
        raise ValueError(f"loss: {loss!r} is not a {kind}'s loss (one of {', '.join(names)})")
    return problem._replace(loss_kind=LOSS_KINDS[loss])


def dense_inputs(problem: Problem) -> np.ndarray:
    """The problem's features as one dense (S, F) float64 array, samples in the problem's order."""
    features = problem.dense_row.shape[0]
    X = np.zeros((problem.labels.shape[0], features))
    for feature in range(features):
        row = problem.dense_row[feature]
        if row >= 0:
            X[:, feature] = problem.dense[row]
        else:
            low, high = problem.nonzero_start[feature], problem.nonzero_start[feature + 1]
            X[problem.nonzero_samples[low:high], feature] = problem.nonzero_values[low:high]
    return X
