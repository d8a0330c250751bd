"""The compiled hot loop: scoring from scratch, adjust-and-revert and random search, one climber at a time.

Each climb consumes random numbers drawn beforehand by `workers.climbs` from the climber's own
`numpy.random.Generator`, so the numpy reference and this kernel walk the same path. Compiled
without fastmath, and numba contracts no multiply-add into an FMA, so every float operation is
the IEEE one the source says: results do not depend on the CPU's vector width or instruction set
(`workers/fastmath.py` gives exp and log the same property; no BLAS anywhere). Cached on disk by
the sources' content (`workers/jitcache.py`).

State arrays are unit-major, (units, S): every layer's units stacked (row `unit_start[m] + j` is
unit j of weight layer m; the logits are the last rows), so the innermost loops run over samples
and vectorise. One loss implementation serves everything: per-sample terms (`sample_losses`, or a
regressor's `regression_losses` from its linear outputs), summed in a fixed order (`mean_of`,
`ordered_mean`), plus the L2 term (`with_penalty`); `forward` is the one
pass from scratch, for `score`, the seed's rule, random search and the refresh below.

A sparse step (`adjust_sparse`) is evaluated incrementally at any depth (`_candidate`): a touched
unit's candidate is its current pre-activations plus its own weights' changes times their inputs
(a first-layer feature's nonzero samples only, when it is sparse) and its bias's change; a hidden
unit whose activation changed passes the difference on to every unit of the next layer as a
rank-one update (four units at a time); the per-sample loss terms are recomputed from the
candidate logits. Candidates live in the second of two planes of the state, so accepting or
reverting a step copies nothing. Drift is bounded by a refresh: the cached state is rebuilt from
scratch whenever the kernel is entered, i.e. at every block of `workers.climbs.BLOCK_STEPS` steps,
fixed step counts that never depend on timing.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import NamedTuple

import numba
import numpy as np

from workers import fastmath, grid, jitcache
from workers import objective as definition  # `objective` is the kernel's own function below
from workers.objective import ABSOLUTE_ERROR, CLIP, CROSS_ENTROPY, ERROR_RATE, LOSS_KINDS, SQUARED_ERROR

# The sources the compiled code depends on, which key its cache: workers/network.py too (the LayoutArrays
# it is handed), named by path, as the kernel does not import the network module (which imports the kernel).
SOURCES = [__file__, fastmath.__file__, definition.__file__, str(Path(__file__).with_name("network.py")), grid.__file__]
# Registered before the decorators below run: they pick their cache locator when they are applied.
CACHE = jitcache.install(SOURCES, [__file__])
# nogil: a climb in a thread of the driver lets the driver's other threads run (Ray's start, for one).
_jit = functools.partial(numba.njit, cache=CACHE, error_model="numpy", nogil=True)

_LOSS_LOW = -math.log(1 - CLIP)  # the loss of a confidence clipped at 1 - 1e-7
_LOSS_HIGH = -math.log(CLIP)  # the loss of a confidence clipped at 1e-7
# A sample whose sum of exp(z_c - z_true) reaches this (or is NaN) has an infinite or NaN logit, or a
# loss far beyond the clip (log(1e300) = 690); it is settled by _extreme_sample_loss. Finite logits
# take this branch only where the fast path would give _LOSS_HIGH as well.
_EXTREME_TOTAL = 1e300
# A first-layer feature nonzero on fewer than this fraction of the samples is updated through its
# list of nonzero samples; denser ones by a plain loop over all samples, which vectorises.
SPARSE_FEATURE = 0.3
# A step that moves parameters of at most this many units of one hidden layer, and nothing else, is
# evaluated on the samples it changes only (`_compact_candidate`).
COMPACT_UNITS = 8
# ... and, on the first weight layer, has at least this many later units times samples to gain from it.
COMPACT_MIN_WORK = 2048
_FEATURE_CHUNK = 64  # features transposed at a time by make_problem


class Problem(NamedTuple):
    """A data set as the kernel reads it, and the objective's L2 factor.

    Prepared once per data set (`make_problem`) and read-only: Ray's object store hands every
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
    # workers.objective: CROSS_ENTROPY or ERROR_RATE (labels), SQUARED_ERROR or ABSOLUTE_ERROR (targets)
    loss_kind: int


class StepRule(NamedTuple):
    """How step sizes adapt: the one-fifth rule's factors, per parameter or for all, within bounds."""

    adaptive: bool
    growth: float
    shrink: float
    per_parameter: bool
    low: float
    high: float


class Work(NamedTuple):
    """A climber's working arrays. Few: numba counts a reference each time a function takes an array
    out of a tuple, so hot functions take them out once, at the top, and pass arrays on."""

    state: np.ndarray  # (3, units, S) pre-activations, see below; plane 2: a compact step's candidates
    side: np.ndarray  # (units,) int64: the plane of state holding each unit's current values
    post: np.ndarray  # (units, S) hidden activations, for passes from scratch only
    terms: np.ndarray  # (2, S) per-sample loss terms: current and candidate rows, by turns
    scratch: np.ndarray  # (2, S) the loss's true logits and sums of exponentials
    deltas: np.ndarray  # (widest + 3, S) a layer's changes of activation, one row per moved unit
    outgoing: np.ndarray  # (widest + 3, widest) those units' outgoing weights, one row per moved unit
    dirty: np.ndarray  # (units,) bool: touched by the step in progress
    touched: np.ndarray  # (L, widest + 1) int64 per weight layer: count, then the touched units in order
    changes: np.ndarray  # (P,) the step's changes of parameter values, in step order
    links: np.ndarray  # (2, P) int64 per change: its input unit (-1: a bias), the next change of its unit
    ends: np.ndarray  # (2, units) int64 per unit: its first and last change of the step (-1: none)


class Compact(NamedTuple):
    """A climber's arrays for compact steps and for carrying its state from one block to the next. Apart
    from Work: numba copies a tuple passed to a function and counts a reference to each array in it, so
    the whole-row path's many calls take the smaller Work only."""

    lists: np.ndarray  # (COMPACT_UNITS, S) int32: a listed unit's changed samples (a compact step)
    list_values: np.ndarray  # (COMPACT_UNITS, S) its candidate pre-activations there
    list_length: np.ndarray  # (COMPACT_UNITS,) int64: how many; -1: the candidate is a whole row
    marks: np.ndarray  # (3, S) int64: a sample's stamp in a unit's list, its slot there, its stamp in A
    affected: np.ndarray  # (2, S) int64: the samples A a compact step changes, and each sample's place in A
    compact_labels: np.ndarray  # (S,) int64: the labels of A
    compact_terms: np.ndarray  # (S,) the candidate's loss terms on A
    label_runs: np.ndarray  # (max label + 2,) int64: where each label's columns of A start, when A is in order
    counters: np.ndarray  # (2,) int64: the last stamp used, and the size of A
    carry: np.ndarray  # (5,) float64 between blocks: loss, mean, squares, incremental (0/1), current terms row


