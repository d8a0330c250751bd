"""A network's loss from scratch, compiled: per-sample loss terms, their mean, the L2 term, the forward pass.

The one loss implementation of the project's compiled code: per-sample terms (`sample_losses`, or a
regressor's `regression_losses` from its linear outputs), summed in a fixed order (`mean_of`,
`ordered_mean`), plus the L2 term (`with_penalty`); `forward` is the one pass from scratch, for
`evaluate_batch`, the seed's rule, random search and the incremental engine's refreshes
(`workers.kernel`). Compiled without fastmath, and numba contracts no multiply-add into an FMA, so every
float operation is the IEEE one the source says: results do not depend on the CPU's vector width or
instruction set (`workers/fastmath.py` gives exp and log the same property; no BLAS anywhere). Cached on
disk by the sources' content (`workers/jitcache.py`).

State arrays are unit-major, (units, S): every layer's units stacked (row `unit_start[m] + j` is
unit j of weight layer m; the logits are the last rows), so the innermost loops run over samples
and vectorise.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from workers import activations, fastmath, grid, jitcache, losses, rows
from workers.losses import ABSOLUTE_ERROR, CLIP, CROSS_ENTROPY, ERROR_RATE, SQUARED_ERROR

# The sources the compiled code depends on, which key its cache: workers/network.py too (the LayoutArrays
# it is handed), named by path, as this module does not import the network module (which imports this one).
SOURCES = [
    __file__,
    fastmath.__file__,
    losses.__file__,
    rows.__file__,
    grid.__file__,
    activations.__file__,
    str(Path(__file__).with_name("network.py")),
]
# Registered before the decorators below run: they pick their cache locator when they are applied.
CACHE = jitcache.install(SOURCES, __file__)
jit = jitcache.compiler(CACHE)

_LOSS_LOW = -math.log(1 - CLIP)  # the loss of a confidence clipped at 1 - 1e-7
_LOSS_HIGH = -math.log(CLIP)  # the loss of a confidence clipped at 1e-7
# A sample whose sum of exp(z_c - z_true) reaches this (or is NaN) has an infinite or NaN logit, or a
# loss far beyond the clip (log(1e300) = 690); it is settled by _extreme_sample_loss. Finite logits
# take this branch only where the fast path would give _LOSS_HIGH as well.
_EXTREME_TOTAL = 1e300


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


# Work.state holds every layer's units stacked, row unit_start[m] + j for unit j of weight layer m, the
# logits last, in two planes: a unit's current pre-activations in plane side[row], and, once a step has
# touched it, the step's candidate in the other plane. Accepting a step flips the sides of the touched
# rows and reverting leaves them: neither copies anything. A step touches, with the units whose weights
# moved, every unit downstream of them, and the logit rows all together (so they share one side and the
# loss reads them as one (C, S) block). Hidden activations (ReLU, or net.activation's) are taken of the
# pre-activations where they are read.


@jit(inline="always")
def is_regressor(problem):
    """Whether the problem's loss is a regressor's (on targets: SQUARED_ERROR or ABSOLUTE_ERROR), not a classifier's."""
    return problem.loss_kind == SQUARED_ERROR or problem.loss_kind == ABSOLUTE_ERROR


@jit(inline="always")
def error_tie_weight(problem):
    """The weight of a sample's cross-entropy in its loss term: 0.0 (the cross-entropy alone), or the error
    objective's tie-break (`workers.losses.error_tie`)."""
    if problem.loss_kind == ERROR_RATE:
        return 1.0 / (problem.labels.shape[0] * losses.TIE_BOUND)
    return 0.0


# --- the loss ----------------------------------------------------------------------------------------


@jit
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


@jit
def _add_exps(totals, row, true_logits):
    """totals += exp(row - true_logits), elementwise."""
    for t in range(totals.shape[0]):  # the innermost loops run over samples: SIMD
        totals[t] += fastmath.exp(row[t] - true_logits[t])


