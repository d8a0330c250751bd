"""search(config, objective=f): the data path's rounds on a user's function; fair comparisons under a round's seed."""

from __future__ import annotations

import math
import warnings
from collections import Counter

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, load_result, search
from coordinator.rounds.objective_round import rescored, round_seed
from coordinator.rounds.seeds import seed_for
from workers import ClimbOutcome, ClimbReport, Layout, Solution
from workers.objective import Objective, ObjectiveError
from workers.objective_climb import ObjectiveOutcome

LAYERS = (4, 3)
TARGET = np.linspace(-1.0, 1.0, Layout(LAYERS).num_params)
CONFIG = SearchConfig(layers=LAYERS, search="climb", climbers=4, steps=150, rounds=4, time_budget=None)


def bowl(params):
    return float(np.sum((params - TARGET) ** 2))


def noisy(params, seed):
    """The bowl plus noise drawn from the round's seed: the same for every candidate of a round."""
    return bowl(params) + np.random.default_rng(seed).normal(0.0, 0.5)


def _same_bits(first, second):
    assert first.params.tobytes() == second.params.tobytes()
    assert first.step_sizes.tobytes() == second.step_sizes.tobytes()
    assert [record.best_loss for record in first.history] == [record.best_loss for record in second.history]
    assert [record.combined for record in first.history] == [record.combined for record in second.history]


def test_a_function_is_minimised_with_the_rounds_of_the_data_path():
    result = search(CONFIG, executor="inprocess", objective=bowl)
    losses = [record.best_loss for record in result.history]
    assert losses == sorted(losses, reverse=True) and losses[-1] < 0.05 < bowl(np.zeros_like(TARGET))
    assert result.best_loss == bowl(result.params)
    assert result.best_accuracy is None and result.data is None and result.config.dataset == "objective"
    assert result.objective.kind == "callable" and not result.objective.seeded
    assert result.objective.name == "tests.coordinator.rounds.test_objectives.bowl"
    assert [record.steps for record in result.history] == [150] * 4
    assert all(record.evaluations == 4 * 151 for record in result.history)


def test_the_number_of_workers_changes_nothing():
    """In one process the number of workers decides how a batch objective's climbers are grouped (as Ray's actors
    would take them): the calls differ, the bits do not."""

    def grouped(sizes):
        def batch(params, seed):
            sizes.add(len(params))
            return np.sum((params - TARGET) ** 2, axis=1) + np.random.default_rng(seed).normal(0.0, 0.5)

        return Objective(batch, seeded=True, batch=True)

    one_sizes, three_sizes = set(), set()
    one = search(CONFIG.model_copy(update={"workers": 1}), executor="inprocess", objective=grouped(one_sizes))
    three = search(CONFIG.model_copy(update={"workers": 3}), executor="inprocess", objective=grouped(three_sizes))
    assert one_sizes == {4, 1} and three_sizes == {2, 1}  # the climbers' batches; the coordinator's one at a time
    _same_bits(one, three)


def test_a_batch_objective_scored_in_any_grouping_gives_the_bits_of_its_one_vector_form():
    def batch(params, seed):
        offset = np.random.default_rng(seed).normal(0.0, 0.5)
        return np.sum((params - TARGET) ** 2, axis=1) + offset

    single = search(CONFIG, executor="inprocess", objective=noisy)
    for workers in (1, 3, 4):
        config = CONFIG.model_copy(update={"workers": workers})
        batched = search(config, executor="inprocess", objective=Objective(batch, seeded=True, batch=True))
        _same_bits(single, batched)
        assert batched.objective.batch


def test_every_loss_of_a_round_is_measured_under_that_rounds_seed():
    calls = Counter()

    def counted(params, seed):
        calls[seed] += 1
        return noisy(params, seed)

    start = Solution(np.zeros_like(TARGET), np.full_like(TARGET, 0.05))
    result = search(CONFIG, executor="inprocess", objective=counted, start=start)
    seeds = [round_seed(CONFIG.seed, round_index) for round_index in range(4)]
    assert set(calls) == set(seeds) and len(set(seeds)) == 4
    for round_index, record in enumerate(result.history):
        start_scoring = 1 if round_index == 0 else 0  # the given start, scored by the coordinator before round 0
        expected = record.evaluations + record.coordinator_evaluations + start_scoring
        assert calls[seeds[round_index]] == expected
    assert any(record.coordinator_evaluations for record in result.history)  # recombinations were scored too


