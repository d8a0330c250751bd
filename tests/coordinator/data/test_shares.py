"""Row shares of the training rows: stratified, seeded, balanced; "auto"'s count; what cannot be shared."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator.data.shares import assign_shares, auto_shares, share_problem, share_rows


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


@pytest.mark.parametrize(("shares", "words"), [(11, "leave a share empty"), (5, "class 1 has 3 training rows")])
def test_bad_share_counts_are_named(shares, words):
    labels = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])
    problem = share_problem(labels, 10, shares)
    assert problem.startswith("shares: ") and words in problem


def test_a_fitting_share_count_has_no_problem():
    assert share_problem(np.arange(20) % 2, 20, 4) is None
    assert share_problem(None, 20, 20) is None
    with pytest.raises(ValueError, match="shares: 21"):
        assign_shares(None, 20, 21, seed=0)


def test_the_default_shares_follow_the_rows_and_never_the_workers():
    mnist = 25_508 / 111  # pass_work / step_work on 784-32-10, one parameter a step
    assert [auto_shares(rows, mnist) for rows in (300, 1_499, 3_000, 4_000, 48_000, 60_000, 10**7)] == [
        1, 1, 3, 4, 14, 16, 64,
    ]  # fmt: skip
    assert auto_shares(60_000, mnist, smallest_class=5) == 5
    digits, spiral = 2_468 / 111, 350 / 62  # 64-32-10 and 2-64-3: small data stays on every row
    assert auto_shares(1_078, digits) == auto_shares(300, spiral) == 1
