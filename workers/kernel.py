"""The compiled hot loop: scoring from scratch, adjust-and-revert and random search, one climber at a time.

Each climb consumes random numbers drawn beforehand by `workers.climb` from the climber's own
`numpy.random.Generator`, so the numpy reference and this kernel walk the same path. Compiled
without fastmath, and numba contracts no multiply-add into an FMA, so every float operation is
the IEEE one the source says: results do not depend on the CPU's vector width or instruction set
(`workers/fastmath.py` gives exp and log the same property; no BLAS anywhere). Cached on disk by
the sources' content (`workers/jitcache.py`).

State arrays are unit-major, (units, S): every layer's units stacked in one array (row
`unit_start[m] + j` is unit j of weight layer m; the logits are the last rows), so the innermost
loops run over samples and vectorise. One loss implementation serves everything: per-sample
terms (`sample_losses`), summed in a fixed order (`mean_of`), plus the L2 term (`with_penalty`).

A sparse step (`adjust_sparse`) is evaluated incrementally at any depth: a weight change adds
input * change to its unit's pre-activations (on a first-layer feature's nonzero samples only,
when it is sparse), a bias change adds the change; a hidden unit whose activation changed passes
the difference on to the next layer as a rank-one update, over the samples where it changed;
per-sample loss terms are recomputed from the candidate logits. Candidate values live in
`*_next` arrays that equal the current ones except in the rows a step touched, so accepting or
reverting copies only those rows. Drift is bounded by a refresh: the cached state is rebuilt
from scratch whenever the kernel is entered, i.e. at every block of `workers.climb.BLOCK_STEPS`
steps, fixed step counts that never depend on timing.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numba
import numpy as np

from workers import fastmath, jitcache, network
from workers.network import CLIP

# Registered before the decorators below run: they pick their cache locator when they are applied.
CACHE = jitcache.install([__file__, fastmath.__file__, network.__file__], [__file__])
_jit = functools.partial(numba.njit, cache=CACHE, error_model="numpy")

_LOSS_LOW = -math.log(1 - CLIP)  # the loss of a confidence clipped at 1 - 1e-7
_LOSS_HIGH = -math.log(CLIP)  # the loss of a confidence clipped at 1e-7
# A sample whose sum of exp(z_c - z_true) reaches this (or is NaN) has an infinite or NaN logit, or a
# loss far beyond the clip (log(1e300) = 690); it is settled by _extreme_sample_loss. Finite logits
# take this branch only where the fast path would give _LOSS_HIGH as well.
_EXTREME_TOTAL = 1e300
# A first-layer feature nonzero on fewer than this fraction of the samples is updated through its
# list of nonzero samples; denser ones by a plain loop over all samples, which vectorises.
SPARSE_FEATURE = 0.3
# A rank-one update walks the list of changed samples when they fill less than this fraction of the
# range between the first and the last changed sample, and the whole range (which vectorises) otherwise.
SPARSE_CHANGE = 0.25


class Problem(NamedTuple):
    """A data set as the kernel reads it, and the objective's L2 factor."""

    inputs: np.ndarray  # (F, S) float64
    labels: np.ndarray  # (S,) int64
    nonzero_start: np.ndarray  # (F + 1,) feature f's nonzero samples are nonzero_samples[start[f]:start[f + 1]]
    nonzero_samples: np.ndarray  # (nonzeros,) int64, ascending within a feature
    nonzero_values: np.ndarray  # (nonzeros,) the inputs there
    sparse: np.ndarray  # (F,) bool: update through the lists (see SPARSE_FEATURE)
    l2_scale: float  # l2 / (2 * samples); 0.0: no penalty, and no operation for it


class StepRule(NamedTuple):
    """How step sizes adapt: the one-fifth rule's factors, per parameter or for all, within bounds."""

    adaptive: bool
    growth: float
    shrink: float
    per_parameter: bool
    low: float
    high: float


class Work(NamedTuple):
    """A climber's working arrays. Few and large: numba counts references each time a function
    takes an array out of a tuple, so hot functions take them out once, at the top."""

    state: np.ndarray  # (4, units, S): PRE, POST, PRE_NEXT, POST_NEXT planes (see below)
    terms: np.ndarray  # (2, S) per-sample loss terms: current and candidate rows, by `side`
    scratch: np.ndarray  # (3, S) the loss's true logits and sums of exponentials; a unit's change
    changed: np.ndarray  # (S,) int64 samples where a unit's activation changed
    deltas: np.ndarray  # (widest, S) a layer's changes of activation, one row per moved unit
    outgoing: np.ndarray  # (widest, widest) those units' outgoing weights, one row per moved unit
    dirty: np.ndarray  # (units,) bool: touched by the step in progress
    touched: np.ndarray  # (L, widest + 1) int64 per weight layer: count, then the touched units in order


