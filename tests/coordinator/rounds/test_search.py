"""The search: one answer for any number of workers, in-process or on Ray, after a death or a resume."""

from __future__ import annotations

import itertools
import math
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from coordinator import SearchConfig, load_result, search
from coordinator.data.datasets import load_dataset
from coordinator.rounds.best import Best, better_of
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.seeds import seed_for
from tests.coordinator.on_actors import ON_ACTORS, KillOneWorker, assert_ran_on_actors, placements
from workers import ClimbOutcome

SMALL = SearchConfig(climbers=5, steps=1500, rounds=4, time_budget=None, layers=(2, 16, 3))


@pytest.fixture(scope="module")
def in_process_result():
    """The reference: the same config, every climb in this process."""
    return search(SMALL, executor="inprocess")


def _same_bits(first, second):
    assert first.params.tobytes() == second.params.tobytes()
    assert first.step_sizes.tobytes() == second.step_sizes.tobytes()
    assert first.best_loss == second.best_loss
    assert [record.best_loss for record in first.history] == [record.best_loss for record in second.history]
    assert [record.winning_climber for record in first.history] == [r.winning_climber for r in second.history]


def test_seeds_are_keyed_by_round_and_climber():
    first = seed_for(0, 1, 2).generate_state(4)
    assert first.tobytes() == seed_for(0, 1, 2).generate_state(4).tobytes()
    others = [seed_for(0, 2, 1), seed_for(0, 1, 3), seed_for(1, 1, 2)]
    assert all(other.generate_state(4).tobytes() != first.tobytes() for other in others)


def _best(loss, climber, round_index=0):
    return Best(round_index, climber, ClimbOutcome(np.zeros(1), np.zeros(1), loss, 0.5, 0))


def test_better_of_prefers_lower_loss_then_lower_climber_and_never_nan():
    assert better_of(None, _best(1.0, 3)).climber_index == 3
    assert better_of(_best(1.0, 3), _best(0.5, 7)).climber_index == 7
    assert better_of(_best(1.0, 3), _best(1.0, 1)).climber_index == 1  # tie: lower climber index
    assert better_of(_best(1.0, 1), _best(1.0, 3)).climber_index == 1  # whatever the arrival order
    assert better_of(_best(1.0, 5, round_index=0), _best(1.0, 0, round_index=1)).round_index == 0  # incumbent
    assert better_of(_best(1.0, 3), _best(math.nan, 0)).climber_index == 3
    assert better_of(_best(math.nan, 0), _best(2.0, 4)).climber_index == 4


