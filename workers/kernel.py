"""The compiled hot loop: adjust-and-revert and random search, one climber at a time, steps evaluated incrementally.

Each climb consumes random numbers drawn beforehand by `workers.climbs` from the climber's own
`numpy.random.Generator`, so the numpy reference and this kernel walk the same path. Its losses are
`workers.from_scratch`'s (the same compiled arithmetic, the same bits on every CPU), and it is cached on
disk the same way.

A sparse step (`adjust_sparse`) is evaluated incrementally at any depth (`_candidate`): a touched
unit's candidate is its current pre-activations plus its own weights' changes times their inputs
(a first-layer feature's nonzero samples only, when it is sparse) and its bias's change; a hidden
unit whose activation changed passes the difference on to every unit of the next layer as a
rank-one update (four units at a time); the per-sample loss terms are recomputed from the
candidate logits. Candidates live in the second of two planes of the state (`from_scratch.Work`), so
accepting or reverting a step copies nothing. Drift is bounded by a refresh: the cached state is rebuilt
from scratch at a climber's first block and every `workers.climbs.REFRESH_BLOCKS`-th block after, fixed
step counts that never depend on timing.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from workers import from_scratch, grid, jitcache
from workers.from_scratch import (
    Work,
    activate,
    error_tie_weight,
    is_regressor,
    loss_from_scratch,
    loss_mean,
    make_work,
    mean_loss_from_scratch,
    regression_losses,
    sample_losses,
    squared_weights,
    with_penalty,
)
from workers.rows import Problem

# What the compiled engine depends on: itself and everything the scoring from scratch does.
SOURCES = [__file__, *from_scratch.SOURCES]
CACHE = jitcache.install(SOURCES, __file__)
jit = jitcache.compiler(CACHE)
_move_on_grid = numba.njit(inline="always", error_model="numpy")(grid.move_on_grid)

# A step that moves parameters of at most this many units of one hidden layer, and nothing else, is
# evaluated on the samples it changes only (`_compact_candidate`).
COMPACT_UNITS = 8
# ... and, on the first weight layer, has at least this many later units times samples to gain from it.
COMPACT_MIN_WORK = 2048


class StepRule(NamedTuple):
    """How step sizes adapt: the one-fifth rule's factors, per parameter or for all, within bounds."""

    adaptive: bool
    growth: float
    shrink: float
    per_parameter: bool
    low: float
    high: float


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


@jit
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
    return make_work(problem, net, True), _compact_workspace(problem)


@jit(inline="always")
def _moved(value, change, i, net):
    """Parameter i's value after a step of `change`: value + change, or, for a weight of a layer on a grid,
    the grid's move (`workers.grid.move_on_grid`)."""
    m, offsets = net.where[i, 0], net.offsets
    top = offsets[m, 4]
    if top == 0 or net.where[i, 1] < 0:  # float weights, or a bias
        return value + change
    return _move_on_grid(value, change, math.ldexp(1.0, offsets[m, 3]), float(top), float(offsets[m, 5]))


@jit(inline="always")
def _better(candidate_loss, loss, margin):
    """Strictly lower (by more than margin * |loss| where margin > 0); a NaN candidate never wins, and any number
    beats a NaN incumbent."""
    if margin > 0.0:
        return candidate_loss < loss - margin * abs(loss) or (loss != loss and candidate_loss == candidate_loss)
    return candidate_loss < loss or (loss != loss and candidate_loss == candidate_loss)


@jit
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


@jit
def adjust_dense(params, step_sizes, loss, noise, rule, problem, net):
    """Adjust-and-revert moving every parameter per step (the seed's rule); noise is (steps, P).

    params and step_sizes are updated in place to the climber's best; returns its loss.
    """
    work = make_work(problem, net, False)
    candidate = np.empty_like(params)
    every = np.arange(params.shape[0])  # every parameter moved: per parameter or global is the same
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = _moved(params[i], step_sizes[i] * noise[step, i], i, net)
        candidate_loss = loss_from_scratch(candidate, problem, net, work)
        success = _better(candidate_loss, loss, net.margin)
        if success:
            params[:] = candidate
            loss = candidate_loss
        _adapt(step_sizes, every, success, rule)
    return loss


@jit
def random_search(params, loss, noise, step_size, problem, net):
    """Random search: every step draws fresh parameters step_size * noise[step]; keeps the best."""
    work = make_work(problem, net, False)
    candidate = np.empty_like(params)
    for step in range(noise.shape[0]):
        for i in range(params.shape[0]):
            candidate[i] = step_size * noise[step, i]
        candidate_loss = loss_from_scratch(candidate, problem, net, work)
        if _better(candidate_loss, loss, net.margin):
            params[:] = candidate
            loss = candidate_loss
    return loss


# --- sparse steps, evaluated incrementally -----------------------------------------------------------


@jit(inline="always")
def _touch(dirty, touched, row, m, j):
    """Note unit j of weight layer m (state row `row`) as touched by the step in progress."""
    if not dirty[row]:
        dirty[row] = True
        touched[m, 0] += 1
        touched[m, touched[m, 0]] = j


