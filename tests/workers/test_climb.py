"""Hill climbs: both engines walk the same path, a climber is the same alone or in a crowd, loss never rises."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coordinator.data.datasets import nnfs_data
from workers import ClimbSettings, Layout, Solution, climb, climb_batch, climb_rows, evaluate, kernel, pack_rows
from workers.climbs import BLOCK_STEPS, draw_moves
from workers.network import evaluate_compiled
from workers.rows import dense_inputs
from workers.settings import MAX_STEP_SIZE, MIN_STEP_SIZE

SPIRAL = nnfs_data("spiral", 100, 3)

VARIANTS = {
    "the defaults: 2% of the parameters, at most 5": dict(),
    "seed: every parameter, fixed step": dict(mutation_rate=1.0, adaptive=False),
    "every parameter, one-fifth rule": dict(mutation_rate=1.0, adaptive=True),
    "sparse, global step": dict(mutation_rate=0.02, adaptive=True, step_scope="global"),
    "sparse, step per parameter": dict(mutation_rate=0.02, adaptive=True, step_scope="parameter"),
    "one parameter per step": dict(mutation_rate=0.001, adaptive=True, step_scope="parameter"),
    "random search": dict(strategy="random"),
    "random steps, then adjust": dict(random_steps=300, mutation_rate=0.05, adaptive=True),
}


@pytest.mark.parametrize("sizes", [(2, 16, 3), (2, 6, 5, 3)])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_engines_walk_the_same_path(sizes, variant):
    X, y = SPIRAL
    layout = Layout(sizes)
    outcomes = {
        engine: climb(None, 11, X, y, layout, ClimbSettings(steps=700, engine=engine, **VARIANTS[variant]))
        for engine in ("numba", "numpy")
    }
    compiled, reference = outcomes["numba"], outcomes["numpy"]
    assert compiled.loss < evaluate(np.zeros(layout.num_params), X, y, layout)[0]  # it went somewhere
    np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.step_sizes, reference.step_sizes, rtol=1e-9)
    assert abs(compiled.loss - reference.loss) <= 1e-9


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_a_climber_is_the_same_alone_or_beside_a_hundred(engine):
    X, y = SPIRAL
    layout = Layout((2, 32, 3))
    settings = ClimbSettings(steps=300, engine=engine, mutation_rate=0.02, adaptive=True, step_scope="parameter")
    start = Solution(
        0.3 * np.random.default_rng(5).standard_normal(layout.num_params), np.full(layout.num_params, 0.05)
    )
    seeds = [np.random.SeedSequence(7, spawn_key=(0, index)) for index in range(100)]
    crowd = climb_batch(start, seeds, X, y, layout, settings)
    for index in (0, 41, 99):
        alone = climb(start, seeds[index], X, y, layout, settings)
        assert alone.params.tobytes() == crowd[index].params.tobytes()
        assert alone.step_sizes.tobytes() == crowd[index].step_sizes.tobytes()
        assert alone.loss == crowd[index].loss
    assert len({outcome.loss for outcome in crowd}) > 50  # the climbers really are independent


def test_a_climb_over_several_noise_blocks_is_reproducible():
    """Noise is drawn in fixed blocks: a climb that crosses two block boundaries repeats bit for bit."""
    X, y = SPIRAL
    layout = Layout((2, 8, 3))
    settings = ClimbSettings(steps=2 * BLOCK_STEPS + 1, mutation_rate=0.05, adaptive=True, step_scope="parameter")
    first = climb(None, 3, X, y, layout, settings)
    second = climb(None, 3, X, y, layout, settings)
    assert first.params.tobytes() == second.params.tobytes()
    assert first.evaluations == 2 * BLOCK_STEPS + 2


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_loss_never_rises_round_after_round(variant):
    X, y = SPIRAL
    layout = Layout((2, 16, 3))
    settings = ClimbSettings(steps=400, **VARIANTS[variant])
    outcome = climb(None, 0, X, y, layout, settings)
    losses = [outcome.loss]
    for round_index in range(1, 6):
        outcome = climb(Solution(outcome.params, outcome.step_sizes), round_index, X, y, layout, settings)
        losses.append(outcome.loss)
    assert all(later <= earlier for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < losses[0] or settings.strategy == "random"


def _sparse_inputs(samples=240, features=24, classes=4, seed=0):
    """A data set whose features are mostly zero (most in 90% of the samples, a few always), as digits' are."""
    rng = np.random.default_rng(seed)
    density = np.concatenate([np.full(features - 4, 0.1), [0.5, 0.7, 1.0, 0.0]])
    X = rng.uniform(0.0, 16.0, (samples, features)) * (rng.random((samples, features)) < density)
    y = (X[:, :4].sum(axis=1) * 7).astype(np.int64) % classes
    return X, y


