"""A user's objective on real Ray: shipped to the actors (closures and lambdas too), the same bits as in one process."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator import SearchConfig, search
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.objective_round import round_seed
from coordinator.rounds.prepare import prepare_run
from coordinator.rounds.search import run_prepared
from coordinator.rounds.stepper import round_tasks
from tests.coordinator.on_actors import assert_ran_on_actors
from workers.objective import Objective, ObjectiveError

CONFIG = SearchConfig(layers=(4, 3), search="climb", climbers=4, steps=120, rounds=3, time_budget=None)


def _objectives():
    """A lambda and a closure over local data, defined here: Ray must ship them by value."""
    target = np.random.default_rng(4).standard_normal(15)
    weights = np.linspace(1.0, 3.0, 15)
    closure_calls = []

    def closure(params, seed):
        closure_calls.append(seed)  # state of the caller's process; each actor has its own copy
        return float(np.sum(weights * (params - target) ** 2) + np.random.default_rng(seed).normal(0.0, 0.2))

    return {
        "lambda": lambda params: float(np.sum((params - target) ** 2)),
        "closure": closure,
        "batch": Objective(lambda params: np.sum((params - target) ** 2, axis=1), batch=True),
    }


@pytest.mark.parametrize("kind", ["lambda", "closure", "batch"])
def test_a_callable_on_ray_gives_the_bits_it_gives_in_one_process(ray_local, kind):
    objective = _objectives()[kind]
    in_process = search(CONFIG, executor="inprocess", objective=objective)
    for workers in (1, 2):
        config = CONFIG.model_copy(update={"workers": workers})
        executor = RayExecutor(None, config, objective=Objective.of(objective))
        try:
            executor.wait_until_ready()  # every climb on an actor, the objective shipped to it by Ray
            on_ray = search(config, executor=executor, objective=objective)
        finally:
            executor.close()
        assert [record.workers for record in on_ray.history] == [workers] * 3
        assert_ran_on_actors(on_ray, actors=workers)
        assert on_ray.params.tobytes() == in_process.params.tobytes()
        assert on_ray.step_sizes.tobytes() == in_process.step_sizes.tobytes()
        assert [r.best_loss for r in on_ray.history] == [r.best_loss for r in in_process.history]


def test_a_failure_in_an_actor_is_one_line_naming_the_climber_and_round(ray_local):
    failing_round = 1
    bad_seed = round_seed(CONFIG.seed, failing_round)

    def fails_in_round_one(params, seed):
        if seed == bad_seed:
            raise RuntimeError("the simulator crashed\nwith a long story")
        return float(np.sum(params**2))

    objective = Objective.of(fails_in_round_one)
    config = CONFIG.model_copy(update={"workers": 2})
    executor = RayExecutor(None, config, objective=objective)
    try:
        executor.wait_until_ready()  # every climb on an actor
        assert executor.workers_alive() == 2
        tasks = round_tasks(config, 0, round_seed(config.seed, 0))
        assert len(list(executor.run_round(None, tasks))) == 4
        with pytest.raises(ObjectiveError) as error:
            list(executor.run_round(None, round_tasks(config, failing_round, bad_seed)))
    finally:
        executor.close()
    line = str(error.value)
    assert line.startswith("objective tests.coordinator.rounds.test_objectives_ray.")
    assert "fails_in_round_one: climber " in line and " of round 1 raised RuntimeError: the simulator crashed" in line
    assert "\n" not in line and "Traceback" not in line


@pytest.mark.parametrize("settings", [{"search": "climb", "climbers": 3, "steps": 15}, {}], ids=["climb", "default"])
def test_a_gymnasium_policy_on_ray_gives_the_bits_it_gives_in_one_process(ray_local, settings):
    """The climbs, and the default population (2 members on 1 worker or 2: the same run, split two ways)."""
    pytest.importorskip("gymnasium")
    config = SearchConfig(env="CartPole-v1", hidden=(4,), episodes=2, rounds=2, time_budget=None, **settings)
    in_process = search(config.model_copy(update={"workers": 1}), executor="inprocess")
    prepared = prepare_run(config.model_copy(update={"workers": 2}))
    executor = RayExecutor(None, prepared.config, objective=prepared.objective)
    try:
        executor.wait_until_ready()  # the actors make their own environments; each scores its climbers together
        on_ray = run_prepared(prepared, executor)
    finally:
        executor.close()
    assert [record.workers for record in on_ray.history] == [2, 2]
    assert_ran_on_actors(on_ray, actors=2)  # two groups of the round's climbers (or candidates), one an actor
    assert on_ray.params.tobytes() == in_process.params.tobytes()
    assert [r.best_loss for r in on_ray.history] == [r.best_loss for r in in_process.history]
    assert on_ray.policy == in_process.policy and on_ray.objective.kind == "env"