# Work.state holds every layer's units stacked, row unit_start[m] + j for unit j of weight layer m, the
# logits last, in two planes: a unit's current pre-activations in plane side[row], and, once a step has
# touched it, the step's candidate in the other plane. Accepting a step flips the sides of the touched
# rows and reverting leaves them: neither copies anything. A step touches, with the units whose weights
# moved, every unit downstream of them, and the logit rows all together (so they share one side and the
# loss reads them as one (C, S) block). Hidden activations (ReLU, or net.activation's) are taken of the
# pre-activations where they are read.


def make_problem(
    X: np.ndarray, labels: np.ndarray | None, l2: float = 0.0, targets: np.ndarray | None = None, loss: str = "mse"
) -> Problem:
    """The kernel's view of features X (S, F), integer labels (S,) and the L2 weight; its arrays are read-only.

    Samples are put in order of label (a stable sort): the loss then knows, without looking, where
    the true class's exp(0) = 1 need not be computed. The loss's sum runs in that order, the same
    order whichever way the caller's samples came. A regressor gives targets (S, T) instead of
    labels (labels None) and its loss, "mse" or "mae": its samples keep their order.
    """
    X = np.asarray(X, dtype=np.float64)
    if targets is not None:
        targets = np.asarray(targets, dtype=np.float64)
        targets = targets.reshape(X.shape[0], -1)  # (S,) is one target
        labels = np.zeros(X.shape[0], dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    labels = labels[order]
    X = np.asarray(X, dtype=np.float64)
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
    kind = CROSS_ENTROPY if targets is None else LOSS_KINDS[loss]
    targets = np.zeros((0, samples)) if targets is None else np.ascontiguousarray(targets[order].T)  # (T, S)
    arrays = [dense, dense_row, labels, label_start, start, nonzero_samples, nonzero_values]
    for array in [*arrays, targets]:
        array.flags.writeable = False  # one compiled signature for every caller, shared pages or not
    return Problem(*arrays, definition.l2_scale(l2, samples) if l2 > 0 else 0.0, targets, kind)


def with_l2(problem: Problem, l2: float) -> Problem:
    """The same rows with another L2 weight (no copy)."""
    return problem._replace(l2_scale=definition.l2_scale(l2, problem.labels.shape[0]) if l2 > 0 else 0.0)


def with_objective(problem: Problem, l2: float, loss: str | None) -> Problem:
    """The same rows with another L2 weight and loss (no copy): a classifier's ("cross_entropy" or "error") for
    labelled rows, a regressor's ("mse" or "mae") for rows with targets; None keeps the rows' own."""
    problem = with_l2(problem, l2)
    if loss is None:
        return problem
    regression = problem.targets.shape[0] > 0
    if (loss in definition.REGRESSION_LOSSES) != regression:
        kind = "regressor" if regression else "classifier"
        losses = definition.REGRESSION_LOSSES if regression else definition.CLASSIFIER_LOSSES
        raise ValueError(f"loss: {loss!r} is not a {kind}'s loss (one of {', '.join(losses)})")
    return problem._replace(loss_kind=LOSS_KINDS[loss])


@_jit(inline="always")
def _regressor(problem):
    """Whether the problem's loss is a regressor's (on targets: SQUARED_ERROR or ABSOLUTE_ERROR), not a classifier's."""
    return problem.loss_kind == SQUARED_ERROR or problem.loss_kind == ABSOLUTE_ERROR


@_jit(inline="always")
def _error_tie(problem):
    """The weight of a sample's cross-entropy in its loss term: 0.0 (the cross-entropy alone), or the error
    objective's tie-break (`workers.objective.error_tie`)."""
    if problem.loss_kind == ERROR_RATE:
        return 1.0 / (problem.labels.shape[0] * definition.TIE_BOUND)
    return 0.0


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


# --- the loss ----------------------------------------------------------------------------------------


@_jit
def _extreme_sample_loss(pre, first, s):
    """The clipped loss of sample s, as numpy's max-shifted softmax gives it, for extreme logits.

    NaN where numpy's is NaN: a NaN or +inf logit, or every logit -inf (the row maximum leaves
    inf - inf). Otherwise the maximum is finite, and a true logit of -inf or one far below the
    others (whichever class is true) has probability 0, clipped to 1e-7.
    """
    largest = -np.inf
    for c in range(pre.shape[0] - first):
        value = pre[first + c, s]
        if value != value or value == np.inf:
            return np.nan
        largest = max(largest, value)
    if largest == -np.inf:
        return np.nan
    return _LOSS_HIGH


@_jit
def _add_exps(totals, row, true_logits):
    """totals += exp(row - true_logits), elementwise."""
    for t in range(totals.shape[0]):  # the innermost loops run over samples: SIMD
        totals[t] += fastmath.exp(row[t] - true_logits[t])


@_jit
def sample_losses(pre, first, labels, label_start, terms, scratch, span, tie=0.0):
    """Per-sample clipped cross-entropy into terms, from logits pre[first:] (C, S), on samples span = (low, high).

    -log(p_true) is computed as log(sum_c exp(z_c - z_true)), the same quantity as the seed's
    softmax-then-log without a division, then clipped exactly where the seed clips p_true. A term is
    NaN exactly where numpy's softmax makes it NaN (a NaN or +inf logit, or all -inf in a sample).
    When samples are sorted by label, label_start (classes + 1,) says where each label's run starts:
    there the true class adds exp(z_true - z_true) without an exp (the same bits: 1.0, or NaN for an
    infinite or NaN logit); empty: nothing skipped.
    scratch is a (2, S) work array. tie > 0: the error objective's terms, 1 where the largest logit
    (the first of equal ones) is not the label's, plus tie times the cross-entropy.
    """
    low, high = span
    classes = pre.shape[0] - first
    true_logits, totals = scratch[0, low:high], scratch[1, low:high]  # totals: sum over c of exp(z_c - z_true)
    label, out = labels[low:high], terms[low:high]
    for t in range(high - low):
        true_logits[t] = pre[first + label[t], low + t]
        totals[t] = 0.0
    for c in range(classes):
        row = pre[first + c, low:high]
        own_low = own_high = 0  # the samples of label c, within the span
        if c + 1 < label_start.shape[0]:
            own_low = min(max(label_start[c] - low, 0), high - low)
            own_high = min(max(label_start[c + 1] - low, own_low), high - low)
        _add_exps(totals[:own_low], row[:own_low], true_logits[:own_low])
        for t in range(own_low, own_high):
            totals[t] += 1.0 + (row[t] - row[t])  # exp(z - z): 1.0, or NaN for an infinite or NaN logit
        _add_exps(totals[own_high:], row[own_high:], true_logits[own_high:])
    for t in range(high - low):
        # totals >= 1 (the true class adds exp(0)); a NaN or huge total gives garbage here, replaced below
        out[t] = min(max(fastmath.log(totals[t]), _LOSS_LOW), _LOSS_HIGH)
    for t in range(high - low):
        if not (totals[t] < _EXTREME_TOTAL):  # NaN or huge: an infinity, a NaN or a clipped loss
            out[t] = _extreme_sample_loss(pre, first, low + t)
    if tie > 0.0:
        _add_errors(pre[first:, low:high], label, out, true_logits, totals, tie)


@_jit
def _add_errors(logits, label, out, true_logits, wrong, tie):
    """out = wrong + tie * out, on logits (C, n): wrong is 1.0 where a logit beats the label's true_logits (a
    larger one, or an equal one of a lower class, as argmax picks the first), else 0.0. Equal within
    `objective.TIE_TOLERANCE`: exact ties are common (a sample whose last hidden units are all off has the
    biases for logits), and an incremental step rounds them an ulp apart."""
    for t in range(out.shape[0]):
        wrong[t] = 0.0
    for c in range(logits.shape[0]):
        row = logits[c]
        for t in range(out.shape[0]):  # over samples: SIMD
            gap, tolerance = row[t] - true_logits[t], definition.TIE_TOLERANCE * (1.0 + abs(true_logits[t]))
            if gap > tolerance or (gap >= -tolerance and c < label[t]):
                wrong[t] = 1.0
    for t in range(out.shape[0]):
        out[t] = wrong[t] + tie * out[t]


@_jit
def ordered_mean(terms):
    """The mean of per-sample loss terms (S,), summed in a fixed order: four interleaved partial sums, then pairs.

    The order is written out, so it is the same on every CPU whatever the vector width; four chains
    keep the adder busy where one chain would wait on each addition.
    """
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
    return ((a + b) + (c + d)) / samples


@_jit
def mean_of(terms):
    """`ordered_mean` of cross-entropy terms (S,). The rounding of a sum can leave the mean of terms that all
    sit on a clip bound an ulp beyond it: it is kept within the bounds."""
    mean = ordered_mean(terms)
    if mean != mean:  # a NaN term: a NaN loss (min and max below would drop it)
        return mean
    return min(max(mean, _LOSS_LOW), _LOSS_HIGH)


@_jit(inline="always")
def loss_mean(terms, loss_kind):
    """The mean loss of per-sample terms (S,): cross-entropy's kept within its clip bounds, the error objective's
    and a regressor's as they are."""
    if loss_kind == CROSS_ENTROPY:
        return mean_of(terms)
    return ordered_mean(terms)


@_jit
def regression_losses(pre, first, targets, columns, terms, span, loss_kind):
    """A regressor's per-sample terms into terms, from its linear outputs pre[first:] (T, S), on columns span.

    Each term is the mean over outputs of the squared (SQUARED_ERROR) or absolute error, outputs in
    order: the book's per-sample mean squared (or absolute) error. Column p stands for sample
    columns[p] of targets (T, samples) when columns is not empty (a compact step), else for sample p.
    """
    low, high = span
    outputs = pre.shape[0] - first
    out = terms[low:high]
    for t in range(high - low):
        out[t] = 0.0
    for c in range(outputs):
        row, target = pre[first + c, low:high], targets[c]
        if columns.shape[0] == 0:
            wanted = target[low:high]
            for t in range(high - low):  # over samples: SIMD
                error = row[t] - wanted[t]
                out[t] += error * error if loss_kind == SQUARED_ERROR else abs(error)
        else:
            for t in range(high - low):
                error = row[t] - target[columns[low + t]]
                out[t] += error * error if loss_kind == SQUARED_ERROR else abs(error)
    for t in range(high - low):
        out[t] /= outputs


@_jit
def _r_squared(pre, first, targets):
    """The coefficient of determination of outputs pre[first:] (T, S) for targets (T, S), averaged over outputs.

    Per output 1 - (sum of squared errors) / (sum of squared deviations of the targets from their mean), as
    scikit-learn's r2_score gives it (an output whose targets never vary: 1 if it is exact, else 0).
    """
    outputs, samples = targets.shape
    total = 0.0
    for c in range(outputs):
        target, row = targets[c], pre[first + c]
        mean = ordered_mean(target)
        residual = spread = 0.0
        for s in range(samples):
            error = row[s] - target[s]
            deviation = target[s] - mean
            residual += error * error
            spread += deviation * deviation
        if spread > 0.0:
            total += 1.0 - residual / spread
        elif residual == 0.0:
            total += 1.0
    return total / outputs


@_jit(inline="always")
def with_penalty(mean, squares, l2_scale):
    """The objective: the mean loss, plus l2_scale * squares only when there is an L2 term."""
    if l2_scale > 0.0:
        return mean + l2_scale * squares
    return mean


@_jit
def squared_weights(params, net):
    """Sum of the squared weights (biases excluded), in parameter order."""
    offsets = net.offsets
    total = 0.0
    for m in range(offsets.shape[0]):
        for i in range(offsets[m, 0], offsets[m, 1]):
            total += params[i] * params[i]
    return total


@_jit
def loss_from_logits(values, labels):
    """Mean clipped cross-entropy of softmax over classes of values (C, S), against labels (S,)."""
    samples = labels.shape[0]
    terms = np.empty(samples)
    sample_losses(values, 0, labels, np.empty(0, dtype=np.int64), terms, np.empty((2, samples)), (0, samples))
    return mean_of(terms)


# --- the forward pass --------------------------------------------------------------------------------


@_jit
def _add_scaled(target, source, factor, low, high):
    """target[s] += source[s] * factor for s in [low, high)."""
    into, values = target[low:high], source[low:high]
    for t in range(into.shape[0]):  # an index known to be >= 0 (no wraparound check): SIMD
        into[t] += values[t] * factor


@_jit
def _add_listed(target, problem, feature, factor):
    """target[s] += input feature[s] * factor for every s, through the feature's list of nonzero samples.

    The same bits as the dense loop: zeros add nothing, unless the factor is infinite or NaN, when
    0 * factor is NaN (as BLAS gives it) and every sample gets it.
    """
    start, samples, values = problem.nonzero_start, problem.nonzero_samples, problem.nonzero_values
    low, high = start[feature], start[feature + 1]
    if factor - factor == 0.0:
        for t in range(low, high):
            target[samples[t]] += values[t] * factor
        return
    zero_times, t = 0.0 * factor, low
    for s in range(target.shape[0]):
        if t < high and samples[t] == s:
            target[s] += values[t] * factor
            t += 1
        else:
            target[s] += zero_times


@_jit(inline="always")
def _activate(x, kind):
    """A hidden unit's output from its pre-activation x: ReLU (kind 0, `workers.grid.ACTIVATIONS`), or the
    others' (`_activate_other`, a call: the loops of ReLU, the default, stay as small as they were)."""
    if kind == 0:
        return max(x, 0.0)
    return _activate_other(x, kind)


@_jit
def _activate_other(x, kind):
    """tanh (kind 1), sign (-1 below -grid.STEP_TOLERANCE, else +1) or step (0 there, else 1); NaN stays NaN.
    tanh from fastmath's exp: the same bits on every CPU."""
    if kind == 1:
        small = fastmath.exp(-2.0 * abs(x))
        magnitude = (1.0 - small) / (1.0 + small)
        return magnitude if x >= 0.0 else (-magnitude if x < 0.0 else x)
    if x >= -grid.STEP_TOLERANCE:
        return 1.0
    if x < -grid.STEP_TOLERANCE:
        return -1.0 if kind == 2 else 0.0
    return x


@_jit
def forward(params, problem, net, pre, post):
    """Every unit's pre-activations into pre (units, S), and hidden activations into post, from scratch.

    Each unit adds its bias, then its inputs in order: the same order on every call and every CPU.
    """
    sizes, offsets, unit_start, kind = net.sizes, net.offsets, net.unit_start, net.activation
    dense, dense_row = problem.dense, problem.dense_row
    layers = offsets.shape[0]
    samples = pre.shape[1]
    for m in range(layers):
        n_in, n_out = sizes[m], sizes[m + 1]
        for j in range(n_out):
            row = pre[unit_start[m] + j]  # (S,)
            bias = params[offsets[m, 1] + j]
            for s in range(samples):
                row[s] = bias
            for i in range(n_in):
                weight = params[offsets[m, 0] + i * n_out + j]
                if m > 0:
                    _add_scaled(row, post[unit_start[m - 1] + i], weight, 0, samples)
                elif dense_row[i] >= 0:
                    _add_scaled(row, dense[dense_row[i]], weight, 0, samples)
                else:
                    _add_listed(row, problem, i, weight)
            if m < layers - 1:
                activation = post[unit_start[m] + j]
                if kind == 0:  # ReLU, the default: its own loop
                    for s in range(samples):
                        activation[s] = max(row[s], 0.0)
                else:
                    for s in range(samples):
                        activation[s] = _activate(row[s], kind)


@_jit
def _workspace(problem, net, compact):
    """Working arrays for one climber on problem; compact: with plane 2 of the state, for compact steps."""
    units = net.unit_start[-1]
    samples = problem.labels.shape[0]
    layers = net.offsets.shape[0]
    widest = net.sizes[1:].max()
    return Work(
        np.zeros((3 if compact else 2, units, samples)),
        np.zeros(units, dtype=np.int64),
        np.zeros((units, samples)),
        np.zeros((2, samples)),
        np.empty((2, samples)),
        np.empty((widest + 3, samples)),  # + 3: room to pad the last group of four
        np.empty((widest + 3, widest)),
        np.zeros(units, dtype=np.bool_),
        np.zeros((layers, widest + 1), dtype=np.int64),
        np.empty(net.where.shape[0]),
        np.empty((2, net.where.shape[0]), dtype=np.int64),
        np.full((2, units), -1, dtype=np.int64),
    )


@_jit
def _compact_workspace(problem):
    """The arrays of compact steps, and the carry between blocks, for one climber on problem."""
    samples = problem.labels.shape[0]
    return Compact(
        np.empty((COMPACT_UNITS, samples), dtype=np.int32),
        np.empty((COMPACT_UNITS, samples)),
        np.zeros(COMPACT_UNITS, dtype=np.int64),
        np.zeros((3, samples), dtype=np.int64),
        np.empty((2, samples), dtype=np.int64),
        np.empty(samples, dtype=np.int64),
        np.empty(samples),
        np.zeros(problem.label_start.shape[0], dtype=np.int64),
        np.zeros(2, dtype=np.int64),
        np.zeros(5),
    )


def workspace(problem: Problem, net) -> tuple[Work, Compact]:
    """A climber's working arrays for adjust_sparse: (Work, Compact); one pair serves climber after climber."""
    return _workspace(problem, net, True), _compact_workspace(problem)


@_jit
def _mean_loss_from_scratch(params, problem, net, work, current):
    """Forward pass into plane 0 of work.state and the mean loss, its per-sample terms in terms[current]."""
    pre, terms = work.state[0], work.terms[current]
    forward(params, problem, net, pre, work.post)
    first, span = net.unit_start[-1] - net.sizes[-1], (0, pre.shape[1])
    if not _regressor(problem):
        sample_losses(pre, first, problem.labels, problem.label_start, terms, work.scratch, span, _error_tie(problem))
    else:
        regression_losses(pre, first, problem.targets, problem.labels[:0], terms, span, problem.loss_kind)
    return loss_mean(terms, problem.loss_kind)


@_jit
def objective(params, problem, net, work):
    """The objective of params, from scratch: mean loss plus the L2 term."""
    mean = _mean_loss_from_scratch(params, problem, net, work, 0)
    if problem.l2_scale > 0.0:
        return with_penalty(mean, squared_weights(params, net), problem.l2_scale)
    return mean


@_jit
def _accuracy(pre, first, labels):
    """Fraction of samples whose largest softmax probability is the label's, as numpy's argmax picks it.

    Probabilities are exp(z - max) / sum, as the seed computes them (a tie goes to the first class);
    a sample with a NaN or +inf logit, or only -inf ones, predicts nothing (numpy's NaN row).
    Logits are pre[first:] (C, S).
    """
    classes = pre.shape[0] - first
    samples = labels.shape[0]
    correct = 0
    for s in range(samples):
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
    return correct / samples


@_jit
def score(batch, problem, net):
    """(objectives (B,), accuracies (B,)) of parameter rows batch (B, P), each from scratch; a regressor's R^2
    stands for the accuracy."""
    work = _workspace(problem, net, False)
    first = net.unit_start[-1] - net.sizes[-1]
    losses = np.empty(batch.shape[0])
    accuracies = np.empty(batch.shape[0])
    for b in range(batch.shape[0]):
        losses[b] = objective(batch[b], problem, net, work)
        if not _regressor(problem):
            accuracies[b] = _accuracy(work.state[0], first, problem.labels)
        else:  # a regressor's "accuracy" is its R^2
            accuracies[b] = _r_squared(work.state[0], first, problem.targets)
    return losses, accuracies


# --- climbs with a full evaluation per step ----------------------------------------------------------


_move_on_grid = numba.njit(inline="always", error_model="numpy")(grid.move_on_grid)


@_jit(inline="always")
def _moved(value, change, i, net):
    """Parameter i's value after a step of `change`: value + change, or, for a weight of a layer on a grid,
    the grid's move (`workers.grid.move_on_grid`)."""
    m, offsets = net.where[i, 0], net.offsets
    top = offsets[m, 4]
    if top == 0 or net.where[i, 1] < 0:  # float weights, or a bias
        return value + change
    return _move_on_grid(value, change, math.ldexp(1.0, offsets[m, 3]), float(top), float(offsets[m, 5]))


@_jit(inline="always")
def _better(candidate_loss, loss, margin):
    """Strictly lower (by more than margin * |loss| where margin > 0); a NaN candidate never wins, and any number
    beats a NaN incumbent."""
    if margin > 0.0:
        return candidate_loss < loss - margin * abs(loss) or (loss != loss and candidate_loss == candidate_loss)
    return candidate_loss < loss or (loss != loss and candidate_loss == candidate_loss)


@_jit
def _adapt(step_sizes, indices, success, rule):
    """After a step: grow (success) or shrink the step sizes of the changed parameters, or of all."""
    if not rule.adaptive:
        return
    factor = rule.growth if success else rule.shrink
    if rule.per_parameter:
        for t in range(indices.shape[0]):
            i = indices[t]
            step_sizes[i] = min(max(step_sizes[i] * factor, rule.low), rule.high)
    else:
        for i in range(step_sizes.shape[0]):
            step_sizes[i] = min(max(step_sizes[i] * factor, rule.low), rule.high)


@_jit
def adjust_dense(params, step_sizes, loss, noise, rule, problem, net):
    """Adjust-and-revert moving every parameter per step (the seed's rule); noise is (steps, P).

    params and step_sizes are updated in place to the climber's best; returns its objective.
    """
    work = _workspace(problem, net, False)
    candidate = np.empty_like(params)
    every = np.arange(params.shape[0])  # every parameter moved: per parameter or global is the same
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = _moved(params[i], step_sizes[i] * noise[step, i], i, net)
        candidate_loss = objective(candidate, problem, net, work)
        success = _better(candidate_loss, loss, net.margin)
        if success:
            params[:] = candidate
            loss = candidate_loss
        _adapt(step_sizes, every, success, rule)
    return loss


@_jit
def random_search(params, loss, noise, step_size, problem, net):
    """Random search: every step draws fresh parameters step_size * noise[step]; keeps the best."""
    work = _workspace(problem, net, False)
    candidate = np.empty_like(params)
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = step_size * noise[step, i]
        candidate_loss = objective(candidate, problem, net, work)
        if _better(candidate_loss, loss, net.margin):
            params[:] = candidate
            loss = candidate_loss
    return loss


# --- sparse steps, evaluated incrementally -----------------------------------------------------------


@_jit(inline="always")
def _touch(dirty, touched, row, m, j):
    """Note unit j of weight layer m (state row `row`) as touched by the step in progress."""
    if not dirty[row]:
        dirty[row] = True
        touched[m, 0] += 1
        touched[m, touched[m, 0]] = j


@_jit
def _move(params, step_sizes, indices, noise, old_values, problem, net, work):
    """Move the step's parameters (noting old values); list each change under its unit, now touched.

    Returns how much the sum of squared weights changed (0.0 when there is no L2 term).
    """
    where, unit_start = net.where, net.unit_start
    dirty, touched, changes, links, ends = work.dirty, work.touched, work.changes, work.links, work.ends
    squares = 0.0
    on_grid = net.offsets[0, 4] > 0  # decided once a step: the float path stays the plain addition
    for t in range(indices.shape[0]):
        i = indices[t]
        old = params[i]
        old_values[t] = old
        if on_grid:
            params[i] = _moved(old, step_sizes[i] * noise[t], i, net)
        else:
            params[i] = old + step_sizes[i] * noise[t]
        changes[t] = params[i] - old  # what the stored value really moved by
        m, source, j = where[i, 0], where[i, 1], where[i, 2]
        row = unit_start[m] + j
        _touch(dirty, touched, row, m, j)
        links[0, t], links[1, t] = source, -1
        if ends[0, row] < 0:
            ends[0, row] = t
        else:
            links[1, ends[1, row]] = t
        ends[1, row] = t
        if source >= 0 and problem.l2_scale > 0.0:
            squares += params[i] * params[i] - old * old
    return squares


@_jit
def _spread(net, work):
    """Touch every unit downstream of a touched one, and all the logit rows if one of them is."""
    sizes, unit_start = net.sizes, net.unit_start
    dirty, touched = work.dirty, work.touched
    layers = touched.shape[0]
    for m in range(layers):
        if touched[m, 0] > 0:
            later = min(m + 1, layers - 1)
            for q in range(sizes[later + 1]):
                _touch(dirty, touched, unit_start[later] + q, later, q)


# The helpers below index the state array directly, state[plane, row, s], rather than through row
# views (each of which numba reference-counts, atomically). Each loops over all samples: SIMD.


@_jit
def _copy_row(state, into, row, source):
    """state[into, row] = state[source, row]: a touched unit's candidate starts from its current values."""
    for s in range(state.shape[2]):
        state[into, row, s] = state[source, row, s]


@_jit
def _add_constant_row(state, plane, row, value):
    """state[plane, row] += value: a bias's change."""
    for s in range(state.shape[2]):
        state[plane, row, s] += value


@_jit
def _add_input_row(state, plane, row, dense, dense_index, change):
    """state[plane, row] += dense[dense_index] * change: a first-layer weight's change, on a dense feature."""
    for s in range(state.shape[2]):
        state[plane, row, s] += dense[dense_index, s] * change


@_jit
def _add_hidden_row(state, plane, row, source_plane, source, change, kind):
    """state[plane, row] += activation(state[source_plane, source]) * change: a deeper weight's change."""
    if kind == 0:  # ReLU, the default: its own loop, as simple as before there were others
        for s in range(state.shape[2]):
            state[plane, row, s] += max(state[source_plane, source, s], 0.0) * change
        return
    for s in range(state.shape[2]):
        state[plane, row, s] += _activate(state[source_plane, source, s], kind) * change


@_jit
def _add_nonzeros(state, plane, row, problem, feature, change):
    """state[plane, row] += input feature * change, on the feature's nonzero samples only."""
    start, samples, values = problem.nonzero_start, problem.nonzero_samples, problem.nonzero_values
    for t in range(start[feature], start[feature + 1]):
        state[plane, row, samples[t]] += values[t] * change


@_jit
def _activation_change(state, side, row, deltas, slot, kind):
    """deltas[slot] = activation(candidate) - activation(current) of state row `row`; whether it is nonzero anywhere."""
    current, candidate = side[row], 1 - side[row]
    moved = False
    if kind == 0:  # ReLU, the default: its own loop
        for s in range(state.shape[2]):
            change = max(state[candidate, row, s], 0.0) - max(state[current, row, s], 0.0)
            deltas[slot, s] = change
            moved |= change != 0.0
        return moved
    for s in range(state.shape[2]):
        change = _activate(state[candidate, row, s], kind) - _activate(state[current, row, s], kind)
        deltas[slot, s] = change
        moved |= change != 0.0
    return moved


@_jit
def _add_four(state, plane, row, deltas, u, weights, span):
    """state[plane, row, low:high] += deltas[u..u+3] times weights[0..3], in a fixed order: (a + b) + (c + d)."""
    wa, wb, wc, wd = weights[0], weights[1], weights[2], weights[3]
    low, high = span
    for s in range(low, high):
        state[plane, row, s] += (deltas[u, s] * wa + deltas[u + 1, s] * wb) + (
            deltas[u + 2, s] * wc + deltas[u + 3, s] * wd
        )


@_jit
def _add_four_twice(state, planes, row, deltas, outgoing, uq, span):
    """_add_four into rows row and row + 1 (in planes[0] and planes[1]) with weights outgoing[u..u+3, q..q+1],
    (u, q) = uq: each change loaded once for both rows."""
    one, two = planes
    u, q = uq
    low, high = span
    wa, wb, wc, wd = outgoing[u, q], outgoing[u + 1, q], outgoing[u + 2, q], outgoing[u + 3, q]
    va, vb, vc, vd = outgoing[u, q + 1], outgoing[u + 1, q + 1], outgoing[u + 2, q + 1], outgoing[u + 3, q + 1]
    for s in range(low, high):
        a, b, c, d = deltas[u, s], deltas[u + 1, s], deltas[u + 2, s], deltas[u + 3, s]
        state[one, row, s] += (a * wa + b * wb) + (c * wc + d * wd)
        state[two, row + 1, s] += (a * va + b * vb) + (c * vc + d * vd)


@_jit
def _add_rank_ones(state, side, first, deltas, outgoing, moved, span, compact):
    """Candidate rows first + q += sum over u < moved of deltas[u] * outgoing[u, q] (the layer's units q).

    On columns span = (low, high): of the candidate plane (1 - side), or of plane 2 when compact.
    Units go four at a time and rows two at a time: 16 multiply-adds per 8 loads and 2 stores of
    4 samples, where one pass per unit and row makes 2 loads and a store per multiply-add. The last
    group of units is padded with zero changes and weights (adding 0.0 * 0.0 changes no value).
    """
    targets = outgoing.shape[1]
    padded = -(-moved // 4) * 4
    low, high = span
    deltas[moved:padded, low:high] = 0.0
    outgoing[moved:padded] = 0.0
    for q in range(0, targets - 1, 2):
        row = first + q
        planes = (2, 2) if compact else (1 - side[row], 1 - side[row + 1])
        for u in range(0, padded, 4):
            _add_four_twice(state, planes, row, deltas, outgoing, (u, q), span)
    if targets % 2:
        row = first + targets - 1
        plane = 2 if compact else 1 - side[row]
        for u in range(0, padded, 4):
            _add_four(state, plane, row, deltas, u, outgoing[u : u + 4, targets - 1], span)


@_jit
def _start_candidates(m, problem, net, work, only):
    """Candidate rows of weight layer m's touched units (only state row `only`, if it is >= 0): their current
    values plus their own changes, whole rows in the other plane.

    A weight (i, j) adds input i times the change to unit j: the current inputs, not the candidate
    ones, whose changes arrive later through the moved weights (_add_rank_ones). One loop over the
    units, its arrays taken out once: a function per unit cost 15% of a step on 2-64-3 (reference counts).
    """
    unit_start, state, side, touched = net.unit_start, work.state, work.side, work.touched
    changes, links, ends = work.changes, work.links, work.ends
    dense, dense_row = problem.dense, problem.dense_row
    first_below = unit_start[m - 1] if m > 0 else 0
    for d in range(1, touched[m, 0] + 1):
        row = unit_start[m] + touched[m, d]
        if only >= 0 and row != only:
            continue
        plane = 1 - side[row]
        _copy_row(state, plane, row, side[row])
        t = ends[0, row]
        while t >= 0:  # this unit's parameters that moved, in step order
            source, change = links[0, t], changes[t]
            if source < 0:
                _add_constant_row(state, plane, row, change)
            elif m > 0:
                below = first_below + source
                _add_hidden_row(state, plane, row, side[below], below, change, net.activation)
            elif dense_row[source] < 0:
                _add_nonzeros(state, plane, row, problem, source, change)
            else:
                _add_input_row(state, plane, row, dense, dense_row[source], change)
            t = links[1, t]


@_jit
def _note_mover(params, start, outgoing, slot):
    """A unit whose activation changed: its outgoing weights params[start:start + n] into outgoing[slot, :n]."""
    for q in range(outgoing.shape[1]):
        outgoing[slot, q] = params[start + q]


@_jit
def _candidate(params, problem, net, work, current):
    """The step's candidate: its touched units layer after layer, then its per-sample loss terms.

    A touched unit starts from its current values and adds its own parameters' changes, times the
    current inputs; then the changes of activation of the layer below arrive through the (moved)
    weights; its own change of activation is passed on in turn. Per-sample loss terms of the candidate
    logits go to work.terms[1 - current].
    """
    sizes, offsets, unit_start = net.sizes, net.offsets, net.unit_start
    state, side, touched, deltas, outgoing = work.state, work.side, work.touched, work.deltas, work.outgoing
    layers = offsets.shape[0]
    samples = state.shape[2]
    moved = 0  # units of the layer below whose activation changed
    for m in range(layers):
        _start_candidates(m, problem, net, work, -1)
        if moved > 0:  # every unit of this layer is touched then (_spread)
            _add_rank_ones(state, side, unit_start[m], deltas, outgoing[:, : sizes[m + 1]], moved, (0, samples), False)
        if m == layers - 1:
            break
        moved, n_next = 0, sizes[m + 2]
        for d in range(1, touched[m, 0] + 1):
            j = touched[m, d]
            if _activation_change(state, side, unit_start[m] + j, deltas, moved, net.activation):
                _note_mover(params, offsets[m + 1, 0] + j * n_next, outgoing[:, :n_next], moved)
                moved += 1
    first = unit_start[-1] - sizes[-1]
    terms, span = work.terms[1 - current], (0, samples)
    candidate = state[1 - side[first]]
    if not _regressor(problem):
        labels, runs, tie = problem.labels, problem.label_start, _error_tie(problem)
        sample_losses(candidate, first, labels, runs, terms, work.scratch, span, tie)
    else:
        regression_losses(candidate, first, problem.targets, problem.labels[:0], terms, span, problem.loss_kind)


@_jit
def _candidate_mean(params, problem, net, work, current):
    """The mean loss of the step's candidate; its per-sample terms in work.terms[1 - current].

    (Computing it block of samples by block, every layer for one block before the next, so that a
    block stays in the cache, was measured slower: 72 against 56 us a step on 2-64-64-3.)
    """
    _candidate(params, problem, net, work, current)
    return loss_mean(work.terms[1 - current], problem.loss_kind)


@_jit
def _settle(work, net, accept):
    """End a step: an accepted one's touched rows change sides (the candidate becomes current)."""
    side, dirty, touched, ends = work.side, work.dirty, work.touched, work.ends
    unit_start = net.unit_start
    for m in range(touched.shape[0]):
        for d in range(1, touched[m, 0] + 1):
            row = unit_start[m] + touched[m, d]
            dirty[row] = False
            ends[0, row] = ends[1, row] = -1
            if accept:
                side[row] = 1 - side[row]
        touched[m, 0] = 0


@_jit(inline="always")
def _copy_terms(terms, current):
    """terms[1 - current] = terms[current]: between steps both rows hold the current per-sample terms."""
    for s in range(terms.shape[1]):
        terms[1 - current, s] = terms[current, s]


# --- compact steps: a step evaluated on the samples it changes -----------------------------------------
#
# A step that moves only parameters of a few units of one hidden layer changes the network's output
# only on the samples where one of those units' activations changes: a first-layer weight on a
# mostly-zero feature reaches only that feature's nonzero samples, and of those only the ones where
# the unit is (or becomes) active. Such a step is computed on that set A alone, in compact columns
# (plane 2 of the state, column p standing for sample affected[0, p]): each later layer's units start
# from their current values at A and take the changes of activation below as rank-one updates, the
# loss terms of A are recomputed, and the mean is taken over every sample's terms. Per sample, every
# operation is the one the whole-row candidate makes, in the same order: the same bits, at a cost set
# by the samples the step changes rather than by all of them.


@_jit(inline="always")
def _compact_layer(touched, layers, samples, unit_start):
    """The one hidden weight layer whose units a step moved (at most COMPACT_UNITS, none elsewhere), or -1.

    Not the first layer of a network whose later units times samples are fewer than COMPACT_MIN_WORK
    (2-3-3 or 2-64-3 on 300 rows: there the whole-row path, a few short vector loops, is faster).
    """
    found = -1
    for m in range(layers):
        if touched[m, 0] > 0:
            if found >= 0:
                return -1
            found = m
    if found < 0 or found == layers - 1 or touched[found, 0] > COMPACT_UNITS:
        return -1
    if found == 0 and samples * (unit_start[-1] - unit_start[1]) < COMPACT_MIN_WORK:
        return -1
    return found


@_jit
def _listed_unit(row, problem, links, ends):
    """Whether every change of state row `row` (a first-layer unit) is a weight on a listed feature."""
    dense_row = problem.dense_row
    t = ends[0, row]
    while t >= 0:
        source = links[0, t]
        if source < 0 or dense_row[source] >= 0:
            return False
        t = links[1, t]
    return True


@_jit
def _list_candidate(row, u, problem, work, compact):
    """Unit `row`'s candidate on the samples its changes reach, into lists[u] and list_values[u]; how many.

    Each change adds input times change on its feature's nonzero samples, in step order: per sample,
    the operations the whole-row candidate makes.
    """
    state, side, changes, links, ends = work.state, work.side, work.changes, work.links, work.ends
    lists, list_values, marks, counters = compact.lists, compact.list_values, compact.marks, compact.counters
    start, samples, values = problem.nonzero_start, problem.nonzero_samples, problem.nonzero_values
    counters[0] += 1
    stamp = counters[0]
    now = side[row]
    length = 0
    t = ends[0, row]
    while t >= 0:
        feature, change = links[0, t], changes[t]
        for e in range(start[feature], start[feature + 1]):
            s = samples[e]
            if marks[0, s] != stamp:
                marks[0, s] = stamp
                marks[1, s] = length
                lists[u, length] = s
                list_values[u, length] = state[now, row, s]
                length += 1
            list_values[u, marks[1, s]] += values[e] * change
        t = links[1, t]
    return length


@_jit
def _compact_changes(
    state, now, row, whole, samples, candidates, length, marks, affected, deltas, mover, n, stamp, kind
):
    """Unit `row`'s changes of activation into column affected[1, s] of deltas[mover]; (size of A, whether any).

    Its candidate is the whole row state[1 - now, row] (whole) or candidates[:length] at samples[:length].
    A sample that joins A takes column n, the earlier movers' changes there zero; deltas[mover, :n]
    must be zero on entry. One call per unit, the loop inside: no call, and no reference count, per sample.
    """
    moved = False
    count = state.shape[2] if whole else length
    for i in range(count):
        if whole:
            s, candidate = i, state[1 - now, row, i]
        else:
            s, candidate = samples[i], candidates[i]
        change = _activate(candidate, kind) - _activate(state[now, row, s], kind)
        if change != 0.0:
            moved = True
            if marks[2, s] != stamp:
                marks[2, s] = stamp
                affected[0, n] = s
                affected[1, s] = n
                for v in range(mover):
                    deltas[v, n] = 0.0
                n += 1
            deltas[mover, affected[1, s]] = change
    return n, moved


@_jit
def _compact_output(problem, net, work, compact, movers, span):
    """The logits and loss terms of A's columns span = (low, high): current values there plus the rank-one
    updates of the last hidden layer's movers (deltas), into plane 2 and compact.compact_terms."""
    sizes, unit_start, state, side = net.sizes, net.unit_start, work.state, work.side
    columns = compact.affected[0]
    low, high = span
    first, width = unit_start[-1] - sizes[-1], sizes[-1]
    for q in range(width):
        row = first + q
        now = side[row]
        for p in range(low, high):
            state[2, row, p] = state[now, row, columns[p]]
    if movers > 0:
        _add_rank_ones(state, side, first, work.deltas, work.outgoing[:, :width], movers, span, True)
    if _regressor(problem):  # its targets at A's samples
        regression_losses(state[2], first, problem.targets, columns, compact.compact_terms, span, problem.loss_kind)
        return
    labels, compact_labels, runs = problem.labels, compact.compact_labels, compact.label_runs
    ordered = True
    for p in range(low, high):
        compact_labels[p] = labels[columns[p]]
        ordered &= p == low or compact_labels[p] >= compact_labels[p - 1]
    if ordered:  # A in the samples' order (one unit's changes): its runs of labels, whose true class needs no exp
        runs[:] = 0
        for p in range(low, high):
            runs[compact_labels[p] + 1] += 1
        runs[0] = low
        for c in range(1, runs.shape[0]):
            runs[c] += runs[c - 1]
    else:  # every class's exp is taken, exp(0) = 1 exactly: the same terms
        runs = runs[:0]
    sample_losses(state[2], first, compact_labels, runs, compact.compact_terms, work.scratch, span, _error_tie(problem))


@_jit
def _compact_candidate(params, problem, net, work, compact, current, m):
    """The mean loss of a step that moved units of hidden layer m only, computed on the samples it changes.

    The candidate's terms on A go into work.terms[1 - current] (which, between steps, equals the
    current row), so the mean is taken over every sample in the usual order.
    """
    sizes, offsets, unit_start = net.sizes, net.offsets, net.unit_start
    state, side, touched, deltas, outgoing = work.state, work.side, work.touched, work.deltas, work.outgoing
    lists, list_values, list_length = compact.lists, compact.list_values, compact.list_length
    marks, affected, counters, links, ends = compact.marks, compact.affected, compact.counters, work.links, work.ends
    layers, kind = offsets.shape[0], net.activation
    counters[0] += 1
    stamp = counters[0]
    n = movers = 0
    n_next = sizes[m + 2]
    for d in range(1, touched[m, 0] + 1):
        j = touched[m, d]
        row = unit_start[m] + j
        u = d - 1
        whole = not (m == 0 and _listed_unit(row, problem, links, ends))
        if whole:
            list_length[u] = -1
            _start_candidates(m, problem, net, work, row)
        else:
            list_length[u] = _list_candidate(row, u, problem, work, compact)
        deltas[movers, :n] = 0.0  # this unit's row of changes, should it move
        n, moved = _compact_changes(
            state, side[row], row, whole, lists[u], list_values[u], list_length[u], marks, affected, deltas, movers, n,
            stamp, kind,
        )  # fmt: skip
        if moved:
            _note_mover(params, offsets[m + 1, 0] + j * n_next, outgoing[:, :n_next], movers)
            movers += 1
    counters[1] = n
    columns = affected[0]
    for layer in range(m + 1, layers - 1):  # hidden layers after m, on the samples of A
        first, width = unit_start[layer], sizes[layer + 1]
        for q in range(width):  # the layer's units at A, from their current values
            row = first + q
            now = side[row]
            for p in range(n):
                state[2, row, p] = state[now, row, columns[p]]
        if movers > 0:
            _add_rank_ones(state, side, first, deltas, outgoing[:, :width], movers, (0, n), True)
        n_next, movers = sizes[layer + 2], 0
        for q in range(width):
            row = first + q
            now = side[row]
            moved = False
            for p in range(n):
                change = _activate(state[2, row, p], kind) - _activate(state[now, row, columns[p]], kind)
                deltas[movers, p] = change
                moved |= change != 0.0
            if moved:
                _note_mover(params, offsets[layer + 1, 0] + q * n_next, outgoing[:, :n_next], movers)
                movers += 1
    _compact_output(problem, net, work, compact, movers, (0, n))
    candidate, compact_terms = work.terms[1 - current], compact.compact_terms
    for p in range(n):
        candidate[columns[p]] = compact_terms[p]
    return loss_mean(candidate, problem.loss_kind)


@_jit
def _settle_compact(work, compact, net, m, accept, current):
    """End a compact step: an accepted one's candidates become current; terms[1 - current] = terms[current] on A.

    current: the row of terms that holds the current terms after the step.
    """
    unit_start = net.unit_start
    state, side, dirty, touched, ends, terms = work.state, work.side, work.dirty, work.touched, work.ends, work.terms
    lists, list_values, list_length = compact.lists, compact.list_values, compact.list_length
    affected, n = compact.affected, compact.counters[1]
    for d in range(1, touched[m, 0] + 1):
        row = unit_start[m] + touched[m, d]
        u = d - 1
        if accept:
            if list_length[u] < 0:
                side[row] = 1 - side[row]  # a whole candidate row
            else:
                now = side[row]
                for i in range(list_length[u]):
                    state[now, row, lists[u, i]] = list_values[u, i]
        dirty[row] = False
        ends[0, row] = ends[1, row] = -1
    touched[m, 0] = 0
    if accept:
        for row in range(unit_start[m + 1], unit_start[-1]):
            now = side[row]
            for p in range(n):
                state[now, row, affected[0, p]] = state[2, row, p]
    for p in range(n):
        s = affected[0, p]
        terms[1 - current, s] = terms[current, s]


@_jit
def _refresh(params, problem, net, work):
    """Rebuild the cached state from scratch; (mean loss, sum of squared weights, whether all is finite)."""
    mean = _mean_loss_from_scratch(params, problem, net, work, 0)
    _copy_terms(work.terms, 0)
    work.side[:] = 0
    squares = squared_weights(params, net) if problem.l2_scale > 0.0 else 0.0
    finite = mean == mean and squares - squares == 0.0
    for value in work.state[0].ravel():
        finite &= value - value == 0.0
    return mean, squares, finite


@_jit
def adjust_sparse(params, step_sizes, indices, noise, rule, problem, net, work, compact, fresh):
    """Adjust-and-revert moving a few parameters per step, each step evaluated incrementally.

    indices and noise are (steps, k): which parameters move, by how many of their steps. params and
    step_sizes are updated in place to the climber's best; returns its objective. work and compact
    (`workspace`) carry the cached state from one call to the next; fresh rebuilds it from scratch first (a new
    climber, or a refresh that bounds the drift of incremental updates). If the state holds an
    infinity or a NaN (an incumbent from an extreme start), incremental updates would meet inf - inf,
    so every step is then evaluated from scratch (and the next call starts fresh).
    """
    carry = compact.carry
    if fresh or carry[3] == 0.0:
        mean, squares, finite = _refresh(params, problem, net, work)
        carry[0] = with_penalty(mean, squares, problem.l2_scale)
        carry[1], carry[2], carry[3], carry[4] = mean, squares, 1.0 if finite else 0.0, 0.0
    loss, mean, squares = carry[0], carry[1], carry[2]
    incremental = carry[3] != 0.0
    current = np.int64(carry[4])  # which row of work.terms holds the current per-sample terms
    layers = net.offsets.shape[0]
    old_values = np.empty(indices.shape[1])
    candidate_mean, candidate_squares = mean, squares
    for step in range(indices.shape[0]):
        step_indices = indices[step]
        layer = -1  # the one hidden layer of a compact step
        if incremental:
            candidate_squares = squares + _move(
                params, step_sizes, step_indices, noise[step], old_values, problem, net, work
            )
            layer = _compact_layer(work.touched, layers, work.state.shape[2], net.unit_start)
            if layer >= 0:
                candidate_mean = _compact_candidate(params, problem, net, work, compact, current, layer)
            else:
                _spread(net, work)
                candidate_mean = _candidate_mean(params, problem, net, work, current)
            candidate_loss = with_penalty(candidate_mean, candidate_squares, problem.l2_scale)
        else:
            for t in range(step_indices.shape[0]):
                old_values[t] = params[step_indices[t]]
                i = step_indices[t]
                params[i] = _moved(params[i], step_sizes[i] * noise[step, t], i, net)
            candidate_loss = objective(params, problem, net, work)
        success = _better(candidate_loss, loss, net.margin)
        if success:
            loss = candidate_loss
            mean, squares = candidate_mean, candidate_squares
            current = 1 - current
        else:
            for t in range(step_indices.shape[0] - 1, -1, -1):
                params[step_indices[t]] = old_values[t]
        if layer >= 0:
            _settle_compact(work, compact, net, layer, success, current)
        elif incremental:
            _settle(work, net, success)
            _copy_terms(work.terms, current)
        _adapt(step_sizes, step_indices, success, rule)
    carry[0], carry[1], carry[2], carry[4] = loss, mean, squares, current
    return loss
