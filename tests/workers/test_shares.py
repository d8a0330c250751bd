"""Row shares: the split is stratified and seeded, and the loss on all rows is the same bits however it is made."""

from __future__ import annotations

import numpy as np
import pytest

from workers import kernel
from workers.climbs import prepare_rows
from workers.network import Layout, init_params
from workers.objective import SQUARED_ERROR
from workers.settings import ClimbSettings
from workers.shares import (
    assign_shares,
    auto_shares,
    climber_share,
    improvement_order,
    mover_direction,
    partial_sums,
    share_l2,
    share_means,
    share_problem,
    share_rows,
    total_loss,
    weighted_direction,
)

LAYOUT = Layout((6, 5, 3))


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
    assignment = assign_shares(labels, len(X), shares, seed=5)
    parts = []
    for share in order:
        rows = share_rows(assignment, shares)[share]
        problem = kernel.with_objective(prepare_rows(X[rows], labels[rows]), l2, loss)
        parts.append(partial_sums(batch, problem, LAYOUT.arrays, len(X), share))
    squares = np.array([kernel.squared_weights(params, LAYOUT.arrays) for params in batch])
    problem_kind = kernel.with_objective(prepare_rows(X[:3], labels[:3]), 0.0, loss).loss_kind
    return total_loss(parts, squares, l2, problem_kind)


def test_shares_are_stratified_and_balanced():
    labels = np.repeat([0, 1, 2], [50, 31, 19])
    assignment = assign_shares(labels, len(labels), 4, seed=3)
    sizes = np.bincount(assignment, minlength=4)
    assert sizes.max() - sizes.min() <= 1
    for label in range(3):
        per_share = np.bincount(assignment[labels == label], minlength=4)
        assert per_share.max() - per_share.min() <= 1


def test_shares_are_a_function_of_the_seed():
    labels = np.repeat([0, 1], [40, 40])
    first = assign_shares(labels, 80, 4, seed=3)
    assert np.array_equal(first, assign_shares(labels, 80, 4, seed=3))
    assert not np.array_equal(first, assign_shares(labels, 80, 4, seed=4))


def test_a_regressors_rows_are_dealt_evenly():
    assignment = assign_shares(None, 10, 3, seed=0)
    assert sorted(np.bincount(assignment).tolist()) == [3, 3, 4]


def test_share_rows_partition_the_rows():
    assignment = assign_shares(np.arange(30) % 3, 30, 4, seed=1)
    rows = share_rows(assignment, 4)
    assert np.array_equal(np.sort(np.concatenate(rows)), np.arange(30))
    assert all(np.all(np.diff(part) > 0) for part in rows)


@pytest.mark.parametrize(
    ("shares", "words"),
    [(0, "at least 1"), (11, "leave a share empty"), (5, "class 1 has 3 training rows")],
)
def test_bad_share_counts_are_named(shares, words):
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    problem = share_problem(labels, 10, shares)
    assert problem.startswith("shares: ") and words in problem


def test_a_fitting_share_count_has_no_problem():
    assert share_problem(np.arange(20) % 2, 20, 4) is None
    assert share_problem(None, 20, 20) is None
    with pytest.raises(ValueError, match="shares: 21"):
        assign_shares(None, 20, 21, seed=0)


@pytest.mark.parametrize(("loss", "l2"), [("cross_entropy", 0.0), ("cross_entropy", 0.5), ("error", 0.1)])
def test_one_share_is_the_kernels_loss_bit_for_bit(loss, l2):
    X, labels = _data()
    batch = _networks()
    losses, accuracies = _loss_on_shares(X, labels, 1, batch, l2, loss, [0])
    problem = kernel.with_objective(prepare_rows(X, labels), l2, loss)
    expected_losses, expected_accuracies = kernel.score(batch, problem, LAYOUT.arrays)
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
    problem = kernel.with_objective(prepare_rows(X, labels), 0.2, loss)
    whole = kernel.score(batch, problem, LAYOUT.arrays)
    np.testing.assert_allclose(forward[0], whole[0], rtol=1e-12)  # the same loss, summed in another order
    assert np.array_equal(forward[1], whole[1])  # counts add exactly


