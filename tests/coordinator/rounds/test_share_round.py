"""Rounds on row shares: each climber on its share, the best kept on all rows, one answer wherever shares are held."""

from __future__ import annotations

import math

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, load_result, search
from coordinator.rounds.best import Best
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.prepare import prepare_run
from coordinator.rounds.share_round import ADAPT_LOW, climber_share, improvement_order, share_round_best
from tests.coordinator.cli_runner import assert_one_line_error, run_cli
from tests.coordinator.on_actors import ON_ACTORS, KillOneWorker, assert_ran_on_actors
from workers import ClimbOutcome, ClimbReport, Layout
from workers.network import evaluate
from workers.shares import PartialSums


def _rows(count: int = 2_400, seed: int = 0):
    """Rows of 12 mostly-zero features and 3 classes, many enough for three shares of 640 training rows."""
    generator = np.random.default_rng(seed)
    X = generator.normal(size=(count, 12))
    X[generator.random(X.shape) < 0.5] = 0.0
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 0.5)
    return X, y


CONFIG = SearchConfig(hidden=(6,), climbers=3, steps=600, rounds=3, time_budget=None, shares=3)


@pytest.fixture(scope="module")
def in_process_result():
    X, y = _rows()
    return search(CONFIG, X, y, executor="inprocess")


def test_every_share_is_climbed_every_round_when_climbers_are_enough():
    for round_index in range(5):
        assert sorted(climber_share(round_index, climber, 4) for climber in range(4)) == [0, 1, 2, 3]
    assert [climber_share(round_index, 0, 4) for round_index in range(5)] == [0, 1, 2, 3, 0]


def _report(climber: int, loss: float, params) -> ClimbReport:
    params = np.asarray(params, dtype=np.float64)
    return ClimbReport(0, climber, ClimbOutcome(params, np.full_like(params, 0.1), loss, math.nan, 10))


def test_improvers_are_ranked_by_the_fall_of_their_shares_loss():
    reports = [_report(climber, loss, [0.0]) for climber, loss in enumerate([0.9, 1.5, 1.6, 0.5])]
    ranked = improvement_order(np.array([1.0, 2.0, 1.5, 1.0]), reports)
    assert [report.climber_index for report in ranked] == [1, 3, 0]  # climber 2 rose on its share
    assert improvement_order(np.array([1.0]), [_report(0, math.nan, [0.0])]) == []  # a NaN never improves


def _parts(losses) -> list[PartialSums]:
    return [PartialSums(0, 1, np.asarray(losses, dtype=np.float64), np.zeros(len(losses), dtype=np.int64))]


def _start(loss: float = 1.0) -> Best:
    return Best(-1, -1, ClimbOutcome(np.zeros(2), np.full(2, 0.1), loss, 0.5, 0))


def test_the_lengths_follow_what_won():
    reports = [_report(c, 0.5, [1.0, float(c)]) for c in range(8)]  # every climber fell: 8 improvers
    start_losses = np.ones(8)
    seen = []

    def evaluator(candidates):
        seen.append(candidates.copy())
        losses = np.array([0.9, 0.8, 0.7])  # the longest wins
        return losses, np.zeros(3), _parts(losses)

    longest = share_round_best(_start(), _parts([1.0]), reports, start_losses, 1.0, evaluator, 0)
    assert longest.scale == 2.0 and longest.combined and longest.best.loss == 0.7
    assert longest.best.outcome.params.tolist() == (4.0 * seen[0][0]).tolist()  # lengths 1, 2, 4 of the scale
    capped = share_round_best(_start(), _parts([1.0]), reports, start_losses, 2.0, evaluator, 0)
    assert capped.scale == 2.0  # at most a quarter of the improvers
    worse = lambda candidates: (np.full(3, 2.0), np.zeros(3), _parts([2.0] * 3))  # noqa: E731
    none = share_round_best(_start(), _parts([1.0]), reports, start_losses, 1.0, worse, 0)
    assert none.scale == 0.5 and not none.combined and none.best.loss == 1.0 and none.coordinator_evaluations == 3
    floor = share_round_best(_start(), _parts([1.0]), reports, start_losses, ADAPT_LOW, worse, 0)
    assert floor.scale == ADAPT_LOW


def test_one_improver_is_a_candidate_itself_and_no_improver_costs_nothing():
    reports = [_report(0, 0.5, [3.0, 3.0]), _report(1, 2.0, [9.0, 9.0])]

    def evaluator(candidates):
        assert len(candidates) == 4 and candidates[3].tolist() == [3.0, 3.0]  # its own network, last
        losses = np.array([0.9, 0.95, 0.97, 0.4])
        return losses, np.zeros(4), _parts(losses)

    kept = share_round_best(_start(), _parts([1.0]), reports, np.ones(2), 1.0, evaluator, 0)
    assert kept.winning_climber == 0 and not kept.combined and kept.best.loss == 0.4 and kept.scale == 1.0
    idle = share_round_best(_start(), _parts([1.0]), reports, np.zeros(2), 1.0, lambda c: pytest.fail("evaluated"), 0)
    assert idle.best.loss == 1.0 and idle.coordinator_evaluations == 0 and idle.top_climber is None