# Planes of Work.state, each (units, S): every layer's units stacked, row unit_start[m] + j for unit j
# of weight layer m, the logits last. PRE: pre-activations; POST: ReLU of PRE (hidden rows only);
# *_NEXT: the candidate of a step, equal to the current plane except in the rows the step touched.
PRE, POST, PRE_NEXT, POST_NEXT = 0, 1, 2, 3
DELTA = 2  # the row of Work.scratch that holds a unit's change of activation


def make_problem(X: np.ndarray, labels: np.ndarray, l2: float = 0.0) -> Problem:
    """The kernel's view of features X (S, F), integer labels (S,) and the L2 weight."""
    inputs = np.ascontiguousarray(np.asarray(X, dtype=np.float64).T)
    features, samples = inputs.shape
    rows, columns = np.nonzero(inputs)  # row-major: grouped by feature, samples ascending
    start = np.zeros(features + 1, dtype=np.int64)
    start[1:] = np.cumsum(np.bincount(rows, minlength=features))
    return Problem(
        inputs,
        np.ascontiguousarray(labels, dtype=np.int64),
        start,
        columns.astype(np.int64),
        np.ascontiguousarray(inputs[rows, columns]),
        np.diff(start) < SPARSE_FEATURE * samples,
        network.l2_scale(l2, samples) if l2 > 0 else 0.0,
    )


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
def sample_losses(pre, first, labels, terms, scratch):
    """Per-sample clipped cross-entropy into terms (S,), from logits pre[first:] (C, S).

    -log(p_true) is computed as log(sum_c exp(z_c - z_true)), the same quantity as the seed's
    softmax-then-log without a division, then clipped exactly where the seed clips p_true. A term is
    NaN exactly where numpy's softmax makes it NaN (a NaN or +inf logit, or all -inf in a sample).
    scratch is a (2+, S) work array.
    """
    classes = pre.shape[0] - first
    samples = labels.shape[0]
    true_logits = scratch[0]  # (S,)
    totals = scratch[1]  # (S,) sum over classes of exp(z_c - z_true)
    for s in range(samples):
        true_logits[s] = pre[first + labels[s], s]
        totals[s] = 0.0
    for c in range(classes):
        row = pre[first + c]
        for s in range(samples):  # the innermost loops run over samples: SIMD
            totals[s] += fastmath.exp(row[s] - true_logits[s])
    for s in range(samples):
        # totals >= 1 (the true class adds exp(0)); a NaN or huge total gives garbage here, replaced below
        terms[s] = min(max(fastmath.log(totals[s]), _LOSS_LOW), _LOSS_HIGH)
    for s in range(samples):
        if not (totals[s] < _EXTREME_TOTAL):  # NaN or huge: an infinity, a NaN or a clipped loss
            terms[s] = _extreme_sample_loss(pre, first, s)