@jit
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


@jit
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


@jit
def _copy_row(state, into, row, source):
    """state[into, row] = state[source, row]: a touched unit's candidate starts from its current values."""
    for s in range(state.shape[2]):
        state[into, row, s] = state[source, row, s]


@jit
def _add_constant_row(state, plane, row, value):
    """state[plane, row] += value: a bias's change."""
    for s in range(state.shape[2]):
        state[plane, row, s] += value


@jit
def _add_input_row(state, plane, row, dense, dense_index, change):
    """state[plane, row] += dense[dense_index] * change: a first-layer weight's change, on a dense feature."""
    for s in range(state.shape[2]):
        state[plane, row, s] += dense[dense_index, s] * change


@jit
def _add_hidden_row(state, plane, row, source_plane, source, change, kind):
    """state[plane, row] += activation(state[source_plane, source]) * change: a deeper weight's change."""
    if kind == 0:  # ReLU, the default: its own loop, as simple as before there were others
        for s in range(state.shape[2]):
            state[plane, row, s] += max(state[source_plane, source, s], 0.0) * change
        return
    for s in range(state.shape[2]):
        state[plane, row, s] += activate(state[source_plane, source, s], kind) * change


@jit
def _add_nonzeros(state, plane, row, problem, feature, change):
    """state[plane, row] += input feature * change, on the feature's nonzero samples only."""
    start, samples, values = problem.nonzero_start, problem.nonzero_samples, problem.nonzero_values
    for t in range(start[feature], start[feature + 1]):
        state[plane, row, samples[t]] += values[t] * change


@jit
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
        change = activate(state[candidate, row, s], kind) - activate(state[current, row, s], kind)
        deltas[slot, s] = change
        moved |= change != 0.0
    return moved


@jit
def _add_four(state, plane, row, deltas, u, weights, span):
    """state[plane, row, low:high] += deltas[u..u+3] times weights[0..3], in a fixed order: (a + b) + (c + d)."""
    wa, wb, wc, wd = weights[0], weights[1], weights[2], weights[3]
    low, high = span
    for s in range(low, high):
        state[plane, row, s] += (deltas[u, s] * wa + deltas[u + 1, s] * wb) + (
            deltas[u + 2, s] * wc + deltas[u + 3, s] * wd
        )


@jit
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


@jit
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


@jit
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


@jit
def _note_mover(params, start, outgoing, slot):
    """A unit whose activation changed: its outgoing weights params[start:start + n] into outgoing[slot, :n]."""
    for q in range(outgoing.shape[1]):
        outgoing[slot, q] = params[start + q]


@jit
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
    if not is_regressor(problem):
        labels, runs, tie = problem.labels, problem.label_start, error_tie_weight(problem)
        sample_losses(candidate, first, labels, runs, terms, work.scratch, span, tie)
    else:
        regression_losses(candidate, first, problem.targets, problem.labels[:0], terms, span, problem.loss_kind)


@jit
def _candidate_mean(params, problem, net, work, current):
    """The mean loss of the step's candidate; its per-sample terms in work.terms[1 - current].

    (Computing it block of samples by block, every layer for one block before the next, so that a
    block stays in the cache, was measured slower: 72 against 56 us a step on 2-64-64-3.)
    """
    _candidate(params, problem, net, work, current)
    return loss_mean(work.terms[1 - current], problem.loss_kind)


@jit
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


@jit(inline="always")
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


@jit(inline="always")
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


@jit
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


@jit
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


@jit
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
        change = activate(candidate, kind) - activate(state[now, row, s], kind)
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


@jit
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
    if is_regressor(problem):  # its targets at A's samples
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
    tie = error_tie_weight(problem)
    sample_losses(state[2], first, compact_labels, runs, compact.compact_terms, work.scratch, span, tie)


@jit
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
                change = activate(state[2, row, p], kind) - activate(state[now, row, columns[p]], kind)
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


@jit
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


@jit
def _refresh(params, problem, net, work):
    """Rebuild the cached state from scratch; (mean loss, sum of squared weights, whether all is finite)."""
    mean = mean_loss_from_scratch(params, problem, net, work, 0)
    _copy_terms(work.terms, 0)
    work.side[:] = 0
    squares = squared_weights(params, net) if problem.l2_scale > 0.0 else 0.0
    finite = mean == mean and squares - squares == 0.0
    for value in work.state[0].ravel():
        finite &= value - value == 0.0
    return mean, squares, finite


@jit
def adjust_sparse(params, step_sizes, indices, noise, rule, problem, net, work, compact, fresh):
    """Adjust-and-revert moving a few parameters per step, each step evaluated incrementally.

    indices and noise are (steps, k): which parameters move, by how many of their steps. params and
    step_sizes are updated in place to the climber's best; returns its loss. work and compact
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
            candidate_loss = loss_from_scratch(params, problem, net, work)
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