def test_a_run_on_shares_keeps_its_loss_on_every_row_and_never_rises(in_process_result):
    result = in_process_result
    assert result.config.shares == 3 and result.data.shares == 3 and result.data.share_rows == [640]
    losses = [record.best_loss for record in result.history]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]
    assert all(record.winning_share in (0, 1, 2) for record in result.history)
    # The kept loss is the network's loss on every training row (partial sums added in share order: the same value
    # to the last bits the summation order allows).
    prepared = prepare_run(CONFIG, *_rows())
    expected = evaluate(result.params, prepared.dataset.X, prepared.dataset.labels, result.layout, result.config.l2)
    assert math.isclose(result.best_loss, float(expected[0]), rel_tol=1e-12)
    assert result.best_accuracy == float(expected[1])


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_ray_gives_the_same_bits_for_any_number_of_workers(ray_local, in_process_result, workers):
    """1 and 2 workers hold several shares each; 4 workers hold one each, share 0 on two of them."""
    X, y = _rows()
    result = search(CONFIG.model_copy(update={"workers": workers, **ON_ACTORS}), X, y)
    assert_ran_on_actors(result, actors=min(workers, 3))
    assert result.params.tobytes() == in_process_result.params.tobytes()
    assert [r.best_loss for r in result.history] == [r.best_loss for r in in_process_result.history]


def test_a_worker_killed_mid_round_changes_nothing(ray_local, in_process_result):
    X, y = _rows()
    config = CONFIG.model_copy(update={"workers": 2, **ON_ACTORS})
    prepared = prepare_run(config, X, y)
    executor = RayExecutor(prepared.dataset, prepared.config, share_indices=prepared.share_indices)
    executor.wait_until_ready()
    try:
        killer = KillOneWorker(executor)
        result = search(config, X, y, executor=executor, progress=killer)
        assert killer.killed is not None and executor.pool.replacements >= 1
    finally:
        executor.close()
    assert result.params.tobytes() == in_process_result.params.tobytes()


def test_a_resumed_run_gives_the_bits_of_one_that_never_stopped(tmp_path, in_process_result):
    X, y = _rows()
    search(CONFIG.model_copy(update={"rounds": 2}), X, y, executor="inprocess", run_dir=tmp_path)
    resumed = search(SearchConfig(rounds=3), X, y, executor="inprocess", run_dir=tmp_path, resume=True)
    assert resumed.params.tobytes() == in_process_result.params.tobytes()
    assert load_result(tmp_path).config.shares == 3


def test_shares_that_cannot_be_are_refused_in_one_line(tmp_path):
    X, y = _rows(60)
    with pytest.raises(ConfigError, match=r"shares: 61 shares of 48 training rows would leave a share empty"):
        search(SearchConfig(hidden=(4,), shares=61, rounds=1), X, y, executor="inprocess")
    few = np.repeat([0, 1, 2], [20, 20, 3])  # every row trains (no held-out fraction): class 2 keeps 3
    with pytest.raises(ConfigError, match=r"shares: class 2 has 3 training rows, fewer than the 5 shares"):
        config = SearchConfig(hidden=(4,), shares=5, rounds=1, validation_fraction=0.0)
        search(config, X[:43], few, executor="inprocess")
    with pytest.raises(ConfigError, match="shares: 2 row shares for a regressor"):
        search(SearchConfig(hidden=(4,), shares=2, rounds=1, task="regression"), X, X[:, 0], executor="inprocess")
    with pytest.raises(ConfigError, match="shares: the objective is the loss; there are no rows to share"):
        search(SearchConfig(layers=(2, 1), shares=2, rounds=1), executor="inprocess", objective=lambda p: 0.0)
    assert_one_line_error(run_cli("run", "--shares", "0", cwd=tmp_path), "shares", "0")
    refused = run_cli("run", "--dataset", "spiral", "--shares", "301", "--out", "run", "--inprocess", cwd=tmp_path)
    assert_one_line_error(refused, "shares: 301 shares of 300 training rows")
    assert not (tmp_path / "run").exists()


def test_small_data_stays_on_every_row_by_default():
    X, y = _rows(400)
    result = search(
        SearchConfig(hidden=(4,), climbers=2, steps=50, rounds=1, time_budget=None), X, y, executor="inprocess"
    )
    assert result.config.shares == 1 and result.data.shares == 1 and result.data.share_rows is None
    assert result.history[0].winning_share is None
    assert Layout(result.config.layers).num_params == result.params.size
