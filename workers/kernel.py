"""The compiled hot loop: adjust-and-revert and random search, one climber at a time.

Each function consumes random numbers drawn beforehand by `workers.climb` from the climber's own
`numpy.random.Generator`, so the numpy reference and this kernel walk the same path. Compiled
with numba (`cache=True`: a process compiles once per machine, then loads the cache) and without
fastmath, so every float operation is the IEEE one the source says and results do not depend on
the CPU's vector width.

The sparse path evaluates a candidate incrementally for one-hidden-layer networks: a change to a
first-layer weight or bias moves one hidden unit (recomputed exactly from the inputs), a change to
an output weight or bias moves logit columns, and only the loss is then recomputed in full.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from workers import fastmath
from workers.network import CLIP

_LOSS_LOW = -math.log(1 - CLIP)  # the loss of a confidence clipped at 1 - 1e-7
_LOSS_HIGH = -math.log(CLIP)  # the loss of a confidence clipped at 1e-7
# A sample whose sum of exp(z_c - z_true) reaches this (or is NaN) has an infinite or NaN logit, or a
# loss far beyond the clip (log(1e300) = 690); it is settled by _extreme_sample_loss. Finite logits
# take this branch only where the fast path would give _LOSS_HIGH as well.
_EXTREME_TOTAL = 1e300


@numba.njit(cache=True, error_model="numpy")
def _extreme_sample_loss(values, s):
    """The clipped loss of sample s, as numpy's max-shifted softmax gives it, for extreme logits.

    NaN where numpy's is NaN: a NaN or +inf logit, or every logit -inf (the row maximum leaves
    inf - inf). Otherwise the maximum is finite, and a true logit of -inf or one far below the
    others (whichever class is true) has probability 0, clipped to 1e-7.
    """
    largest = -np.inf
    for c in range(values.shape[0]):
        value = values[c, s]
        if value != value or value == np.inf:
            return np.nan
        largest = max(largest, value)
    if largest == -np.inf:
        return np.nan
    return _LOSS_HIGH


@numba.njit(cache=True, error_model="numpy")
def loss_from_logits(values, labels, scratch):
    """Mean clipped cross-entropy of softmax over classes of values (C, S), against labels (S,).

    -log(p_true) is computed as log(sum_c exp(z_c - z_true)), the same quantity as the seed's
    softmax-then-log without a division, then clipped exactly where the seed clips p_true.
    scratch is a (2, S) work array. The loss is NaN exactly where numpy's softmax makes it NaN (a NaN
    or +inf logit, or all -inf in a sample); a NaN loss never wins.
    """
    classes, samples = values.shape
    true_logits = scratch[0]
    totals = scratch[1]
    for s in range(samples):
        true_logits[s] = values[labels[s], s]
        totals[s] = 0.0
    for c in range(classes):
        row = values[c]
        for s in range(samples):  # the innermost loops run over samples: SIMD
            totals[s] += fastmath.exp(row[s] - true_logits[s])
    for s in range(samples):
        true_logits[s] = fastmath.log(totals[s])  # totals >= 1: the true class adds exp(0)
    total = 0.0
    for s in range(samples):
        if not (totals[s] < _EXTREME_TOTAL):  # NaN or huge: an infinity, a NaN or a clipped loss
            extreme = _extreme_sample_loss(values, s)
            if extreme != extreme:
                return np.nan
            total += extreme
        else:
            total += min(max(true_logits[s], _LOSS_LOW), _LOSS_HIGH)
    return total / samples


@numba.njit(cache=True, error_model="numpy")
def forward_logits(params, inputs, sizes, offsets, hidden_a, hidden_b, output):
    """Logits (C, S) into output, from inputs (F, S); hidden_a/b are (widest, S) scratch.

    Every layer is kept feature-major, (width, S), so each inner loop runs over samples.
    """
    samples = inputs.shape[1]
    layers = sizes.shape[0] - 1
    source = inputs
    for layer in range(layers):
        n_in = sizes[layer]
        n_out = sizes[layer + 1]
        start = offsets[layer, 0]
        biases_start = offsets[layer, 1]
        last = layer == layers - 1
        target = output if last else (hidden_a if layer % 2 == 0 else hidden_b)
        for j in range(n_out):
            unit = target[j]
            bias = params[biases_start + j]
            for s in range(samples):
                unit[s] = bias
            for f in range(n_in):
                weight = params[start + f * n_out + j]
                row = source[f]
                for s in range(samples):
                    unit[s] += row[s] * weight
            if not last:
                for s in range(samples):
                    unit[s] = max(unit[s], 0.0)
        source = target
    return output


@numba.njit(cache=True, error_model="numpy")
def _workspace(inputs, sizes):
    """Scratch arrays for forward_logits and loss_from_logits."""
    widest = 1
    for width in sizes[1:-1]:
        widest = max(widest, width)
    samples = inputs.shape[1]
    hidden_a = np.empty((widest, samples))
    hidden_b = np.empty((widest, samples))
    output = np.empty((sizes[-1], samples))
    scratch = np.empty((2, samples))
    return hidden_a, hidden_b, output, scratch


@numba.njit(cache=True, error_model="numpy")
def network_loss(params, inputs, labels, sizes, offsets):
    """The loss of one network on inputs (F, S), from scratch."""
    hidden_a, hidden_b, output, scratch = _workspace(inputs, sizes)
    return loss_from_logits(
        forward_logits(params, inputs, sizes, offsets, hidden_a, hidden_b, output),
        labels,
        scratch,
    )


@numba.njit(cache=True, error_model="numpy", inline="always")
def _better(candidate_loss, loss):
    """Strictly lower; a NaN candidate never wins, and any number beats a NaN incumbent."""
    return candidate_loss < loss or (loss != loss and candidate_loss == candidate_loss)


@numba.njit(cache=True, error_model="numpy")
def _adapt(step_sizes, indices, factor, per_parameter, low, high):
    """Multiply the step sizes of the changed parameters (or all of them) by factor, within bounds."""
    if per_parameter:
        for t in range(indices.shape[0]):
            i = indices[t]
            step_sizes[i] = min(max(step_sizes[i] * factor, low), high)
    else:
        for i in range(step_sizes.shape[0]):
            step_sizes[i] = min(max(step_sizes[i] * factor, low), high)


@numba.njit(cache=True, error_model="numpy")
def adjust_dense(
    params,
    step_sizes,
    loss,
    inputs,
    labels,
    sizes,
    offsets,
    noise,
    adaptive,
    growth,
    shrink,
    low,
    high,
):
    """Adjust-and-revert moving every parameter per step (the seed's rule); noise is (steps, P).

    params and step_sizes are updated in place to the climber's best; returns its loss.
    """
    hidden_a, hidden_b, output, scratch = _workspace(inputs, sizes)
    candidate = np.empty_like(params)
    no_indices = np.empty(0, dtype=np.int64)
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = params[i] + step_sizes[i] * noise[step, i]
        candidate_loss = loss_from_logits(
            forward_logits(candidate, inputs, sizes, offsets, hidden_a, hidden_b, output),
            labels,
            scratch,
        )
        if _better(candidate_loss, loss):
            params[:] = candidate
            loss = candidate_loss
            if adaptive:
                _adapt(step_sizes, no_indices, growth, False, low, high)
        elif adaptive:
            _adapt(step_sizes, no_indices, shrink, False, low, high)
    return loss


@numba.njit(cache=True, error_model="numpy")
def random_search(params, loss, inputs, labels, sizes, offsets, step_size, noise):
    """Random search: every step draws fresh parameters step_size * noise[step]; keeps the best."""
    hidden_a, hidden_b, output, scratch = _workspace(inputs, sizes)
    candidate = np.empty_like(params)
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = step_size * noise[step, i]
        candidate_loss = loss_from_logits(
            forward_logits(candidate, inputs, sizes, offsets, hidden_a, hidden_b, output),
            labels,
            scratch,
        )
        if _better(candidate_loss, loss):
            params[:] = candidate
            loss = candidate_loss
    return loss


@numba.njit(cache=True, error_model="numpy")
def adjust_sparse(
    params,
    step_sizes,
    inputs,
    labels,
    sizes,
    indices,
    noise,
    adaptive,
    growth,
    shrink,
    per_parameter,
    low,
    high,
):
    """Adjust-and-revert changing a few parameters per step of a one-hidden-layer network.

    inputs are (F, S); indices and noise are (steps, k): which parameters move, by how many steps.
    params and step_sizes are updated in place to the climber's best; returns its loss.
    """
    features, samples = inputs.shape
    hidden = sizes[1]
    classes = sizes[2]
    hidden_biases = features * hidden
    output_weights = hidden_biases + hidden
    output_biases = output_weights + hidden * classes

    # Cached state of the current best.
    activation = np.empty((hidden, samples))  # (H, S) hidden ReLU outputs
    for j in range(hidden):
        for s in range(samples):
            activation[j, s] = params[hidden_biases + j]
        for f in range(features):
            weight = params[f * hidden + j]
            for s in range(samples):
                activation[j, s] += inputs[f, s] * weight
        for s in range(samples):
            activation[j, s] = max(activation[j, s], 0.0)
    current = np.empty((classes, samples))  # (C, S) logits
    for c in range(classes):
        for s in range(samples):
            current[c, s] = params[output_biases + c]
        for j in range(hidden):
            weight = params[output_weights + j * classes + c]
            for s in range(samples):
                current[c, s] += activation[j, s] * weight
    scratch = np.empty((2, samples))
    loss = loss_from_logits(current, labels, scratch)

    k = indices.shape[1]
    candidate = np.empty((classes, samples))
    old_values = np.empty(k)
    touched = np.zeros(hidden, dtype=np.bool_)
    touched_units = np.empty(k, dtype=np.int64)
    new_activation = np.empty((k, samples))  # (touched units, S)
    for step in range(indices.shape[0]):
        step_indices = indices[step]
        # Output-layer changes act on the current hidden activations.
        candidate[:, :] = current
        touched_count = 0
        for t in range(k):
            i = step_indices[t]
            old_values[t] = params[i]
            delta = step_sizes[i] * noise[step, t]
            params[i] += delta
            if i < output_weights:
                j = i % hidden if i < hidden_biases else i - hidden_biases
                if not touched[j]:
                    touched[j] = True
                    touched_units[touched_count] = j
                    touched_count += 1
            elif i < output_biases:
                j = (i - output_weights) // classes
                c = (i - output_weights) % classes
                for s in range(samples):
                    candidate[c, s] += activation[j, s] * delta
            else:
                c = i - output_biases
                for s in range(samples):
                    candidate[c, s] += delta
        # Hidden units whose inputs changed: recompute exactly from the inputs, then pass the
        # change through the (already updated) output weights.
        for u in range(touched_count):
            j = touched_units[u]
            touched[j] = False
            unit = new_activation[u]
            for s in range(samples):
                unit[s] = params[hidden_biases + j]
            for f in range(features):
                weight = params[f * hidden + j]
                for s in range(samples):
                    unit[s] += inputs[f, s] * weight
            for s in range(samples):
                unit[s] = max(unit[s], 0.0)
            for c in range(classes):
                weight = params[output_weights + j * classes + c]
                for s in range(samples):
                    candidate[c, s] += (unit[s] - activation[j, s]) * weight
        candidate_loss = loss_from_logits(candidate, labels, scratch)
        if _better(candidate_loss, loss):
            loss = candidate_loss
            current, candidate = candidate, current
            for u in range(touched_count):
                activation[touched_units[u]] = new_activation[u]
            if adaptive:
                _adapt(step_sizes, step_indices, growth, per_parameter, low, high)
        else:
            for t in range(k - 1, -1, -1):
                params[step_indices[t]] = old_values[t]
            if adaptive:
                _adapt(step_sizes, step_indices, shrink, per_parameter, low, high)
    return loss


@numba.njit(cache=True, error_model="numpy")
def adjust_sparse_full(
    params,
    step_sizes,
    loss,
    inputs,
    labels,
    sizes,
    offsets,
    indices,
    noise,
    adaptive,
    growth,
    shrink,
    per_parameter,
    low,
    high,
):
    """Adjust-and-revert changing a few parameters per step, with a full forward pass (any depth)."""
    hidden_a, hidden_b, output, scratch = _workspace(inputs, sizes)
    k = indices.shape[1]
    old_values = np.empty(k)
    for step in range(indices.shape[0]):
        step_indices = indices[step]
        for t in range(k):
            i = step_indices[t]
            old_values[t] = params[i]
            params[i] += step_sizes[i] * noise[step, t]
        candidate_loss = loss_from_logits(
            forward_logits(params, inputs, sizes, offsets, hidden_a, hidden_b, output),
            labels,
            scratch,
        )
        if _better(candidate_loss, loss):
            loss = candidate_loss
            if adaptive:
                _adapt(step_sizes, step_indices, growth, per_parameter, low, high)
        else:
            for t in range(k - 1, -1, -1):
                params[step_indices[t]] = old_values[t]
            if adaptive:
                _adapt(step_sizes, step_indices, shrink, per_parameter, low, high)
    return loss
