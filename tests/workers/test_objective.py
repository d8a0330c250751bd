"""A black-box objective and its climb: the data path's step rule on the user's function, every form, every failure."""

from __future__ import annotations

import math
import pickle

import numpy as np
import pytest

from coordinator.data.datasets import nnfs_data
from workers import ClimbSettings, Layout, Solution, climb, evaluate
from workers.messages import ClimbTask
from workers.objective import Objective, ObjectiveCallError, ObjectiveError, required_positional
from workers.objective_climb import climb_objective
from workers.objective_worker import ObjectiveWorker

SPIRAL = nnfs_data("spiral", 100, 3)
LAYOUT = Layout((4, 3))
TARGET = np.linspace(-1.0, 1.0, LAYOUT.num_params)


def bowl(params):
    """A smooth objective with its minimum at TARGET."""
    return float(np.sum((params - TARGET) ** 2))


def seeds(count, round_index=0):
    return [np.random.SeedSequence(3, spawn_key=(round_index, climber)) for climber in range(count)]


VARIANTS = {
    "sparse, step per parameter": dict(mutation_rate=0.02, adaptive=True, step_scope="parameter"),
    "every parameter, fixed step": dict(mutation_rate=1.0, adaptive=False),
    "sparse, global step": dict(mutation_rate=0.05, adaptive=True, step_scope="global"),
    "random search": dict(strategy="random"),
    "random steps, then adjust": dict(random_steps=200, mutation_rate=0.05),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_the_chapters_loss_as_a_black_box_walks_the_numpy_engines_path(variant):
    # The same draws, moves and step rule: only who computes the loss differs.
    X, y = SPIRAL
    layout = Layout((2, 8, 3))
    settings = ClimbSettings(steps=400, engine="numpy", **VARIANTS[variant])
    reference = climb(None, 11, X, y, layout, settings)
    objective = Objective(lambda params: evaluate(params, X, y, layout)[0])
    black_box = climb_objective(None, [11], objective, layout, settings)[0]
    assert black_box.params.tobytes() == reference.params.tobytes()
    assert black_box.step_sizes.tobytes() == reference.step_sizes.tobytes()
    assert black_box.evaluations == reference.evaluations
    assert abs(black_box.loss - reference.loss) <= 1e-12  # the reference reports the compiled scorer's loss


def test_a_climber_is_the_same_alone_or_in_lock_step_with_others():
    settings = ClimbSettings(steps=300)
    start = Solution(np.zeros(LAYOUT.num_params), np.full(LAYOUT.num_params, 0.05))
    crowd = climb_objective(start, seeds(6), Objective(bowl), LAYOUT, settings)
    for index in (0, 3, 5):
        alone = climb_objective(start, seeds(6)[index : index + 1], Objective(bowl), LAYOUT, settings)[0]
        assert alone.params.tobytes() == crowd[index].params.tobytes()
        assert alone.loss == crowd[index].loss
    assert len({outcome.loss for outcome in crowd}) == 6


def test_a_batch_objective_walks_the_same_path_as_its_one_vector_form():
    def batch(params):  # (B, P) -> (B,)
        return np.sum((params - TARGET) ** 2, axis=1)

    settings = ClimbSettings(steps=300)
    one = climb_objective(None, seeds(4), Objective(bowl), LAYOUT, settings)
    many = climb_objective(None, seeds(4), Objective(batch, batch=True), LAYOUT, settings)
    for single, batched in zip(one, many, strict=True):
        assert single.params.tobytes() == batched.params.tobytes()
        assert single.loss == batched.loss


def test_loss_never_rises_and_the_start_is_scored_under_the_rounds_seed():
    calls = []

    def noisy(params, seed):
        calls.append(seed)
        return bowl(params) + np.random.default_rng(seed).normal()

    start = Solution(np.zeros(LAYOUT.num_params), np.full(LAYOUT.num_params, 0.05))
    outcomes = climb_objective(start, seeds(3), Objective.of(noisy), LAYOUT, ClimbSettings(steps=200), round_seed=77)
    assert set(calls) == {77}  # every evaluation of the round, the start's included, on the same draws
    assert len(calls) == 3 * 201
    for outcome in outcomes:
        assert outcome.start_loss == bowl(start.params) + np.random.default_rng(77).normal()
        assert outcome.loss < outcome.start_loss
        assert math.isnan(outcome.score)


def test_the_seeded_form_is_read_from_the_signature():
    assert not Objective.of(bowl).seeded
    assert Objective.of(lambda params, seed: 0.0).seeded
    assert not Objective.of(lambda params, scale=2.0: 0.0).seeded  # an optional argument is not the seed
    assert required_positional(print) is None or not Objective.of(print).seeded
    given = Objective(bowl, batch=True)
    assert Objective.of(given) is given
    assert Objective.of(bowl).name.endswith("test_objective.bowl")
    with pytest.raises(TypeError, match="must be a function"):
        Objective.of(3.0)


@pytest.mark.parametrize(
    ("returned", "says"),
    [
        (None, "returned None; expected a number"),
        ("0.5", "returned '0.5'; expected a number"),
        (np.zeros(2), "returned an array of shape (2,); expected a number"),
        ([1.0, 2.0], "returned an array of shape (2,); expected a number"),
    ],
)
def test_a_value_that_is_not_a_number_is_a_failure_of_that_row(returned, says):
    objective = Objective(lambda params: returned if params[0] > 0 else 1.0)
    params = np.zeros((3, LAYOUT.num_params))
    params[1, 0] = 1.0
    with pytest.raises(ObjectiveCallError) as failure:
        objective.losses(params, None)
    assert failure.value.row == 1
    assert failure.value.message == says


def test_an_exception_names_its_type_message_and_line():
    def broken(params):
        return 1.0 / 0.0

    with pytest.raises(ObjectiveCallError) as failure:
        Objective(broken).losses(np.zeros((2, 3)), None)
    assert failure.value.row == 0
    assert failure.value.message.startswith("raised ZeroDivisionError: float division by zero (at test_objective.py:")
    assert failure.value.message.endswith(", in broken)")


def test_a_batch_of_the_wrong_shape_is_a_failure_of_the_call():
    with pytest.raises(ObjectiveCallError, match=r"returned shape \(2,\) for 3 parameter vectors") as failure:
        Objective(lambda params: np.zeros(2), batch=True).losses(np.zeros((3, 4)), None)
    assert failure.value.row is None


def test_non_finite_values_become_nan_and_never_win():
    values = iter([5.0, math.inf, -math.inf, math.nan, 4.0] + [9.0] * 100)
    objective = Objective(lambda params: next(values))
    outcome = climb_objective(None, [0], objective, LAYOUT, ClimbSettings(steps=6))[0]
    assert outcome.loss == 4.0  # -inf did not win
    assert outcome.non_finite == 3


def test_the_worker_names_the_climber_and_round_of_a_failure():
    def fails_for_the_third(params, seed):
        if params[0] > 0.5:
            raise ValueError("too far\nsecond line")
        return bowl(params)

    worker = ObjectiveWorker(Objective.of(fails_for_the_third), LAYOUT.sizes, ClimbSettings(steps=50))
    start = Solution(np.zeros(LAYOUT.num_params), np.full(LAYOUT.num_params, 0.05))
    tasks = [ClimbTask(7, climber, seed, 50, round_seed=1) for climber, seed in zip((4, 5, 6), seeds(3), strict=True)]
    start_far = Solution(np.where(np.arange(LAYOUT.num_params) == 0, 1.0, 0.0), start.step_sizes)
    with pytest.raises(ObjectiveError) as error:
        worker.run(start_far, tasks)
    assert str(error.value).startswith("objective tests.workers.test_objective.")
    assert "fails_for_the_third: climber 4 of round 7 raised ValueError: too far (at test_objective.py:" in str(
        error.value
    )
    assert "\n" not in str(error.value)
    reports = worker.run(start, tasks[:1])  # in reach: a report tagged with its round and climber
    assert (reports[0].round_index, reports[0].climber_index) == (7, 4)


def test_an_objective_error_survives_pickling_as_one_line():
    error = pickle.loads(pickle.dumps(ObjectiveError("objective f: climber 1 of round 2 raised KeyError: 'x'")))
    assert str(error) == "objective f: climber 1 of round 2 raised KeyError: 'x'"