@_jit
def mean_of(terms):
    """The mean of terms (S,), summed in a fixed order: four interleaved partial sums, then pairs.

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
    sample_losses(values, 0, labels, terms, np.empty((2, samples)))
    return mean_of(terms)


# --- the forward pass --------------------------------------------------------------------------------


@_jit
def _add_scaled(target, source, factor, low, high):
    """target[s] += source[s] * factor for s in [low, high)."""
    into, values = target[low:high], source[low:high]
    for t in range(into.shape[0]):  # an index known to be >= 0 (no wraparound check): SIMD
        into[t] += values[t] * factor


@_jit
def forward(params, problem, net, pre, post):
    """Every unit's pre-activations into pre (units, S), and hidden ReLU outputs into post, from scratch.

    Each unit adds its bias, then its inputs in order: the same order on every call and every CPU.
    """
    sizes, offsets, unit_start = net.sizes, net.offsets, net.unit_start
    inputs = problem.inputs
    layers = offsets.shape[0]
    samples = inputs.shape[1]
    for m in range(layers):
        source, first = (inputs, 0) if m == 0 else (post, unit_start[m - 1])
        n_in, n_out = sizes[m], sizes[m + 1]
        for j in range(n_out):
            row = pre[unit_start[m] + j]  # (S,)
            bias = params[offsets[m, 1] + j]
            for s in range(samples):
                row[s] = bias
            for i in range(n_in):
                _add_scaled(row, source[first + i], params[offsets[m, 0] + i * n_out + j], 0, samples)
            if m < layers - 1:
                activation = post[unit_start[m] + j]
                for s in range(samples):
                    activation[s] = max(row[s], 0.0)


@_jit
def _workspace(problem, net):
    """Working arrays for one climber on problem."""
    units = net.unit_start[-1]
    samples = problem.labels.shape[0]
    layers = net.offsets.shape[0]
    widest = net.sizes[1:].max()
    return Work(
        np.zeros((4, units, samples)),
        np.zeros((2, samples)),
        np.empty((3, samples)),
        np.empty(samples, dtype=np.int64),
        np.empty((widest, samples)),
        np.empty((widest, widest)),
        np.zeros(units, dtype=np.bool_),
        np.zeros((layers, widest + 1), dtype=np.int64),
    )


@_jit
def _mean_loss_from_scratch(params, problem, net, work, side):
    """Forward pass into the PRE and POST planes and the mean loss, its per-sample terms in work.terms[side]."""
    state, terms = work.state, work.terms
    forward(params, problem, net, state[PRE], state[POST])
    first = net.unit_start[-1] - net.sizes[-1]
    sample_losses(state[PRE], first, problem.labels, terms[side], work.scratch)
    return mean_of(terms[side])


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
    """(objectives (B,), accuracies (B,)) of parameter rows batch (B, P), each from scratch."""
    work = _workspace(problem, net)
    first = net.unit_start[-1] - net.sizes[-1]
    losses = np.empty(batch.shape[0])
    accuracies = np.empty(batch.shape[0])
    for b in range(batch.shape[0]):
        losses[b] = objective(batch[b], problem, net, work)
        accuracies[b] = _accuracy(work.state[PRE], first, problem.labels)
    return losses, accuracies


# --- climbs with a full evaluation per step ----------------------------------------------------------


@_jit(inline="always")
def _better(candidate_loss, loss):
    """Strictly lower; a NaN candidate never wins, and any number beats a NaN incumbent."""
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
    work = _workspace(problem, net)
    candidate = np.empty_like(params)
    every = np.arange(params.shape[0])  # every parameter moved: per parameter or global is the same
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = params[i] + step_sizes[i] * noise[step, i]
        candidate_loss = objective(candidate, problem, net, work)
        success = _better(candidate_loss, loss)
        if success:
            params[:] = candidate
            loss = candidate_loss
        _adapt(step_sizes, every, success, rule)
    return loss


@_jit
def random_search(params, loss, noise, step_size, problem, net):
    """Random search: every step draws fresh parameters step_size * noise[step]; keeps the best."""
    work = _workspace(problem, net)
    candidate = np.empty_like(params)
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = step_size * noise[step, i]
        candidate_loss = objective(candidate, problem, net, work)
        if _better(candidate_loss, loss):
            params[:] = candidate
            loss = candidate_loss
    return loss


# --- sparse steps, evaluated incrementally -----------------------------------------------------------


@_jit(inline="always")
def _mark(dirty, touched, unit_start, m, j):
    """Note unit j of weight layer m as touched by this step; its state row."""
    row = unit_start[m] + j
    if not dirty[row]:
        dirty[row] = True
        touched[m, 0] += 1
        touched[m, touched[m, 0]] = j
    return row


@_jit
def _add_nonzeros(target, problem, feature, change):
    """target += input feature * change, on the feature's nonzero samples only."""
    start, samples, values = problem.nonzero_start, problem.nonzero_samples, problem.nonzero_values
    for t in range(start[feature], start[feature + 1]):
        target[samples[t]] += values[t] * change


