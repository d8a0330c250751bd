"""A population strategy as the search of a run: chosen by default for an objective, the same bits for any number of
workers, in one process or on Ray actors, after a worker dies and after a resume; its bad settings one line."""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, load_result, search
from coordinator.config import make_config
from coordinator.rounds.checkpoint import load_checkpoint
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.objective_round import round_seed
from coordinator.rounds.population_round import auto_population, first_state, recommended_population
from tests.coordinator.cli_runner import assert_one_line_error, run_cli
from tests.coordinator.on_actors import ON_ACTORS, KillOneWorker, assert_ran_on_actors, placements
from workers.network import Layout
from workers.objective import Objective, ObjectiveError
from workers.population import POPULATION_SEARCHES, run_generation

LAYERS = (4, 3)  # 15 parameters
TARGET = np.linspace(-1.0, 1.0, 15)
CONFIG = SearchConfig(layers=LAYERS, population=6, rounds=4, time_budget=None)


def bowl(params):
    """A deterministic objective: the squared distance to TARGET."""
    return float(np.sum((params - TARGET) ** 2))


def noisy(params, seed):
    """A seeded objective: the bowl plus noise drawn from the round's seed (every candidate of a round the same)."""
    return bowl(params) + float(np.random.default_rng(seed).normal(0.0, 0.1))


def _same_bits(one, other) -> None:
    assert one.params.tobytes() == other.params.tobytes()
    assert one.step_sizes.tobytes() == other.step_sizes.tobytes()
    assert [record.best_loss for record in one.history] == [record.best_loss for record in other.history]


def test_an_objective_gets_snes_without_naming_it_and_its_best_never_rises_on_a_fixed_function():
    config = SearchConfig(layers=LAYERS, rounds=6, workers=8, time_budget=None)
    result = search(config, executor="inprocess", objective=bowl)
    # SNES's own 12 for 15 parameters, raised to 14: with the centre and the best so far, 2 evaluations a worker.
    assert recommended_population(15) == 12
    assert result.config.search == "snes" and result.config.population == auto_population(8, 15) == 14
    assert result.config.climbers is None and result.config.steps is None  # a population has neither
    losses = [record.best_loss for record in result.history]
    assert losses == sorted(losses, reverse=True)  # the best so far is scored again each round, and kept on a tie
    assert losses[-1] < bowl(first_state(result.config.population_settings(14), 0, Layout(LAYERS), None).centre)
    # A generation: 14 members, the centre and (from round 1) the best so far, two a worker.
    assert [record.evaluations for record in result.history] == [15] + [16] * 5
    assert [record.critical_evaluations for record in result.history] == [2] * 6
    assert result.evaluations == 15 + 16 * 5 and result.history[0].steps is None