@jit
def sample_losses(pre, first, labels, label_start, terms, scratch, span, tie=0.0):
    """Per-sample clipped cross-entropy into terms, from logits pre[first:] (C, S), on samples span = (low, high).

    -log(p_true) is computed as log(sum_c exp(z_c - z_true)), the same quantity as the seed's
    softmax-then-log without a division, then clipped exactly where the seed clips p_true. A term is
    NaN exactly where numpy's softmax makes it NaN (a NaN or +inf logit, or all -inf in a sample).
    When samples are sorted by label, label_start (classes + 1,) says where each label's run starts:
    there the true class adds exp(z_true - z_true) without an exp (the same bits: 1.0, or NaN for an
    infinite or NaN logit); empty: nothing skipped.
    scratch is a (2, S) work array. tie > 0: the error loss's terms, 1 where the largest logit
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


@jit
def _add_errors(logits, label, out, true_logits, wrong, tie):
    """out = wrong + tie * out, on logits (C, n): wrong is 1.0 where a logit beats the label's true_logits (a
    larger one, or an equal one of a lower class, as argmax picks the first), else 0.0. Equal within
    `losses.TIE_TOLERANCE`: exact ties are common (a sample whose last hidden units are all off has the
    biases for logits), and an incremental step rounds them an ulp apart."""
    for t in range(out.shape[0]):
        wrong[t] = 0.0
    for c in range(logits.shape[0]):
        row = logits[c]
        for t in range(out.shape[0]):  # over samples: SIMD
            gap, tolerance = row[t] - true_logits[t], losses.TIE_TOLERANCE * (1.0 + abs(true_logits[t]))
            if gap > tolerance or (gap >= -tolerance and c < label[t]):
                wrong[t] = 1.0
    for t in range(out.shape[0]):
        out[t] = wrong[t] + tie * out[t]


@jit
def ordered_sum(terms):
    """The sum of per-sample loss terms (S,) in a fixed order: four interleaved partial sums, then pairs.

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
    return (a + b) + (c + d)


@jit
def ordered_mean(terms):
    """The mean of per-sample loss terms (S,): their `ordered_sum` over their count."""
    return ordered_sum(terms) / terms.shape[0]


@jit
def mean_of(terms):
    """`ordered_mean` of cross-entropy terms (S,). The rounding of a sum can leave the mean of terms that all
    sit on a clip bound an ulp beyond it: it is kept within the bounds."""
    mean = ordered_mean(terms)
    if mean != mean:  # a NaN term: a NaN loss (min and max below would drop it)
        return mean
    return min(max(mean, _LOSS_LOW), _LOSS_HIGH)


@jit(inline="always")
def loss_mean(terms, loss_kind):
    """The mean loss of per-sample terms (S,): cross-entropy's kept within its clip bounds, the error loss's
    and a regressor's as they are."""
    if loss_kind == CROSS_ENTROPY:
        return mean_of(terms)
    return ordered_mean(terms)


@jit
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


@jit
def r_squared(pre, first, targets):
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


@jit(inline="always")
def with_penalty(mean, squares, l2_scale):
    """The objective: the mean loss, plus l2_scale * squares only when there is an L2 term."""
    if l2_scale > 0.0:
        return mean + l2_scale * squares
    return mean


@jit
def squared_weights(params, net):
    """Sum of the squared weights (biases excluded), in parameter order."""
    offsets = net.offsets
    total = 0.0
    for m in range(offsets.shape[0]):
        for i in range(offsets[m, 0], offsets[m, 1]):
            total += params[i] * params[i]
    return total


@jit
def loss_from_logits(values, labels):
    """Mean clipped cross-entropy of softmax over classes of values (C, S), against labels (S,)."""
    samples = labels.shape[0]
    terms = np.empty(samples)
    sample_losses(values, 0, labels, np.empty(0, dtype=np.int64), terms, np.empty((2, samples)), (0, samples))
    return mean_of(terms)


# --- the forward pass --------------------------------------------------------------------------------


@jit
def _add_scaled(target, source, factor, low, high):
    """target[s] += source[s] * factor for s in [low, high)."""
    into, values = target[low:high], source[low:high]
    for t in range(into.shape[0]):  # an index known to be >= 0 (no wraparound check): SIMD
        into[t] += values[t] * factor


@jit
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


@jit(inline="always")
def activate(x, kind):
    """A hidden unit's output from its pre-activation x: ReLU (kind 0, `workers.activations.ACTIVATIONS`), or the
    others' (`_activate_other`, a call: the loops of ReLU, the default, stay as small as they were)."""
    if kind == 0:
        return max(x, 0.0)
    return _activate_other(x, kind)


