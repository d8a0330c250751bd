"""A regressor's objective: the compiled kernel, the numpy reference and the book's formulas agree, step for step."""

from __future__ import annotations

import numpy as np
import pytest

from workers import kernel
from workers.climbs import climb_rows
from workers.network import Layout, evaluate, evaluate_compiled, logits
from workers.rows import pack_rows, with_l2
from workers.settings import ClimbSettings


def _data(samples=120, features=3, outputs=1, zeros=0.0, seed=0):
    generator = np.random.default_rng(seed)
    X = generator.standard_normal((samples, features))
    X[generator.random(X.shape) < zeros] = 0.0
    y = np.sin(X[:, :1] * np.arange(1, outputs + 1)) + 0.1 * X[:, 1:2]  # (S, T)
    return X, y


def _book_loss(params, X, y, layout, loss):
    """nnfs's Loss_MeanSquaredError / Loss_MeanAbsoluteError: the mean over outputs, then over samples."""
    outputs = np.asarray(X, dtype=np.float64)
    for index, (weights, biases) in enumerate(layout.unpack(params)):
        outputs = outputs @ weights + biases
        outputs = np.maximum(0, outputs) if index < len(layout.sizes) - 2 else outputs  # a linear output
    per_sample = np.mean((y - outputs) ** 2 if loss == "mse" else np.abs(y - outputs), axis=-1)
    return np.mean(per_sample)


@pytest.mark.parametrize("loss", ["mse", "mae"])
@pytest.mark.parametrize("sizes", [(3, 8, 1), (3, 6, 5, 2)])
def test_kernel_numpy_and_the_books_formula_agree(loss, sizes):
    X, y = _data(outputs=sizes[-1])
    layout = Layout(sizes)
    params = np.random.default_rng(1).standard_normal((4, layout.num_params))
    compiled, r2 = evaluate_compiled(params, X, y, layout, 0.0, loss)
    reference, reference_r2 = evaluate(params, X, y, layout, 0.0, loss)
    book = [_book_loss(row, X, y, layout, loss) for row in params]
    np.testing.assert_allclose(compiled, book, rtol=1e-12)
    np.testing.assert_allclose(reference, book, rtol=1e-12)
    # R^2 as scikit-learn's r2_score gives it (the mean over outputs)
    from sklearn.metrics import r2_score

    expected = [r2_score(y, logits(row, X, layout)) for row in params]
    np.testing.assert_allclose(r2, expected, rtol=1e-10)
    np.testing.assert_allclose(reference_r2, expected, rtol=1e-10)
    # with an L2 term: the same penalty as a classifier's
    with_l2 = evaluate_compiled(params, X, y, layout, 0.5, loss)[0]
    squares = sum(np.sum(weights**2, axis=(-2, -1)) for weights, _ in layout.unpack(params))
    np.testing.assert_allclose(with_l2, compiled + 0.5 / (2 * len(X)) * squares, rtol=1e-12)


@pytest.mark.parametrize(
    ("sizes", "zeros", "loss"),
    [
        ((3, 16, 1), 0.0, "mse"),
        ((3, 16, 16, 2), 0.0, "mae"),
        ((12, 32, 8, 1), 0.8, "mse"),  # mostly-zero inputs: compact first-layer steps on listed features
    ],
)
def test_engines_walk_the_same_path(sizes, zeros, loss):
    X, y = _data(samples=300, features=sizes[0], outputs=sizes[-1], zeros=zeros)
    rows = pack_rows(X, None, y, loss)
    layout = Layout(sizes)
    outcomes = {
        engine: climb_rows(None, [3, 4], rows, layout, ClimbSettings(steps=700, engine=engine, l2=0.01))
        for engine in ("numba", "numpy")
    }
    for compiled, reference in zip(outcomes["numba"], outcomes["numpy"], strict=True):
        np.testing.assert_allclose(compiled.params, reference.params, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(compiled.step_sizes, reference.step_sizes, rtol=1e-9)
        assert compiled.loss == reference.loss  # both reported by the compiled scorer
        start = evaluate_compiled(np.zeros(layout.num_params), X, y, layout, 0.01, loss)[0]
        assert compiled.loss < start


def test_incremental_loss_is_the_from_scratch_loss():
    """Many accepted incremental steps later, the climber's loss is its network's loss from scratch."""
    X, y = _data(samples=400, features=10, zeros=0.7)
    layout = Layout((10, 32, 16, 1))
    rows = pack_rows(X, None, y, "mse")
    settings = ClimbSettings(steps=9000, l2=0.001)
    outcome = climb_rows(None, [5], rows, layout, settings)[0]
    problem = with_l2(rows, settings.l2)
    work, compact = kernel.workspace(problem, layout.arrays)
    params, sigma = outcome.params.copy(), outcome.step_sizes.copy()
    indices = np.zeros((1, 1), dtype=np.int64)
    rule = kernel.StepRule(False, 2.0, 0.5, True, 1e-9, 1e3)
    carried = kernel.adjust_sparse(params, sigma, indices, np.zeros((1, 1)), rule, problem, layout.arrays, work,
                                   compact, True)  # fmt: skip
    assert carried == pytest.approx(evaluate_compiled(outcome.params, X, y, layout, 0.001, "mse")[0], rel=1e-12)
    assert outcome.loss == evaluate_compiled(outcome.params, X, y, layout, 0.001, "mse")[0]


def test_a_regression_climb_never_loses_ground_and_repeats_exactly():
    X, y = _data()
    layout = Layout((3, 16, 1))
    rows = pack_rows(X, None, y, "mae")
    first = climb_rows(None, [7], rows, layout, ClimbSettings(steps=500))[0]
    again = climb_rows(None, [7], rows, layout, ClimbSettings(steps=500))[0]
    assert first.params.tobytes() == again.params.tobytes()
    further = climb_rows(first and _solution(first), [8], rows, layout, ClimbSettings(steps=500))[0]
    assert further.loss <= first.loss


def _solution(outcome):
    from workers import Solution

    return Solution(outcome.params, outcome.step_sizes)


def test_prepared_targets_are_read_only_and_checked():
    X, y = _data()
    rows = pack_rows(X, None, y[:, 0], "mse")  # (S,) is one target
    assert rows.targets.shape == (1, len(X)) and not rows.targets.flags.writeable
    with pytest.raises(ValueError, match="targets"):
        pack_rows(X, None, y[:10], "mse")