def test_the_search_improves_round_after_round(in_process_result):
    losses = [record.best_loss for record in in_process_result.history]
    assert len(losses) == SMALL.rounds == in_process_result.rounds_completed
    assert all(later <= earlier for earlier, later in itertools.pairwise(losses))
    assert losses[-1] < losses[0]
    assert in_process_result.evaluations == SMALL.rounds * SMALL.climbers * (SMALL.steps + 1)
    assert in_process_result.stopped_because == "rounds"


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_ray_gives_the_same_bits_for_any_number_of_workers(ray_local, in_process_result, workers):
    cpus = int(ray_local.cluster_resources()["CPU"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(SMALL.model_copy(update={"workers": workers, **ON_ACTORS}))
    shared = [warning for warning in caught if "workers share the" in str(warning.message)]
    assert len(shared) == (1 if workers > cpus else 0)  # more workers than CPUs are pointed out
    assert_ran_on_actors(result, actors=workers)  # 5 climbers a round: every worker gets one at least
    _same_bits(result, in_process_result)
    assert result.environment.executor == "ray"
    assert result.environment.workers == workers
    assert result.environment.ray_version == ray_local.__version__


def test_a_worker_killed_mid_round_changes_nothing(ray_local, in_process_result):
    config = SMALL.model_copy(update={"workers": 2})
    executor = RayExecutor(load_dataset(config), config)
    executor.wait_until_ready()  # every climb of the run on an actor, so that killing one matters
    try:
        killer = KillOneWorker(executor)
        result = search(config, executor=executor, progress=killer)
        assert killer.killed is not None
        assert executor.pool.replacements >= 1
        assert killer.killed not in [pid for pid, _ in executor.pool.worker_info]
    finally:
        executor.close()
    assert [driver for driver, _ in placements(result)] == [0] * SMALL.rounds
    assert all(actors >= 1 for _, actors in placements(result))
    _same_bits(result, in_process_result)


def test_target_loss_stops_early():
    result = search(SMALL.model_copy(update={"rounds": 50, "target_loss": 0.9}), executor="inprocess")
    assert result.stopped_because == "target_loss"
    assert result.best_loss <= 0.9 and result.rounds_completed < 50


def test_time_budget_stops_between_rounds():
    config = SMALL.model_copy(update={"rounds": 10_000, "time_budget": 1.0})
    result = search(config, executor="inprocess")
    assert result.stopped_because == "time_budget"
    assert 1 <= result.rounds_completed < 10_000


def test_result_saves_and_loads(tmp_path, in_process_result):
    in_process_result.save(tmp_path)
    loaded = load_result(tmp_path)
    _same_bits(loaded, in_process_result)
    assert loaded.config == in_process_result.config
    X, _ = load_dataset(SMALL).X, None
    np.testing.assert_array_equal(loaded.predict(X), in_process_result.predict(X))
    with np.load(tmp_path / "weights.npz", allow_pickle=False) as archive:
        assert archive["weights_0"].shape == (2, 16)


def _wait_for_rounds(run_dir, rounds, process, timeout_s=120):
    from coordinator.rounds.checkpoint import load_checkpoint

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert process.poll() is None, "the run ended before it could be killed"
        try:
            if load_checkpoint(run_dir).rounds_completed >= rounds:
                return
        except Exception:
            pass
        time.sleep(0.05)
    raise AssertionError("no checkpoint in time")


def test_driver_killed_then_resumed_gives_the_uninterrupted_result(tmp_path):
    config = SMALL.model_copy(update={"rounds": 12, "steps": 4000})
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "coordinator", "run", "--inprocess", "--quiet", "--out", str(run_dir)]
    flags = ["--layers", "2,16,3", "--climbers", "5", "--steps", "4000", "--rounds", "12", "--time-budget", "none"]
    driver = subprocess.Popen(command + flags)
    try:
        _wait_for_rounds(run_dir, 2, driver)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert not (run_dir / "result.json").exists()
    resumed = subprocess.run(
        [sys.executable, "-m", "coordinator", "run", "--inprocess", "--quiet", "--resume", str(run_dir)], timeout=300
    )
    assert resumed.returncode == 0
    _same_bits(load_result(run_dir), search(config, executor="inprocess"))


def test_resume_on_ray_continues_an_in_process_run(ray_local, tmp_path):
    config = SMALL.model_copy(update={"rounds": 2})
    search(config, executor="inprocess", run_dir=tmp_path)
    resumed = search(SMALL.model_copy(update={"rounds": 4, "workers": 2, **ON_ACTORS}), run_dir=tmp_path, resume=True)
    assert resumed.rounds_completed == 4
    assert placements(resumed)[:2] == [(SMALL.climbers, 0)] * 2  # the first session: every climb in one process
    assert_ran_on_actors(resumed, actors=2, rounds=slice(2, None))  # the resumed one: every climb on the actors
    _same_bits(resumed, search(SMALL, executor="inprocess"))


def test_a_session_always_runs_a_round_however_slow_its_start():
    config = SMALL.model_copy(update={"rounds": 100, "time_budget": 1e-9})  # spent before the first round
    result = search(config, executor="inprocess")
    assert result.rounds_completed == 1 and result.stopped_because == "time_budget"
