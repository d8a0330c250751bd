"""bench/row_shares.py: rounds with shares keep the loss on all rows, never raise it; no shares is today's round."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.common import moved
from bench.row_shares import LAYERS, Run, round_length
from coordinator.config import SearchConfig
from coordinator.rounds.length import round_steps
from workers import from_scratch
from workers.rows import pack_rows, with_loss
from workers.settings import ClimbSettings


def _data(rows: int = 160):
    generator = np.random.default_rng(0)
    labels = np.arange(rows) % 10
    X = generator.random((rows, LAYERS[0])) * (generator.random((rows, LAYERS[0])) < 0.2)
    X[np.arange(rows), labels] += 1.0  # something to learn
    return X, labels, X[:40], labels[:40]


@pytest.mark.parametrize("climbers", [1, 4, 16])
@pytest.mark.parametrize("rows", [4_000, 60_000])
def test_without_shares_a_round_is_as_long_as_the_coordinators(climbers, rows):
    moved_count = ClimbSettings().mutated_count(sum(a * b + b for a, b in itertools.pairwise(LAYERS)))
    passes = 0 if climbers == 1 else 3
    expected = round_steps(SearchConfig(layers=LAYERS, climbers=climbers), climbers, rows)
    assert round_length(rows, rows, climbers, 1, passes, "auto", moved_count) == expected


@pytest.mark.parametrize(("climbers", "shares", "rule"), [(1, 1, "rank"), (3, 1, "rank"), (3, 4, "rank-adapt")])
def test_the_kept_loss_is_the_loss_on_all_rows_and_never_rises(climbers, shares, rule):
    data = _data()
    run = Run(data, climbers, shares, rule, "30", seed=1)
    whole = with_loss(pack_rows(data[0], data[1]), 1e-3, None)
    losses = [run.loss]
    for _ in range(4):
        losses.append(run.step_round()["loss"])
        expected = from_scratch.evaluate_batch(run.params[None, :], whole, run.net)[0][0]
        if shares == 1:
            assert run.loss == expected  # the climbers' own scorer, on all rows
        else:
            np.testing.assert_allclose(run.loss, expected, rtol=1e-12)  # summed share by share
    assert all(later <= earlier for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < losses[0]


def test_a_run_is_a_function_of_its_seed():
    data = _data()
    first, again = Run(data, 3, 4, "rank-adapt", "30", seed=2), Run(data, 3, 4, "rank-adapt", "30", seed=2)
    for _ in range(2):
        first.step_round(), again.step_round()
    assert first.params.tobytes() == again.params.tobytes()


def test_a_moved_digit_keeps_its_pixels_one_place_over():
    image = np.zeros((1, 28, 28))
    image[0, 5, 7] = 1.0
    assert moved(image, 1, -1)[0, 6, 6] == 1.0
    assert moved(image, -1, 0)[0, 4, 7] == 1.0
    assert moved(image, 1, -1).sum() == 1.0


def test_the_benchmark_climbs_on_shares_as_the_search_does():
    """bench/row_shares.py's rank-adapt rounds are the coordinator's own rounds on shares, bit for bit."""
    from coordinator import search

    data = _data()
    run = Run(data, 3, 4, "rank-adapt", "auto", seed=1)
    for _ in range(3):
        run.step_round()
    config = SearchConfig(
        layers=LAYERS, climbers=3, shares=4, rounds=3, seed=1, time_budget=None,
        validation_fraction=0.0, scaling="none", l2=1e-3,
    )  # fmt: skip
    result = search(config, data[0], data[1], executor="inprocess")
    assert result.config.steps == run.steps
    assert result.best_loss == run.loss
    assert result.params.tobytes() == run.params.tobytes()