@pytest.mark.parametrize(
    ("workers", "parameters", "population"),
    [(1, 15, 12), (2, 15, 12), (3, 15, 12), (8, 15, 14), (16, 15, 14), (64, 15, 62), (2, 99, 18), (16, 99, 30)],
)
def test_the_automatic_population_is_snes_own_filled_to_whole_evaluations_a_worker(workers, parameters, population):
    assert auto_population(workers, parameters) == population
    assert population >= recommended_population(parameters) and population % 2 == 0
    assert -(-(population + 2) // workers) == -(-(recommended_population(parameters) + 2) // workers)  # no longer


@pytest.mark.parametrize("strategy", POPULATION_SEARCHES)
def test_the_run_is_the_pure_generations_bit_for_bit(strategy):
    """The stepper adds nothing of its own: its rounds are `run_generation` under the round seeds, in order."""
    config = CONFIG.model_copy(update={"search": strategy, "seed": 5})
    result = search(config, executor="inprocess", objective=noisy)
    settings = result.config.population_settings(6)
    state = first_state(settings, 5, Layout(LAYERS), None)
    objective = Objective.of(noisy)
    for round_index in range(4):
        state, losses = run_generation(objective, state, settings, 5, round_seed(5, round_index))
        assert result.history[round_index].best_loss == state.best_loss == np.nanmin(losses)
    assert result.params.tobytes() == state.best.tobytes() and result.step_sizes.tobytes() == state.sigmas.tobytes()


@pytest.mark.parametrize("workers", [1, 2, 3, 7])
def test_the_same_bits_for_any_number_of_workers(workers):
    reference = search(CONFIG.model_copy(update={"workers": 8}), executor="inprocess", objective=noisy)
    result = search(CONFIG.model_copy(update={"workers": workers}), executor="inprocess", objective=noisy)
    _same_bits(result, reference)
    assert max(record.critical_evaluations for record in result.history) == -(-8 // workers)


@pytest.mark.parametrize("strategy", POPULATION_SEARCHES)
def test_a_resumed_run_gives_the_bits_of_one_that_never_stopped(tmp_path, strategy):
    config = CONFIG.model_copy(update={"search": strategy})
    straight = search(config, executor="inprocess", objective=noisy)
    search(config.model_copy(update={"rounds": 2}), executor="inprocess", objective=noisy, run_dir=tmp_path / "run")
    saved = load_checkpoint(tmp_path / "run").population
    assert saved.generation == 2 and saved.best is not None
    resumed = search(
        SearchConfig(rounds=4), executor="inprocess", objective=noisy, run_dir=tmp_path / "run", resume=True
    )
    _same_bits(resumed, straight)
    assert load_result(tmp_path / "run").config.search == strategy


def test_a_start_network_is_the_first_centre():
    from workers import Solution

    start = Solution(TARGET.copy(), np.ones(15))
    result = search(CONFIG.model_copy(update={"rounds": 1}), executor="inprocess", objective=bowl, start=start)
    assert result.best_loss == 0.0 and result.params.tobytes() == TARGET.tobytes()  # the centre, scored first, won


def test_nan_ranks_last_never_wins_and_is_told_once():
    def holes(params):
        return math.nan if params[0] > 0.3 else bowl(params)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(CONFIG.model_copy(update={"rounds": 6, "sigma": 1.0}), executor="inprocess", objective=holes)
    told = [str(warning.message) for warning in caught if "never win" in str(warning.message)]
    assert len(told) == 1 and "candidates of round" in told[0]
    assert all(math.isfinite(record.best_loss) for record in result.history) and result.params[0] <= 0.3


def test_an_objective_of_nan_everywhere_stops_in_one_line_and_saves_nothing(tmp_path):
    with pytest.raises(ObjectiveError) as error:
        search(CONFIG, executor="inprocess", objective=lambda params: math.nan, run_dir=tmp_path / "run")
    message = str(error.value)
    assert "all 7 evaluations of round 0 gave NaN or an infinity; there is nothing to move the population by" in message
    assert "\n" not in message and not (tmp_path / "run" / "checkpoint.npz").exists()


def test_a_failing_function_is_one_line_naming_the_candidate_and_round():
    def breaks_late(params, seed):
        if seed == round_seed(0, 2):
            raise KeyError("missing")
        return bowl(params)

    with pytest.raises(ObjectiveError) as error:
        search(CONFIG.model_copy(update={"workers": 8}), executor="inprocess", objective=breaks_late)
    assert "breaks_late: candidate 0 of round 2 raised KeyError: 'missing'" in str(error.value)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"env": "CartPole-v1", "steps": 10}, "steps: 10 is a setting of the climbs; a snes search moves a population"),
        ({"env": "CartPole-v1", "climbers": 4}, "climbers: 4 is a setting of the climbs"),
        ({"search": "pgpe", "combine": "best"}, "combine: 'best' is a setting of the climbs"),
        ({"search": "climb", "sigma": 0.1}, "sigma: 0.1 is a setting of a population strategy; this run climbs"),
        ({"population": 7}, "population: must be an even number (members come in antithetic pairs), got 7"),
        ({"population": 0}, "population: Input should be greater than or equal to 1"),
        ({"sigma": 0.0}, "sigma: must be a finite number in [1e-09, 1000], got 0.0"),
        ({"learning_rate": -1.0}, "learning_rate: must be a positive finite number, got -1.0"),
        ({"search": "openai_es", "sigma_learning_rate": 0.1}, "sigma_learning_rate: openai_es keeps sigma fixed"),
        ({"search": "snes", "weight_decay": 0.01}, "weight_decay: only openai_es decays the centre's weights"),
        ({"search": "cma"}, "search: Input should be 'auto', 'climb', 'snes', 'openai_es' or 'pgpe'"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(values, says):
    with pytest.raises(ConfigError) as error:
        make_config(values)
    assert says in str(error.value) and "\n" not in str(error.value)


def test_settings_auto_cannot_read_are_refused_before_anything_runs(tmp_path):
    calls = []

    def counted(params):
        calls.append(1)
        return bowl(params)

    for config, says in [
        (SearchConfig(layers=LAYERS, steps=5), "steps: 5 is a setting of the climbs; a snes search"),
        (SearchConfig(layers=LAYERS, combine="best"), "combine: 'best' is a setting of the climbs; a snes search"),
    ]:
        with pytest.raises(ConfigError, match=says):
            search(config, executor="inprocess", objective=counted, run_dir=tmp_path / "run")
    assert calls == [] and not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match=r"^sigma: 0.2 is a setting of a population strategy; this run climbs"):
        search(SearchConfig(dataset="vertical", sigma=0.2), executor="inprocess")
    with pytest.raises(ConfigError, match=r"^search: 'snes' is for an objective or --env"):
        search(SearchConfig(dataset="vertical", search="snes"), executor="inprocess")