SPARSE = _sparse_inputs()
# Enough rows times later units for first-layer steps to take the compact path (kernel.COMPACT_MIN_WORK).
WIDE_SPARSE = _sparse_inputs(samples=600, features=40, classes=6, seed=1)


@pytest.mark.parametrize("sizes", [(2, 16, 3), (2, 12, 10, 3), (2, 8, 8, 8, 3)], ids=["depth 1", "depth 2", "depth 3"])
@pytest.mark.parametrize("l2", [0.0, 0.05])
def test_engines_walk_the_same_path_at_every_depth(sizes, l2):
    X, y = SPIRAL
    layout = Layout(sizes)
    params = 0.5 * np.random.default_rng(3).standard_normal(layout.num_params)
    start = Solution(params, np.full(layout.num_params, 0.05))
    variant = dict(mutation_rate=0.05, adaptive=True, step_scope="parameter", l2=l2)
    compiled, reference = (
        climb(start, 5, X, y, layout, ClimbSettings(steps=1500, engine=engine, **variant))
        for engine in ("numba", "numpy")
    )
    assert compiled.loss < 0.9 * evaluate(params, X, y, layout, l2)[0]
    np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.step_sizes, reference.step_sizes, rtol=1e-9)
    assert abs(compiled.loss - reference.loss) <= 1e-9


@pytest.mark.parametrize("sizes", [(40, 12, 6), (40, 10, 8, 6)])
@pytest.mark.parametrize(
    "variant",
    [
        "the defaults: 2% of the parameters, at most 5",
        "sparse, step per parameter",
        "one parameter per step",
        "random steps, then adjust",
    ],
)
def test_engines_walk_the_same_path_on_inputs_with_many_zeros(sizes, variant):
    """First-layer changes walk the nonzero samples of sparse features: the same path as numpy's full pass."""
    X, y = WIDE_SPARSE
    assert X.shape[0] * sizes[-1] >= kernel.COMPACT_MIN_WORK
    layout = Layout(sizes)
    compiled, reference = (
        climb(None, 2, X, y, layout, ClimbSettings(steps=1500, engine=engine, **VARIANTS[variant]))
        for engine in ("numba", "numpy")
    )
    assert compiled.loss < evaluate(np.zeros(layout.num_params), X, y, layout)[0]
    np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(compiled.step_sizes, reference.step_sizes, rtol=1e-9)
    assert abs(compiled.loss - reference.loss) <= 1e-9


