"""Weight grids, hidden activations and the error loss: plain formulas, both engines, the grid kept exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coordinator.data.datasets import nnfs_data
from workers import ClimbSettings, Layout, Solution, climb, climb_batch, evaluate, grid
from workers.losses import CLIP, TIE_BOUND
from workers.network import error_terms, evaluate_compiled, init_params, logits, softmax

SPIRAL = nnfs_data("spiral", 100, 3)


def test_a_step_on_a_grid_goes_to_the_nearest_level_and_always_moves():
    move = grid.move_on_grid
    # ternary, scale 0.5: levels -0.5, 0, 0.5
    assert move(0.0, 0.4, 0.5, 1.0, 1.0) == 0.5  # nearest to 0.4 is 0.5
    assert move(0.0, 0.1, 0.5, 1.0, 1.0) == 0.5  # nearest is 0 itself: one level toward the change
    assert move(0.0, -0.1, 0.5, 1.0, 1.0) == -0.5
    assert move(0.5, 3.0, 0.5, 1.0, 1.0) == 0.0  # beyond the top: back from the edge
    assert move(-0.5, 0.9, 0.5, 1.0, 1.0) == 0.5  # two levels at once
    # binary: every step flips
    assert move(0.25, 0.01, 0.25, 1.0, 2.0) == -0.25
    assert move(-0.25, -5.0, 0.25, 1.0, 2.0) == 0.25
    assert move(-0.25, 0.3, 0.25, 1.0, 2.0) == 0.25
    # int8, scale 2**-6: a large step clips at 127 levels
    scale = 2.0**-6
    assert move(3 * scale, 10.0, scale, 127.0, 1.0) == 127 * scale
    assert move(127 * scale, 1e-9, scale, 127.0, 1.0) == 126 * scale
    assert move(5 * scale, 2.4 * scale, scale, 127.0, 1.0) == 7 * scale


@pytest.mark.parametrize("kind", ["int8", "ternary", "binary"])
def test_the_numpy_grid_move_gives_the_scalar_ones_bits(kind):
    generator = np.random.default_rng(3)
    top, stride = grid.LEVELS[kind]
    scale = grid.layer_scale(kind, 32)
    levels = generator.integers(-top, top + 1, 500).astype(float)
    if kind == "binary":
        levels = np.where(levels >= 0, 1.0, -1.0)
    old = scale * levels
    change = generator.standard_normal(500) * np.exp(generator.uniform(-8, 3, 500))
    moved = grid.move_on_grid_array(old, change, scale, top, stride)
    expected = [grid.move_on_grid(a, b, scale, float(top), float(stride)) for a, b in zip(old, change, strict=True)]
    assert moved.tobytes() == np.array(expected).tobytes()
    assert np.all(moved != old)  # every step moves
    assert np.all(np.abs(moved / scale) <= top) and np.all(np.rint(moved / scale) * scale == moved)


def test_scales_are_powers_of_two_and_levels_round_trip():
    for kind in ("int8", "ternary", "binary"):
        layout = Layout((64, 32, 10), weights=kind)
        assert all(math.log2(scale).is_integer() for scale in layout.scales)
        params = init_params(layout, np.random.default_rng(0))
        levels = layout.levels(params)
        assert [level.dtype for level in levels] == [np.int8, np.int8]
        assert np.array_equal(layout.snap(params), params)
        for (weights, _), level, scale in zip(layout.unpack(params), levels, layout.scales, strict=True):
            assert np.array_equal(level * scale, weights)
    assert Layout((64, 32, 10), weights="ternary").scales == (2.0**-3, 2.0**-2)  # at or above 1 / sqrt(inputs)
    assert Layout((2, 64, 3), weights="binary").scales == (1.0, 2.0**-3)
    assert Layout((64, 32, 10), weights="int8").scales == (2.0**-6, 2.0**-5)  # 16 / 127 / sqrt(inputs) rounded
    assert Layout((64, 32, 10)).scales == (0.0, 0.0)
    ternary = Layout((2, 4, 3), weights="ternary")
    with pytest.raises(ValueError, match="off the ternary grid"):
        ternary.levels(np.full(ternary.num_params, 0.3))
    near_zero = ternary.snap(np.full(ternary.num_params, 0.4 * ternary.scales[0]))
    assert set(near_zero[:8]) == {0.0} and set(near_zero[8:12]) == {0.4 * ternary.scales[0]}  # biases stay


@pytest.mark.parametrize("activation", ["relu", "tanh", "sign", "step"])
def test_activations_follow_their_formulas_in_both_engines(activation):
    X, y = SPIRAL
    layout = Layout((2, 8, 3), activation=activation)
    params = np.random.default_rng(1).standard_normal((3, layout.num_params))
    (w1, b1), (w2, b2) = layout.unpack(params[0])
    pre = X @ w1 + b1
    hidden = {
        "relu": np.maximum(pre, 0),
        "tanh": np.tanh(pre),
        "sign": np.where(pre >= 0, 1.0, -1.0),
        "step": (pre >= 0).astype(float),
    }[activation]
    probabilities = softmax(hidden @ w2 + b2)
    expected = -np.mean(np.log(np.clip(probabilities[np.arange(len(y)), y], CLIP, 1 - CLIP)))
    assert np.isclose(evaluate(params[0], X, y, layout)[0], expected, rtol=1e-12)
    compiled, _ = evaluate_compiled(params, X, y, layout)
    np.testing.assert_allclose(compiled, evaluate(params, X, y, layout)[0], rtol=1e-12)


def test_the_error_objective_counts_errors_and_breaks_ties_by_cross_entropy():
    X, y = SPIRAL
    layout = Layout((2, 8, 3), activation="step", weights="ternary")
    settings = ClimbSettings(steps=400, weights="ternary", activation="step")
    params = climb(None, 4, X, y, Layout((2, 8, 3)), settings).params
    values = logits(params, X, layout)
    probabilities = softmax(values)
    errors = np.mean(np.argmax(values, axis=1) != y)
    entropy = -np.log(np.clip(probabilities[np.arange(len(y)), y], CLIP, 1 - CLIP))
    expected = errors + np.mean(entropy) / (len(y) * TIE_BOUND)
    reference, accuracy = evaluate(params, X, y, layout, loss="error")
    assert np.isclose(reference, expected, rtol=1e-12) and accuracy == pytest.approx(1 - errors)
    assert 0.1 < errors < 0.6  # a network that gets some right and some wrong
    assert np.isclose(evaluate_compiled(params, X, y, layout, loss="error")[0], reference, rtol=1e-12)
    assert np.mean(error_terms(values, probabilities, y)) == pytest.approx(reference, rel=1e-12)
    # the cross-entropy part never outweighs one error
    assert (reference - errors) * len(y) < 1.0


def test_ties_go_to_the_first_class_in_the_error_count():
    values = np.array([[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.5, 0.5, 0.5]])
    wrong = error_terms(values, softmax(values), np.array([0, 1, 2])) >= 1
    assert wrong.tolist() == [False, True, True]


VARIANTS = {
    "ternary relu, cross-entropy": dict(weights="ternary"),
    "binary sign, error": dict(weights="binary", activation="sign", loss="error"),
    "int8 step, error": dict(weights="int8", activation="step", loss="error"),
    "ternary tanh, error": dict(weights="ternary", activation="tanh", loss="error"),
    "float step, error": dict(activation="step", loss="error"),
    "ternary step, every parameter a step": dict(weights="ternary", activation="step", mutation_rate=1.0),
}


@pytest.mark.parametrize("sizes", [(2, 16, 3), (2, 6, 5, 3)])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_engines_walk_the_same_path_on_grids_and_steps(sizes, variant):
    X, y = SPIRAL
    layout = Layout(sizes)
    settings = dict(steps=700, **VARIANTS[variant])
    compiled = climb(None, 11, X, y, layout, ClimbSettings(engine="numba", **settings))
    reference = climb(None, 11, X, y, layout, ClimbSettings(engine="numpy", **settings))
    assert compiled.params.tobytes() == reference.params.tobytes()
    assert compiled.step_sizes.tobytes() == reference.step_sizes.tobytes()
    network = Layout(sizes, settings.get("activation", "relu"), settings.get("weights", "float"))
    start = init_params(network, np.random.Generator(np.random.PCG64(11)))
    assert compiled.loss < evaluate(start, X, y, network, loss=settings.get("loss", "cross_entropy"))[0]
    if network.on_grid:
        network.levels(compiled.params)  # every weight on its grid: raises otherwise


def test_a_climb_on_a_grid_keeps_every_weight_on_it_and_starts_from_the_nearest_levels():
    X, y = SPIRAL
    layout = Layout((2, 32, 3), weights="ternary")
    draws = np.random.default_rng(2).standard_normal(layout.num_params)
    float_start = Solution(draws, np.full(layout.num_params, 0.05))
    settings = ClimbSettings(steps=3000, weights="ternary", activation="sign", loss="error")
    outcomes = climb_batch(float_start, [1, 2], X, y, Layout((2, 32, 3)), settings)
    start_loss = evaluate(layout.snap(float_start.params), X, y, Layout((2, 32, 3), "sign", "ternary"), loss="error")[0]
    for outcome in outcomes:
        levels = layout.levels(outcome.params)
        assert {int(value) for level in levels for value in np.unique(level)} <= {-1, 0, 1}
        assert outcome.loss < start_loss


def test_random_search_on_a_grid_is_refused():
    with pytest.raises(ValueError, match="random search draws float weights"):
        ClimbSettings(weights="binary", strategy="random")
    with pytest.raises(ValueError, match="random search draws float weights"):
        ClimbSettings(weights="int8", random_steps=10)
