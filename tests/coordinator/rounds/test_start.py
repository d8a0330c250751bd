"""A search from a given network (a warm start): scored on its own rows first, one answer, resumable."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, search
from coordinator.rounds.executors import open_executor
from coordinator.rounds.prepare import prepare_run
from coordinator.rounds.prepared_run import start_sha256
from coordinator.rounds.stepper import SearchStepper, evaluate_rows
from workers import Solution

CONFIG = SearchConfig(dataset="vertical", layers=(2, 8, 3), climbers=3, steps=400, rounds=3, time_budget=None)


@pytest.fixture(scope="module")
def trained():
    """A network trained on the vertical data."""
    return search(CONFIG, executor="inprocess")


def _start(result) -> Solution:
    return Solution(result.params, result.step_sizes)


def test_the_first_round_climbs_from_the_start(trained):
    # Ten steps from a fresh random network stay near the untrained loss (about 1.1); from the
    # trained network they can only keep or lower its loss.
    few_steps = CONFIG.model_copy(update={"steps": 10, "rounds": 1})
    fresh = search(few_steps, executor="inprocess")
    warm = search(few_steps, executor="inprocess", start=_start(trained))
    assert warm.best_loss <= trained.best_loss < fresh.best_loss
    assert warm.start_sha256 == start_sha256(_start(trained)) and fresh.start_sha256 is None


def test_the_start_is_scored_on_this_runs_rows_before_round_0(trained):
    # A network trained on other rows: its loss there must not stand for its loss here.
    spiral = SearchConfig(dataset="spiral", layers=(2, 8, 3), climbers=3, steps=50, rounds=2, time_budget=None)
    prepared = prepare_run(spiral, start=_start(trained))
    with open_executor("inprocess", prepared.dataset, prepared.config) as executor:
        stepper = SearchStepper(prepared, executor)
        here = evaluate_rows(trained.params, prepared.dataset, stepper.layout)
        assert (stepper.best.round_index, stepper.best.climber_index) == (-1, -1)
        assert (stepper.best.loss, stepper.best.score) == here
        assert stepper.best.loss != trained.best_loss
        record = stepper.step()
    assert record.best_loss <= here[0]


def test_a_warm_started_search_is_one_answer_and_resumes_to_it(trained, tmp_path):
    from_start = CONFIG.model_copy(update={"rounds": 3, "seed": 5})
    whole = search(from_start, executor="inprocess", start=_start(trained))
    again = search(from_start, executor="inprocess", start=_start(trained))
    assert whole.params.tobytes() == again.params.tobytes()
    assert [record.best_loss for record in whole.history] == [record.best_loss for record in again.history]
    search(from_start.model_copy(update={"rounds": 2}), executor="inprocess", start=_start(trained), run_dir=tmp_path)
    resumed = search(from_start, executor="inprocess", run_dir=tmp_path, resume=True)
    assert resumed.params.tobytes() == whole.params.tobytes()
    assert resumed.start_sha256 == whole.start_sha256 == start_sha256(_start(trained))


def test_a_start_that_cannot_start_the_run_is_refused(trained, tmp_path):
    wrong = Solution(np.zeros(5), np.ones(5))
    with pytest.raises(ConfigError, match=r"^start: parameters of shape \(5,\) do not fit layers 2-8-3"):
        prepare_run(CONFIG, start=wrong)
    not_finite = Solution(np.full_like(trained.params, np.nan), trained.step_sizes)
    with pytest.raises(ConfigError, match=r"^start: parameters must be finite"):
        prepare_run(CONFIG, start=not_finite)
    with pytest.raises(ConfigError, match=r"^start: step sizes must be positive"):
        prepare_run(CONFIG, start=Solution(trained.params, np.zeros_like(trained.step_sizes)))
    search(CONFIG.model_copy(update={"rounds": 1}), executor="inprocess", run_dir=tmp_path)
    with pytest.raises(ConfigError, match=r"^start: a resumed run goes on from its checkpoint"):
        prepare_run(CONFIG, run_dir=tmp_path, resume=True, start=_start(trained))