@pytest.mark.parametrize(
    "data, sizes",
    [("spiral", (2, 64, 3)), ("spiral", (2, 16, 16, 3)), ("spiral", (2, 12, 12, 12, 3)), ("sparse", (24, 16, 4))],
)
@pytest.mark.parametrize("l2", [0.0, 0.01])
@pytest.mark.parametrize("per_step", ["2%", 1, 3])
def test_incremental_evaluation_does_not_drift(data, sizes, l2, per_step):
    """After 60,000 sparse steps in two kernel calls (one refresh, at the start), the running objective is a
    fresh one's; one or a few parameters a step take the compact path, 2% of them mostly the whole-row one."""
    X, y = SPIRAL if data == "spiral" else SPARSE
    layout = Layout(sizes)
    rng = np.random.default_rng(0)
    params = 0.3 * rng.standard_normal(layout.num_params)
    step_sizes = np.full(layout.num_params, 0.05)
    mutated = ClimbSettings(steps=1, mutation_rate=0.02).mutated_count(layout.num_params)
    steps, mutated = 60_000, mutated if per_step == "2%" else per_step
    indices = rng.integers(0, layout.num_params, size=(steps, mutated))
    noise = rng.standard_normal((steps, mutated))
    start = evaluate_compiled(params, X, y, layout, l2)[0]
    rule = kernel.StepRule(True, 2.0, 2.0**-0.25, True, MIN_STEP_SIZE, MAX_STEP_SIZE)
    problem = pack_rows(X, y, l2=l2)
    work, compact = kernel.workspace(problem, layout.arrays)
    for part, fresh in ((slice(0, steps // 2), True), (slice(steps // 2, steps), False)):
        running = kernel.adjust_sparse(
            params, step_sizes, indices[part], noise[part], rule, problem, layout.arrays, work, compact, fresh
        )
    fresh = evaluate_compiled(params, X, y, layout, l2)[0]
    assert running < 0.7 * start  # it went somewhere: thousands of accepted steps
    assert abs(running - fresh) <= 1e-12 * fresh


def test_adaptive_steps_grow_and_shrink():
    X, y = SPIRAL
    layout = Layout((2, 16, 3))
    fixed = climb(None, 1, X, y, layout, ClimbSettings(steps=2000, mutation_rate=0.05, adaptive=False))
    adapted = climb(
        None, 1, X, y, layout, ClimbSettings(steps=2000, mutation_rate=0.05, adaptive=True, step_scope="parameter")
    )
    assert np.all(fixed.step_sizes == 0.05)
    assert adapted.step_sizes.max() > 0.05 and adapted.step_sizes.min() < 0.05


@pytest.mark.parametrize(
    "values, message",
    [
        (dict(steps=-1), "steps"),
        (dict(steps=1, step_size=0.0), "step_size"),
        (dict(steps=1, step_size=float("nan")), "step_size"),
        (dict(steps=1, mutation_rate=0.0), "mutation_rate"),
        (dict(steps=1, mutation_rate=1.5), "mutation_rate"),
        (dict(steps=1, step_growth=1.0), "step_growth"),
    ],
)
def test_settings_reject_bad_values(values, message):
    with pytest.raises(ValueError, match=message):
        ClimbSettings(**values)


def test_layout_round_trips_and_rejects_wrong_sizes():
    layout = Layout((2, 5, 3))
    params = np.arange(layout.num_params, dtype=np.float64)
    assert layout.num_params == 2 * 5 + 5 + 5 * 3 + 3
    np.testing.assert_array_equal(layout.pack(layout.unpack(params)), params)
    with pytest.raises(ValueError, match="expected 33 parameters"):
        layout.unpack(np.zeros(10))
    with pytest.raises(ValueError, match="layer sizes"):
        Layout((2,))


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_a_climber_leaves_a_nan_start(engine):
    """Any number beats a NaN incumbent (NaN < x is false, so a plain comparison would keep NaN forever)."""
    X, y = SPIRAL
    layout = Layout((2, 4, 3))
    params = np.zeros(layout.num_params)
    params[-3] = np.inf  # an infinite output bias: every sample's loss is NaN
    assert np.isnan(evaluate(params, X, y, layout)[0])
    start = Solution(params, np.full(layout.num_params, 0.05))
    outcome = climb(start, 0, X, y, layout, ClimbSettings(steps=20, strategy="random", engine=engine))
    assert np.isfinite(outcome.loss)


@pytest.mark.parametrize("sizes", [(24, 12, 4), (24, 10, 8, 4), (24, 6, 6, 6, 4)])
@pytest.mark.parametrize("per_step", [1, 3, 9])
def test_a_compact_step_is_the_whole_row_step_bit_for_bit(sizes, per_step):
    """A step on a few units of one hidden layer, computed on the samples it changes, gives the candidate
    loss, per-sample terms and pre-activations (there) that the whole-row computation gives, bit for bit."""
    X, y = SPARSE
    layout, rng = Layout(sizes), np.random.default_rng(per_step)
    net, offsets, layers = layout.arrays, layout.offsets, len(sizes) - 1
    problem = pack_rows(X, y, l2=0.01)
    params = 0.3 * rng.standard_normal(layout.num_params)
    step_sizes = np.full(layout.num_params, 0.2)
    work, compact_work = kernel.workspace(problem, net)
    kernel._refresh(params, problem, net, work)
    kinds, steps = set(), 0
    while steps < 300:
        layer = rng.integers(0, layers - 1)  # a hidden layer's incoming parameters
        low, _, high = offsets[layer]
        indices = rng.integers(low, high, per_step)
        old = np.empty(per_step)
        kernel._move(params, step_sizes, indices, rng.standard_normal(per_step), old, problem, net, work)
        compact_layer = layer if work.touched[layer, 0] <= kernel.COMPACT_UNITS else -1  # whatever the gate says
        if compact_layer >= 0:
            compact = kernel._compact_candidate(params, problem, net, work, compact_work, 0, compact_layer)
            n = compact_work.counters[1]
            columns, terms = compact_work.affected[0, :n].copy(), work.terms[1].copy()
            planes = work.state[2, :, :n].copy()
            listed = compact_work.list_length[: work.touched[compact_layer, 0]] >= 0
            kinds.add((compact_layer, bool(np.any(listed))))
        kernel._spread(net, work)
        whole = kernel._candidate_mean(params, problem, net, work, 0)
        if compact_layer >= 0:
            steps += 1
            assert compact == whole
            np.testing.assert_array_equal(terms, work.terms[1])
            for row in range(net.unit_start[compact_layer + 1], net.unit_start[-1]):
                np.testing.assert_array_equal(planes[row], work.state[1 - work.side[row], row, columns])
        accept = rng.random() < 0.3
        kernel._settle(work, net, accept)
        if accept:
            work.terms[0] = work.terms[1]  # row 0 holds the current terms, as row 1 does between steps
        else:
            params[indices[::-1]] = old[::-1]
            kernel._copy_terms(work.terms, 0)
    assert (0, True) in kinds  # first-layer units through their features' nonzero samples
    assert (0, False) in kinds or per_step > 1  # and as whole rows (a bias, a dense feature)
    assert any(layer > 0 for layer, _ in kinds) or len(sizes) == 3


def test_moves_are_drawn_from_the_candidates_only():
    """The one place that picks which parameters move: from the climber's generator, settings, layout and candidates."""
    layout = Layout((4, 6, 3))
    settings = ClimbSettings(mutation_rate=0.5, max_mutations=3)
    indices, normals = draw_moves(np.random.default_rng(0), 50, settings, layout)
    generator = np.random.default_rng(0)
    np.testing.assert_array_equal(indices, generator.integers(0, layout.num_params, size=(50, 3)))
    np.testing.assert_array_equal(normals, generator.standard_normal((50, 3)))
    owned = np.array([0, 6, 12, 18, 24])  # unit 0's incoming weights and its bias
    indices, normals = draw_moves(np.random.default_rng(1), 400, settings, layout, owned)
    assert indices.shape == normals.shape == (400, settings.mutated_count(5)) == (400, 2)
    assert set(indices.ravel()) == set(owned)
    every, normals = draw_moves(np.random.default_rng(2), 5, ClimbSettings(mutation_rate=1.0), layout)
    assert every is None and normals.shape == (5, layout.num_params)


def test_a_step_moves_at_most_max_mutations_parameters():
    """By default 2% of the parameters, at most round(3000 / parameters): the chapter's 2-64-3 keeps its 8."""
    settings = ClimbSettings()
    sizes = [
        Layout(layers).num_params for layers in ((2, 3, 3), (2, 64, 3), (64, 32, 10), (2, 64, 64, 3), (784, 32, 10))
    ]
    assert [settings.mutated_count(size) for size in sizes] == [1, 8, 1, 1, 1]
    assert ClimbSettings(max_mutations=100).mutated_count(25450) == 100
    assert ClimbSettings(max_mutations=3, mutation_rate=1.0).mutated_count(25450) == 25450  # the chapter's rule
    with pytest.raises(ValueError, match="max_mutations"):
        ClimbSettings(max_mutations=0)


def test_prepared_rows_are_read_only_and_climb_as_the_arrays_do():
    X, y = SPARSE
    rows = pack_rows(X, y)
    assert not any(array.flags.writeable for array in rows if isinstance(array, np.ndarray))
    np.testing.assert_array_equal(dense_inputs(rows), X[np.argsort(y, kind="stable")])
    assert 0 < np.count_nonzero(rows.dense_row >= 0) < X.shape[1]  # dense rows for dense features only
    layout, settings = Layout((24, 8, 4)), ClimbSettings(steps=500)
    seeds = [np.random.SeedSequence(3, spawn_key=(0, climber)) for climber in range(2)]
    for prepared, direct in zip(
        climb_rows(None, seeds, rows, layout, settings), climb_batch(None, seeds, X, y, layout, settings), strict=True
    ):
        assert prepared.params.tobytes() == direct.params.tobytes() and prepared.loss == direct.loss