def test_the_command_line_refuses_a_climb_setting_for_an_environment_with_exit_status_2(tmp_path):
    completed = run_cli("run", "--env", "CartPole-v1", "--steps", "10", "--out", "run", cwd=tmp_path)
    assert_one_line_error(completed, "steps: 10 is a setting of the climbs; a snes search moves a population")
    completed = run_cli("run", "--search", "openai_es", "--out", "run", cwd=tmp_path)
    assert_one_line_error(completed, "search: 'openai_es' is for an objective or --env")
    assert not (tmp_path / "run").exists()


def test_on_ray_actors_the_bits_of_one_process(ray_local):
    in_process = search(CONFIG, executor="inprocess", objective=noisy)
    cpus = int(ray_local.cluster_resources()["CPU"])
    for workers in (1, 2, 3):
        config = CONFIG.model_copy(update={"workers": workers, **ON_ACTORS})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = search(config, executor="ray", objective=noisy)
        assert_ran_on_actors(result, actors=workers)
        _same_bits(result, in_process)
        # More workers than CPUs pay for an objective whose evaluations wait: said so, not "none runs faster".
        shared = [str(warning.message) for warning in caught if "workers share the" in str(warning.message)]
        assert shared == ([] if workers <= cpus else [
            f"workers: {workers} workers share the {cpus} CPU(s) Ray has: they pay only while an evaluation waits "
            "rather than computes (a simulator elsewhere, a service)"
        ])  # fmt: skip


def test_a_worker_killed_mid_round_changes_nothing(ray_local):
    in_process = search(CONFIG, executor="inprocess", objective=noisy)
    config = CONFIG.model_copy(update={"workers": 2})
    executor = RayExecutor(None, config, objective=Objective.of(noisy))
    executor.wait_until_ready()  # every candidate on an actor, so that killing one matters
    try:
        killer = KillOneWorker(executor)
        result = search(config, executor=executor, objective=noisy, progress=killer)
        assert killer.killed is not None and executor.pool.replacements >= 1
    finally:
        executor.close()
    assert [driver for driver, _ in placements(result)] == [0] * CONFIG.rounds
    _same_bits(result, in_process)


def test_a_failure_in_an_actor_is_one_line_naming_the_candidate_and_round(ray_local):
    bad_seed = round_seed(CONFIG.seed, 1)

    def fails_in_round_one(params, seed):
        if seed == bad_seed:
            raise RuntimeError("the simulator crashed\nwith a long story")
        return bowl(params)

    config = CONFIG.model_copy(update={"workers": 2, **ON_ACTORS})
    with pytest.raises(ObjectiveError) as error:
        search(config, executor="ray", objective=fails_in_round_one)
    line = str(error.value)
    assert re.search(r"fails_in_round_one: candidate [0-7] of round 1 raised RuntimeError: the simulator crashed", line)
    assert "\n" not in line and "Traceback" not in line