@_jit
def _move(params, step_sizes, indices, noise, old_values, problem, net, work):
    """Move the step's parameters (noting old values), adding each change to its unit's candidate row.

    A weight (i, j) adds input i times the change to unit j: the current inputs, not the candidate
    ones, whose changes _propagate passes on later through the moved weights. Returns how much the
    sum of squared weights changed (0.0 when there is no L2 term).
    """
    where, unit_start = net.where, net.unit_start
    state, dirty, touched = work.state, work.dirty, work.touched
    inputs, sparse = problem.inputs, problem.sparse
    samples = inputs.shape[1]
    squares = 0.0
    for t in range(indices.shape[0]):
        i = indices[t]
        old = params[i]
        old_values[t] = old
        params[i] = old + step_sizes[i] * noise[t]
        change = params[i] - old  # what the stored value really moved by
        m, source, j = where[i, 0], where[i, 1], where[i, 2]
        target = state[PRE_NEXT, _mark(dirty, touched, unit_start, m, j)]  # (S,)
        if source < 0:
            for s in range(samples):
                target[s] += change
            continue
        if m > 0:
            _add_scaled(target, state[POST, unit_start[m - 1] + source], change, 0, samples)
        elif sparse[source]:
            _add_nonzeros(target, problem, source, change)
        else:
            _add_scaled(target, inputs[source], change, 0, samples)
        if problem.l2_scale > 0.0:
            squares += params[i] * params[i] - old * old
    return squares


@_jit
def _activation_change(state, row, delta):
    """ReLU of the candidate row into POST_NEXT and its change into delta (S,).

    Returns (count, low, high): how many samples changed, and the range [low, high) they lie in.
    """
    candidate, activation, current = state[PRE_NEXT, row], state[POST_NEXT, row], state[POST, row]
    samples = candidate.shape[0]
    count = 0
    for s in range(samples):
        activation[s] = max(candidate[s], 0.0)
        delta[s] = activation[s] - current[s]
        count += delta[s] != 0.0
    if count == 0:
        return 0, 0, 0
    low, high = 0, samples
    while delta[low] == 0.0:
        low += 1
    while delta[high - 1] == 0.0:
        high -= 1
    return count, low, high


@_jit
def _list_changes(delta, changed, low, high):
    """The samples in [low, high) where delta is nonzero, into changed; how many."""
    found = 0
    for s in range(low, high):
        if delta[s] != 0.0:
            changed[found] = s
            found += 1
    return found


@_jit
def _add_listed(targets, first, delta, outgoing, changed, count):
    """targets[first + q, s] += delta[s] * outgoing[q] for every q, on the samples changed[:count]."""
    for q in range(outgoing.shape[0]):
        target, weight = targets[first + q], outgoing[q]
        for t in range(count):
            s = changed[t]
            target[s] += delta[s] * weight


@_jit
def _add_rank_ones(targets, first, deltas, outgoing, moved, span):
    """targets[first + q] += sum over u < moved of deltas[u] * outgoing[u, q], on samples span = (low, high).

    Units go four at a time, so each pass over a target row adds four rank-one terms (a fixed order:
    (a + b) + (c + d)), with a fifth of the loads and stores of one pass per unit.
    """
    low, high = span
    for q in range(outgoing.shape[1]):
        target = targets[first + q, low:high]  # (high - low,)
        u = 0
        while u + 4 <= moved:
            a, b, c, d = deltas[u, low:high], deltas[u + 1, low:high], deltas[u + 2, low:high], deltas[u + 3, low:high]
            wa, wb, wc, wd = outgoing[u, q], outgoing[u + 1, q], outgoing[u + 2, q], outgoing[u + 3, q]
            for s in range(target.shape[0]):
                target[s] += (a[s] * wa + b[s] * wb) + (c[s] * wc + d[s] * wd)
            u += 4
        for v in range(u, moved):
            _add_scaled(target, deltas[v, low:high], outgoing[v, q], 0, high - low)


@_jit
def _propagate(params, net, work):
    """Pass each touched hidden unit's change of activation to the next layer, layer after layer.

    A unit whose activation changed on some samples adds (new - old activation) times its (moved)
    outgoing weights to every unit of the next layer, on those samples only: a rank-one update.
    Units that changed on few samples walk a list of them; the others go together, four at a time.
    """
    sizes, offsets, unit_start = net.sizes, net.offsets, net.unit_start
    state, dirty, touched, changed = work.state, work.dirty, work.touched, work.changed
    deltas, outgoing = work.deltas, work.outgoing
    pre_next = state[PRE_NEXT]
    samples = pre_next.shape[1]
    for m in range(offsets.shape[0] - 1):
        n_next = sizes[m + 2]
        moved, low, high = 0, samples, 0
        for d in range(1, touched[m, 0] + 1):
            j = touched[m, d]
            count, first, last = _activation_change(state, unit_start[m] + j, deltas[moved])
            if count == 0:
                continue
            if moved == 0:  # the next layer moves: all of it
                for q in range(n_next):
                    _mark(dirty, touched, unit_start, m + 1, q)
            weights = params[offsets[m + 1, 0] + j * n_next : offsets[m + 1, 0] + (j + 1) * n_next]
            if count < SPARSE_CHANGE * (last - first):
                _list_changes(deltas[moved], changed, first, last)
                _add_listed(pre_next, unit_start[m + 1], deltas[moved], weights, changed, count)
                continue
            outgoing[moved, :n_next] = weights
            moved += 1
            low, high = min(low, first), max(high, last)
        if moved > 0:
            _add_rank_ones(pre_next, unit_start[m + 1], deltas, outgoing[:, :n_next], moved, (low, high))