@jit
def _activate_other(x, kind):
    """tanh (kind 1), sign (-1 below -activations.STEP_TOLERANCE, else +1) or step (0 there, else 1); NaN stays NaN.
    tanh from fastmath's exp: the same bits on every CPU."""
    if kind == 1:
        small = fastmath.exp(-2.0 * abs(x))
        magnitude = (1.0 - small) / (1.0 + small)
        return magnitude if x >= 0.0 else (-magnitude if x < 0.0 else x)
    if x >= -activations.STEP_TOLERANCE:
        return 1.0
    if x < -activations.STEP_TOLERANCE:
        return -1.0 if kind == 2 else 0.0
    return x


@jit
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
                        activation[s] = activate(row[s], kind)


@jit
def make_work(problem, net, compact):
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


@jit
def mean_loss_from_scratch(params, problem, net, work, current):
    """Forward pass into plane 0 of work.state and the mean loss, its per-sample terms in terms[current]."""
    terms_from_scratch(params, problem, net, work, current, error_tie_weight(problem))
    return loss_mean(work.terms[current], problem.loss_kind)


@jit
def terms_from_scratch(params, problem, net, work, current, tie):
    """Forward pass into plane 0 of work.state and every row's loss term into terms[current] (S,); tie: the error
    loss's tie-break weight (`losses.error_tie` of the rows it is a mean over)."""
    pre, terms = work.state[0], work.terms[current]
    forward(params, problem, net, pre, work.post)
    first, span = net.unit_start[-1] - net.sizes[-1], (0, pre.shape[1])
    if not is_regressor(problem):
        sample_losses(pre, first, problem.labels, problem.label_start, terms, work.scratch, span, tie)
    else:
        regression_losses(pre, first, problem.targets, problem.labels[:0], terms, span, problem.loss_kind)


@jit
def loss_from_scratch(params, problem, net, work):
    """The loss a climb minimises, of params, from scratch: the mean loss plus the L2 term."""
    mean = mean_loss_from_scratch(params, problem, net, work, 0)
    if problem.l2_scale > 0.0:
        return with_penalty(mean, squared_weights(params, net), problem.l2_scale)
    return mean


@jit
def _accuracy(pre, first, labels):
    """Fraction of samples whose largest softmax probability is the label's (`correct_rows` over the samples)."""
    return correct_rows(pre, first, labels) / labels.shape[0]


@jit
def correct_rows(pre, first, labels):
    """Samples whose largest softmax probability is the label's, as numpy's argmax picks it.

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
    return correct


@jit
def evaluate_batch(batch, problem, net):
    """(losses (B,), scores (B,)) of parameter rows batch (B, P), each from scratch: the loss a climb minimises,
    and the score, a classifier's accuracy or a regressor's R^2."""
    work = make_work(problem, net, False)
    first = net.unit_start[-1] - net.sizes[-1]
    losses = np.empty(batch.shape[0])
    scores = np.empty(batch.shape[0])
    for b in range(batch.shape[0]):
        losses[b] = loss_from_scratch(batch[b], problem, net, work)
        if not is_regressor(problem):
            scores[b] = _accuracy(work.state[0], first, problem.labels)
        else:
            scores[b] = r_squared(work.state[0], first, problem.targets)
    return losses, scores


@jit
def partial_sums(batch, problem, net, tie):
    """(sums (B,), correct (B,)) of parameter rows batch (B, P) on these rows, each from scratch: the `ordered_sum` of
    the rows' loss terms (not divided: a part of a loss over more rows, `workers.shares`) and a classifier's
    `correct_rows` (0 for a regressor); tie: the error loss's tie-break weight of all the rows the sum is a part of."""
    work = make_work(problem, net, False)
    first = net.unit_start[-1] - net.sizes[-1]
    sums = np.empty(batch.shape[0])
    correct = np.zeros(batch.shape[0], dtype=np.int64)
    for b in range(batch.shape[0]):
        terms_from_scratch(batch[b], problem, net, work, 0, tie)
        sums[b] = ordered_sum(work.terms[0])
        if not is_regressor(problem):
            correct[b] = correct_rows(work.state[0], first, problem.labels)
    return sums, correct
