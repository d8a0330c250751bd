"""Row shares: the split is stratified and seeded, and the loss on all rows is the same bits however it is made."""

from __future__ import annotations

import numpy as np
import pytest

from workers import from_scratch
from workers.losses import SQUARED_ERROR
from workers.network import Layout, init_params
from workers.rows import pack_rows, with_loss
from workers.settings import ClimbSettings
from workers.shares import partial_sums, share_l2, share_means, total_loss

LAYOUT = Layout((6, 5, 3))


def _split(rows: int, shares: int) -> list[np.ndarray]:
    """Rows dealt to the shares in turn (row r to share r mod shares): a split of the rows, ascending."""
    return [np.arange(share, rows, shares) for share in range(shares)]


def _data(rows: int = 203, seed: int = 0):
    generator = np.random.default_rng(seed)
    X = generator.normal(size=(rows, 6))
    X[generator.random(X.shape) < 0.6] = 0.0  # mostly zeros: listed features, as MNIST's pixels
    labels = generator.integers(0, 3, size=rows)
    return X, labels


def _networks(count: int = 3):
    generator = np.random.default_rng(7)
    return np.stack([init_params(LAYOUT, generator) * 3 for _ in range(count)])  # (B, P)


def _loss_on_shares(X, labels, shares, batch, l2, loss, order):
    """The loss on all rows from partial sums computed share by share in the given order."""
    parts = []
    for share in order:
        rows = _split(len(X), shares)[share]
        problem = with_loss(pack_rows(X[rows], labels[rows]), l2, loss)
        parts.append(partial_sums(batch, problem, LAYOUT.arrays, len(X), share))
    squares = np.array([from_scratch.squared_weights(params, LAYOUT.arrays) for params in batch])
    problem_kind = with_loss(pack_rows(X[:3], labels[:3]), 0.0, loss).loss_kind
    return total_loss(parts, squares, l2, problem_kind)


@pytest.mark.parametrize(("loss", "l2"), [("cross_entropy", 0.0), ("cross_entropy", 0.5), ("error", 0.1)])
def test_one_share_is_the_kernels_loss_bit_for_bit(loss, l2):
    X, labels = _data()
    batch = _networks()
    losses, accuracies = _loss_on_shares(X, labels, 1, batch, l2, loss, [0])
    problem = with_loss(pack_rows(X, labels), l2, loss)
    expected_losses, expected_accuracies = from_scratch.evaluate_batch(batch, problem, LAYOUT.arrays)
    assert losses.tobytes() == expected_losses.tobytes()
    assert accuracies.tobytes() == expected_accuracies.tobytes()


@pytest.mark.parametrize("loss", ["cross_entropy", "error"])
def test_the_loss_on_all_rows_is_the_same_whoever_makes_each_share(loss):
    X, labels = _data()
    batch = _networks()
    forward = _loss_on_shares(X, labels, 4, batch, 0.2, loss, [0, 1, 2, 3])
    scattered = _loss_on_shares(X, labels, 4, batch, 0.2, loss, [2, 0, 3, 1])
    assert forward[0].tobytes() == scattered[0].tobytes()
    assert forward[1].tobytes() == scattered[1].tobytes()
    problem = with_loss(pack_rows(X, labels), 0.2, loss)
    whole = from_scratch.evaluate_batch(batch, problem, LAYOUT.arrays)
    np.testing.assert_allclose(forward[0], whole[0], rtol=1e-12)  # the same loss, summed in another order
    assert np.array_equal(forward[1], whole[1])  # counts add exactly


def test_a_missing_share_is_refused():
    X, labels = _data()
    problem = pack_rows(X, labels)
    part = partial_sums(_networks(1), problem, LAYOUT.arrays, len(X), share=1)
    with pytest.raises(ValueError, match="every share once"):
        total_loss([part], np.zeros(1), 0.0, problem.loss_kind)


def test_a_regressors_partial_sums_add_up_to_its_loss():
    generator = np.random.default_rng(2)
    X, targets = generator.normal(size=(41, 6)), generator.normal(size=(41, 3))
    batch = _networks(2)
    whole = from_scratch.evaluate_batch(batch, pack_rows(X, None, targets, "mse"), LAYOUT.arrays)[0]
    parts = [
        partial_sums(batch, pack_rows(X[rows], None, targets[rows], "mse"), LAYOUT.arrays, 41, share)
        for share, rows in enumerate(_split(41, 3))
    ]
    losses, accuracies = total_loss(parts, np.zeros(2), 0.0, SQUARED_ERROR)
    np.testing.assert_allclose(losses, whole, rtol=1e-12)
    assert np.isnan(accuracies).all()


def test_a_share_mean_is_what_a_climber_on_the_share_measures():
    X, labels = _data()
    rows = _split(len(X), 3)[2]
    l2 = 0.3
    settings = ClimbSettings(steps=1, l2=share_l2(l2, len(rows), len(X)))
    problem = with_loss(pack_rows(X[rows], labels[rows]), l2, None)
    batch = _networks(1)
    part = partial_sums(batch, problem, LAYOUT.arrays, len(X), share=0)
    squares = np.array([from_scratch.squared_weights(batch[0], LAYOUT.arrays)])
    mean = share_means([part], squares, l2, len(X))[0, 0]
    climber_problem = with_loss(pack_rows(X[rows], labels[rows]), settings.l2, None)
    climber_loss = from_scratch.evaluate_batch(batch, climber_problem, LAYOUT.arrays)[0][0]
    np.testing.assert_allclose(mean, climber_loss, rtol=1e-12)