def test_a_lucky_score_from_an_earlier_round_never_stands_against_this_rounds_climbers():
    lucky = round_seed(CONFIG.seed, 0)

    def lucky_round_zero(params, seed):
        return bowl(params) - (100.0 if seed == lucky else 0.0)

    result = search(CONFIG, executor="inprocess", objective=lucky_round_zero)
    first, later = result.history[0], result.history[1:]
    assert first.best_loss < -90
    # Measured again under round 1's seed, round 0's best lost its luck; the climbers went on improving.
    assert all(record.best_loss > 0 for record in later)
    assert result.best_loss == bowl(result.params) < first.best_loss + 100.0


def test_rescored_takes_the_lowest_climbers_start_loss():
    previous = ClimbReport(0, 2, ClimbOutcome(np.zeros(2), np.ones(2), -5.0, math.nan, 10))

    def report(climber, start_loss):
        return ClimbReport(
            1, climber, ObjectiveOutcome(np.zeros(2), np.ones(2), 0.0, math.nan, 3, start_loss=start_loss)
        )

    again = rescored(previous, [report(3, 7.0), report(1, 4.0)])
    assert again.outcome.loss == 4.0 and (again.round_index, again.climber_index) == (0, 2)
    assert rescored(None, [report(1, 4.0)]) is None


def test_round_seeds_are_the_runs_own_and_differ_from_round_to_round():
    seeds = [round_seed(7, round_index) for round_index in range(100)]
    assert len(set(seeds)) == 100 and all(0 <= seed < 2**63 for seed in seeds)
    assert seeds == [round_seed(7, round_index) for round_index in range(100)]
    assert round_seed(8, 0) != seeds[0]
    climber_words = seed_for(7, 0, 0).generate_state(2, dtype=np.uint64)
    assert int(climber_words[0] >> np.uint64(1)) != seeds[0]


def test_a_resumed_run_gives_the_bits_of_one_that_never_stopped(tmp_path):
    straight = search(CONFIG, executor="inprocess", objective=noisy)
    search(CONFIG.model_copy(update={"rounds": 2}), executor="inprocess", objective=noisy, run_dir=tmp_path / "run")
    resumed = search(
        SearchConfig(rounds=4), executor="inprocess", objective=noisy, run_dir=tmp_path / "run", resume=True
    )
    _same_bits(straight, resumed)
    saved = load_result(tmp_path / "run")
    assert saved.objective == resumed.objective and saved.params.tobytes() == straight.params.tobytes()
    with pytest.raises(ConfigError, match=r"minimised tests.coordinator.rounds.test_objectives.noisy; give it again"):
        search(SearchConfig(rounds=6), executor="inprocess", run_dir=tmp_path / "run", resume=True)


def test_a_failing_function_stops_the_run_in_one_line_naming_the_climber_and_round():
    def breaks_late(params, seed):
        if seed == round_seed(0, 2):
            raise KeyError("missing")
        return bowl(params)

    with pytest.raises(ObjectiveError) as error:
        search(CONFIG, executor="inprocess", objective=breaks_late)
    assert str(error.value).startswith(
        "objective tests.coordinator.rounds.test_objectives."
        "test_a_failing_function_stops_the_run_in_one_line_naming_the_"
    )
    assert "breaks_late: climber 0 of round 2 raised KeyError: 'missing' (at test_objectives.py:" in str(error.value)
    assert isinstance(error.value.__cause__, KeyError)  # in one process, the user's traceback is kept

    with pytest.raises(ObjectiveError, match=r"the coordinator's evaluation of the start network in round 0 raised"):
        search(CONFIG, executor="inprocess", objective=lambda params: 1 / 0, start=Solution(TARGET, TARGET + 2))


def test_nan_never_wins_and_is_told_once():
    def holes(params):
        return math.nan if params[0] < -0.02 else bowl(params)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = search(CONFIG, executor="inprocess", objective=holes)
    told = [str(warning.message) for warning in caught if "never win" in str(warning.message)]
    assert len(told) == 1
    assert "got NaN or an infinity for" in told[0] and "of round 0" in told[0]
    assert math.isfinite(result.best_loss) and result.params[0] >= -0.02