@_jit
def _copy_row(into, values):
    """into[:] = values, as a plain loop (numba's slice assignment may allocate)."""
    for s in range(into.shape[0]):
        into[s] = values[s]


@_jit
def _settle(work, net, accept):
    """End a step: copy the touched rows candidate -> current (accept) or current -> candidate (revert)."""
    state, dirty, touched = work.state, work.dirty, work.touched
    unit_start = net.unit_start
    pre, post = (PRE, POST) if accept else (PRE_NEXT, POST_NEXT)
    layers = touched.shape[0]
    for m in range(layers):
        for d in range(1, touched[m, 0] + 1):
            row = unit_start[m] + touched[m, d]
            dirty[row] = False
            _copy_row(state[pre, row], state[PRE + PRE_NEXT - pre, row])
            if m < layers - 1:
                _copy_row(state[post, row], state[POST + POST_NEXT - post, row])
        touched[m, 0] = 0


@_jit
def _refresh(params, problem, net, work):
    """Rebuild the cached state from scratch; (mean loss, sum of squared weights, whether all is finite)."""
    state = work.state
    mean = _mean_loss_from_scratch(params, problem, net, work, 0)
    state[PRE_NEXT] = state[PRE]
    state[POST_NEXT] = state[POST]
    squares = squared_weights(params, net) if problem.l2_scale > 0.0 else 0.0
    finite = mean == mean and squares - squares == 0.0
    for value in state[PRE].ravel():
        finite &= value - value == 0.0
    return mean, squares, finite


@_jit
def _candidate_mean(problem, net, work, side, mean):
    """The candidate's mean loss: its per-sample terms into work.terms[1 - side] if a logit moved."""
    output = net.offsets.shape[0] - 1
    if work.touched[output, 0] == 0:
        return mean
    terms = work.terms[1 - side]
    sample_losses(work.state[PRE_NEXT], net.unit_start[-1] - net.sizes[-1], problem.labels, terms, work.scratch)
    return mean_of(terms)


@_jit
def adjust_sparse(params, step_sizes, indices, noise, rule, problem, net):
    """Adjust-and-revert moving a few parameters per step, each step evaluated incrementally.

    indices and noise are (steps, k): which parameters move, by how many of their steps. params and
    step_sizes are updated in place to the climber's best; returns its objective. The cached state
    is rebuilt on entry; if it holds an infinity or a NaN (an incumbent from an extreme start),
    incremental updates would meet inf - inf, so every step is then evaluated from scratch.
    """
    work = _workspace(problem, net)
    mean, squares, incremental = _refresh(params, problem, net, work)
    loss = with_penalty(mean, squares, problem.l2_scale)
    old_values = np.empty(indices.shape[1])
    side = 0  # which row of work.terms holds the current per-sample terms
    output = net.offsets.shape[0] - 1
    for step in range(indices.shape[0]):
        step_indices = indices[step]
        if incremental:
            squares_change = _move(params, step_sizes, step_indices, noise[step], old_values, problem, net, work)
            _propagate(params, net, work)
            moved_logits = work.touched[output, 0] > 0
            candidate_mean = _candidate_mean(problem, net, work, side, mean)
            candidate_loss = with_penalty(candidate_mean, squares + squares_change, problem.l2_scale)
        else:
            for t in range(step_indices.shape[0]):
                old_values[t] = params[step_indices[t]]
                params[step_indices[t]] += step_sizes[step_indices[t]] * noise[step, t]
            candidate_loss = objective(params, problem, net, work)
        success = _better(candidate_loss, loss)
        if success:
            loss = candidate_loss
            if incremental:
                mean, squares = candidate_mean, squares + squares_change
                side = 1 - side if moved_logits else side
        else:
            for t in range(step_indices.shape[0] - 1, -1, -1):
                params[step_indices[t]] = old_values[t]
        if incremental:
            _settle(work, net, success)
        _adapt(step_sizes, step_indices, success, rule)
    return loss