def test_a_missing_share_is_refused():
    X, labels = _data()
    problem = prepare_rows(X, labels)
    part = partial_sums(_networks(1), problem, LAYOUT.arrays, len(X), share=1)
    with pytest.raises(ValueError, match="every share once"):
        total_loss([part], np.zeros(1), 0.0, problem.loss_kind)


def test_a_regressors_partial_sums_add_up_to_its_loss():
    generator = np.random.default_rng(2)
    X, targets = generator.normal(size=(41, 6)), generator.normal(size=(41, 3))
    batch = _networks(2)
    whole = kernel.score(batch, prepare_rows(X, None, targets, "mse"), LAYOUT.arrays)[0]
    assignment = assign_shares(None, 41, 3, seed=0)
    parts = [
        partial_sums(batch, prepare_rows(X[rows], None, targets[rows], "mse"), LAYOUT.arrays, 41, share)
        for share, rows in enumerate(share_rows(assignment, 3))
    ]
    losses, accuracies = total_loss(parts, np.zeros(2), 0.0, SQUARED_ERROR)
    np.testing.assert_allclose(losses, whole, rtol=1e-12)
    assert np.isnan(accuracies).all()


def test_a_share_mean_is_what_a_climber_on_the_share_measures():
    X, labels = _data()
    assignment = assign_shares(labels, len(X), 3, seed=1)
    rows = share_rows(assignment, 3)[2]
    l2 = 0.3
    settings = ClimbSettings(steps=1, l2=share_l2(l2, len(rows), len(X)))
    problem = kernel.with_objective(prepare_rows(X[rows], labels[rows]), l2, None)
    batch = _networks(1)
    part = partial_sums(batch, problem, LAYOUT.arrays, len(X), share=0)
    squares = np.array([kernel.squared_weights(batch[0], LAYOUT.arrays)])
    mean = share_means([part], squares, l2, len(X))[0, 0]
    climber_problem = kernel.with_objective(prepare_rows(X[rows], labels[rows]), settings.l2, None)
    climber_loss = kernel.score(batch, climber_problem, LAYOUT.arrays)[0][0]
    np.testing.assert_allclose(mean, climber_loss, rtol=1e-12)


def test_every_share_is_climbed_every_round_when_climbers_are_enough():
    for round_index in range(5):
        assert sorted(climber_share(round_index, climber, 4) for climber in range(4)) == [0, 1, 2, 3]
    assert [climber_share(round_index, 0, 4) for round_index in range(5)] == [0, 1, 2, 3, 0]


def test_mover_direction_keeps_disjoint_changes_whole_and_averages_shared_ones():
    start = np.zeros(4)
    ends = np.array([[1.0, 0.0, 2.0, 0.0], [0.0, 3.0, 4.0, 0.0]])
    weights = np.array([0.75, 0.25])
    direction = mover_direction(start, ends, weights)
    assert direction.tolist() == [1.0, 3.0, 0.75 * 2.0 + 0.25 * 4.0, 0.0]
    assert weighted_direction(start, ends, weights).tolist() == [0.75, 0.75, 2.5, 0.0]


def test_improvers_are_ranked_by_the_fall_of_their_shares_loss():
    order = improvement_order(np.array([1.0, 2.0, 1.5, 1.0]), np.array([0.9, 1.5, 1.6, 0.5]), np.arange(4))
    assert order.tolist() == [1, 3, 0]  # climber 2 rose on its share; a NaN never improves
    assert improvement_order(np.array([1.0]), np.array([np.nan]), np.arange(1)).tolist() == []


def test_the_default_shares_follow_the_rows_and_never_the_workers():
    mnist = 25_508 / 111  # pass_work / step_work on 784-32-10, one parameter a step
    assert [auto_shares(rows, mnist) for rows in (300, 4_000, 60_000, 10**7)] == [1, 4, 16, 64]
    assert auto_shares(60_000, mnist, smallest_class=5) == 5
    assert auto_shares(3, 0.001) == 3  # never more shares than rows
