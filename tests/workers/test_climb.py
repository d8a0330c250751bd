"""Hill climbs: both engines walk the same path, a climber is the same alone or in a crowd, loss never rises."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from coordinator.data import nnfs_data
from workers import ClimbSettings, Layout, Solution, climb, climb_batch, evaluate, kernel
from workers.climb import BLOCK_STEPS

SPIRAL = nnfs_data("spiral", 100, 3)

VARIANTS = {
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


def test_incremental_evaluation_does_not_drift():
    """After 20,000 sparse steps the kernel's cached loss equals a fresh forward pass."""
    X, y = SPIRAL
    layout = Layout((2, 64, 3))
    rng = np.random.default_rng(0)
    params = 0.01 * rng.standard_normal(layout.num_params)
    step_sizes = np.full(layout.num_params, 0.05)
    steps, mutated = 20_000, 4
    indices = rng.integers(0, layout.num_params, size=(steps, mutated))
    noise = rng.standard_normal((steps, mutated))
    inputs = np.ascontiguousarray(X.T, dtype=np.float64)
    cached_loss = kernel.adjust_sparse(
        params, step_sizes, inputs, y.astype(np.int64), np.asarray(layout.sizes), indices, noise,
        True, 2.0, 2.0**-0.25, True, 1e-9, 1e3,
    )  # fmt: skip
    fresh_loss = evaluate(params, X, y, layout)[0]
    assert cached_loss < 0.8
    assert abs(cached_loss - fresh_loss) <= 1e-9


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