@pytest.mark.parametrize(
    ("config", "kwargs", "says"),
    [
        (SearchConfig(hidden=(4,)), {}, "layers: an objective needs every layer size"),
        (CONFIG, {"X": np.zeros((3, 4)), "y": [0, 1, 2]}, "X: a run minimises an objective or learns from data"),
        (CONFIG.model_copy(update={"env": "CartPole-v1"}), {}, "env: give an objective or an environment"),
        (SearchConfig(layers=LAYERS, dataset="iris"), {}, "dataset: an objective replaces the data (iris)"),
        (SearchConfig(layers=LAYERS, l2=0.1), {}, "l2: the penalty is on a data set's loss"),
        (SearchConfig(layers=LAYERS, validation_fraction=0.2), {}, "validation_fraction: the objective is the loss"),
        (SearchConfig(layers=LAYERS, task="regression"), {}, "task: 'regression' is a setting of the data"),
        (SearchConfig(layers=LAYERS, samples=50), {}, "samples: 50 is a setting of the data"),
        (SearchConfig(layers=LAYERS, weights="int8"), {}, "weights: 'int8' is for searches on data; the objective"),
        (CONFIG, {"objective": lambda params, seed, scale: 0.0}, "objective: tests.coordinator.rounds.test_objectives"),
        (SearchConfig(layers=LAYERS, patience=3), {}, "patience: needs held-out rows"),
    ],
)
def test_settings_that_do_not_fit_an_objective_are_one_line(config, kwargs, says):
    with pytest.raises(ConfigError) as error:
        search(config, executor="inprocess", objective=kwargs.pop("objective", bowl), **kwargs)
    assert says in str(error.value) and "\n" not in str(error.value)
    assert str(error.value).startswith(says.split(":")[0] + ":")


def test_a_function_of_three_arguments_is_refused_before_any_round_naming_the_forms_it_is_called_in():
    calls = []

    def three(params, seed, scale):
        calls.append(1)
        return 0.0

    with pytest.raises(ConfigError, match=r"objective: .*three\(params, seed, scale\) cannot be called as f\(params\)"):
        search(CONFIG, executor="inprocess", objective=three)
    assert calls == []
    with pytest.raises(TypeError, match=r"bowl\(params\) cannot be called as f\(params, seed\)"):
        Objective(bowl, seeded=True)  # said as it is made, not in round 0
    assert Objective.of(lambda params, seed=0: 0.0).seeded is False  # a default is never a required argument
    assert Objective.of(lambda *arguments: 0.0).seeded is False


def test_a_function_that_gives_nan_everywhere_stops_the_run_in_one_line_and_saves_nothing(tmp_path):
    with pytest.raises(ObjectiveError) as error, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the round's warning of NaN comes before the error that ends the run
        search(CONFIG, executor="inprocess", objective=lambda params: math.nan, run_dir=tmp_path / "run")
    message = str(error.value)
    assert "all 604 evaluations of round 0 gave NaN or an infinity; there is nothing to climb from" in message
    assert "\n" not in message and not (tmp_path / "run" / "result.json").exists()
    assert not (tmp_path / "run" / "checkpoint.npz").exists()


def test_an_objective_that_is_not_callable_is_one_line():
    with pytest.raises(ConfigError, match="objective: must be a function f"):
        search(CONFIG, executor="inprocess", objective=42)


def test_a_data_runs_result_refuses_what_only_a_policy_answers_and_vice_versa():
    result = search(CONFIG.model_copy(update={"rounds": 1}), executor="inprocess", objective=bowl)
    with pytest.raises(ConfigError, match=r"this run minimised tests\.coordinator\.rounds\.test_objectives\.bowl"):
        result.predict_proba(np.zeros((1, 4)))
    for name in ("predict", "predict_values", "score", "evaluate"):  # each says its own name
        arguments = (np.zeros((1, 4)), [0]) if name in ("score", "evaluate") else (np.zeros((1, 4)),)
        with pytest.raises(ConfigError, match=rf"^{name}: this run minimised .*bowl, a function of the parameters"):
            getattr(result, name)(*arguments)
    with pytest.raises(ConfigError, match="did not learn a policy"):
        result.rollout(3)


def test_an_objectives_round_is_200_evaluations_between_the_climbers_unless_steps_are_given():
    from coordinator.rounds.length import objective_round_steps

    config = SearchConfig(layers=LAYERS)
    assert [objective_round_steps(config, climbers) for climbers in (1, 2, 3, 200, 1000)] == [200, 100, 67, 1, 1]
    assert objective_round_steps(config.model_copy(update={"steps": 7}), 2) == 7
    result = search(
        SearchConfig(layers=LAYERS, search="climb", climbers=3, rounds=1, time_budget=None),
        executor="inprocess",
        objective=bowl,
    )
    assert result.config.steps == 67 and result.history[0].evaluations == 3 * 68  # resolved and saved
