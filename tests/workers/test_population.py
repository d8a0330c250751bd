"""Population strategies: one answer for any split of the members, the seed's noise, the updates, bad settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from workers.network import Layout
from workers.objective import Objective
from workers.population import (
    POPULATION_SEARCHES,
    PopulationSettings,
    candidate_count,
    candidate_groups,
    candidate_params,
    centred_ranks,
    evaluate_candidates,
    log_rank_utilities,
    next_state,
    pair_noise,
    ranked,
    run_generation,
    start_centre,
    start_state,
)

SIZE = 12
TARGET = np.linspace(-1.0, 1.0, SIZE)


def bowl(params):
    """A smooth objective (B, P) -> (B,) with its minimum at TARGET."""
    return np.sum((np.atleast_2d(params) - TARGET) ** 2, axis=1)


def noisy_bowl(params, seed):
    """The bowl plus noise drawn from the round's seed: the same draws for every member of a round."""
    return bowl(params) + np.random.default_rng(seed).normal(0.0, 0.1)


def run(method, workers, generations=5, objective=None, population=8, round_seeds=True):
    """The state after `generations` generations, the members split among `workers`."""
    settings = PopulationSettings(search=method, population=population, sigma=0.2)
    objective = objective or Objective(bowl, batch=True)
    state = start_state(np.zeros(SIZE), settings)
    for index in range(generations):
        round_seed = 1000 + index if round_seeds and objective.seeded else None
        state, _ = run_generation(objective, state, settings, 7, round_seed, workers)
    return state


def state_bytes(state):
    arrays = (state.centre, state.sigmas, state.velocity, state.second_moment, state.best)
    return b"".join(array.tobytes() for array in arrays) + np.float64(state.best_loss).tobytes()


@pytest.mark.parametrize("method", POPULATION_SEARCHES)
def test_the_state_is_the_same_bits_for_any_number_of_workers(method):
    reference = run(method, 1)
    for workers in (2, 3, 5, 8, 64):
        assert state_bytes(run(method, workers)) == state_bytes(reference)
    assert reference.generation == 5


@pytest.mark.parametrize("method", POPULATION_SEARCHES)
def test_a_plain_function_scored_one_member_at_a_time_gives_the_batchs_bits(method):
    one_at_a_time = Objective(lambda params: float(bowl(params)[0]))
    assert state_bytes(run(method, 3, objective=one_at_a_time)) == state_bytes(run(method, 1))


@pytest.mark.parametrize("method", POPULATION_SEARCHES)
def test_candidates_scored_in_any_order_and_grouping_give_the_same_update(method):
    settings = PopulationSettings(search=method, population=10, sigma=0.3)
    objective = Objective(noisy_bowl, seeded=True, batch=True)
    state = start_state(np.linspace(0.5, -0.5, SIZE), settings)
    state, _ = run_generation(objective, state, settings, 3, round_seed=98)  # a best so far: 12 candidates
    assert candidate_count(state, settings) == 12
    whole = evaluate_candidates(objective, state, settings, 3, range(12), round_seed=99)
    losses = np.full(12, np.nan)
    for candidates in ([7, 2, 11], [9], [0, 5, 1, 10], [8, 3, 4, 6]):  # out of order, uneven groups
        losses[candidates] = evaluate_candidates(objective, state, settings, 3, candidates, round_seed=99)
    assert losses.tobytes() == whole.tobytes()
    assert state_bytes(next_state(state, settings, 3, losses)) == state_bytes(next_state(state, settings, 3, whole))


def test_a_members_noise_is_its_seeds_whoever_draws_it():
    expected = np.random.Generator(np.random.PCG64(np.random.SeedSequence(5, spawn_key=(4, 3)))).standard_normal(SIZE)
    assert pair_noise(5, 4, 3, SIZE).tobytes() == expected.tobytes()
    settings = PopulationSettings(population=8, sigma=0.5)
    state = start_state(np.arange(SIZE, dtype=float), settings)
    state = type(state)(state.centre, state.sigmas, state.velocity, state.second_moment, 4)
    plus, minus, centre = candidate_params(state, settings, 5, [6, 7, 8])
    assert np.array_equal(plus, state.centre + 0.5 * expected)
    assert np.array_equal(minus, state.centre - 0.5 * expected)
    assert np.array_equal(centre, state.centre)
    assert candidate_params(state, settings, 5, [7]).tobytes() == minus.tobytes()
    assert not np.array_equal(pair_noise(5, 4, 3, SIZE), pair_noise(5, 4, 2, SIZE))
    assert not np.array_equal(pair_noise(5, 4, 3, SIZE), pair_noise(5, 3, 3, SIZE))


def test_a_seeded_objective_scores_every_member_of_a_round_under_the_rounds_seed():
    seen = []

    def recording(params, seed):
        seen.append(seed)
        return bowl(params)

    settings = PopulationSettings(population=6)
    state = start_state(np.zeros(SIZE), settings)
    run_generation(Objective(recording, seeded=True, batch=True), state, settings, 1, round_seed=123, workers=4)
    assert seen == [123, 123, 123, 123]  # 6 members and the centre, in 4 groups


@pytest.mark.parametrize("method", POPULATION_SEARCHES)
def test_every_method_lowers_the_bowls_loss(method):
    settings = PopulationSettings(search=method, population=16, sigma=0.2)
    objective = Objective(bowl, batch=True)
    state = start_state(np.zeros(SIZE), settings)
    before = float(bowl(state.centre)[0])
    for index in range(60):
        state, _ = run_generation(objective, state, settings, index % 3, None, 4)
    assert float(bowl(state.centre)[0]) < 0.25 * before


def test_ranks_put_nan_last_and_equal_losses_share_their_utility():
    losses = np.array([2.0, np.nan, 1.0, 2.0, 0.5, np.nan])
    assert ranked(losses).tolist() == [4, 2, 0, 3, 1, 5]
    utilities = centred_ranks(losses)
    # By rank 0.5, 0.3, 0.1, -0.1, -0.3, -0.5: the equal 2.0s share ranks 3 and 4, the NaNs ranks 5 and 6.
    assert np.allclose(utilities, [0.0, -0.4, 0.3, 0.0, 0.5, -0.4], rtol=0, atol=1e-15)
    assert utilities[0] == utilities[3] and utilities[1] == utilities[5]
    assert math.isclose(float(utilities.sum()), 0.0, abs_tol=1e-12)
    weights = log_rank_utilities(losses)
    assert math.isclose(float(weights.sum()), 0.0, abs_tol=1e-12)
    assert weights[4] > weights[2] > weights[0] == weights[3] > weights[1] == weights[5]


@pytest.mark.parametrize("method", POPULATION_SEARCHES)
def test_a_generation_of_equal_losses_leaves_the_centre_where_it_is(method):
    # Whole-number returns tie often (every member of a hopeless policy falls at step 9): ties carry no direction.
    settings = PopulationSettings(search=method, population=8)
    state = start_state(np.linspace(-1.0, 1.0, SIZE), settings)
    after = next_state(state, settings, 0, np.full(9, 3.0))
    assert after.centre.tobytes() == state.centre.tobytes()


def test_openai_es_keeps_sigma_and_snes_adapts_it():
    assert np.all(run("openai_es", 2).sigmas == 0.2)
    assert not np.all(run("snes", 2).sigmas == 0.2)
    assert not np.all(run("pgpe", 2).sigmas == 0.2)


def test_a_runs_start_is_its_seeds_own():
    layout = Layout((4, 16, 2))
    assert start_centre(3, layout).tobytes() == start_centre(3, layout).tobytes()
    assert not np.array_equal(start_centre(3, layout), start_centre(4, layout))


def test_candidate_groups_cover_the_candidates_once():
    for count, workers in ((8, 3), (64, 64), (6, 10), (130, 16)):
        groups = candidate_groups(count, workers)
        assert len(groups) <= workers
        assert [candidate for group in groups for candidate in group] == list(range(count))


def test_the_best_is_the_rounds_lowest_of_the_centre_the_best_so_far_and_the_members():
    settings = PopulationSettings(population=4)
    state = start_state(np.zeros(SIZE), settings)
    assert candidate_count(state, settings) == 5  # no best yet: the members and the centre
    after = next_state(state, settings, 0, np.array([3.0, 1.0, 2.0, 1.0, 4.0]))
    assert after.best_loss == 1.0 and np.array_equal(after.best, candidate_params(state, settings, 0, [1])[0])
    assert candidate_count(after, settings) == 6
    # Under the next round's seed the old best scores 0.5, a member 0.5 too: a tie keeps the best so far ...
    kept = next_state(after, settings, 0, np.array([0.9, 0.5, 0.7, 0.6, 0.8, 0.5]))
    assert kept.best_loss == 0.5 and np.array_equal(kept.best, after.best)
    # ... and the centre wins a tie with it (a capped return, CartPole's 500, ties often).
    tie = next_state(after, settings, 0, np.array([0.9, 0.5, 0.7, 0.6, 0.5, 0.5]))
    assert tie.best_loss == 0.5 and np.array_equal(tie.best, after.centre)
    # The old best's lucky 1.0 is forgotten: measured anew at 2.0, the centre's 1.5 wins.
    centre = next_state(after, settings, 0, np.array([np.nan, 3.0, 1.6, 1.7, 1.5, 2.0]))
    assert centre.best_loss == 1.5 and np.array_equal(centre.best, after.centre)
    nothing = next_state(after, settings, 0, np.full(6, np.nan))  # NaN never wins: the best so far stays
    assert math.isnan(nothing.best_loss) and np.array_equal(nothing.best, after.best)


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        ({"population": 7}, "even"),
        ({"population": 0}, "population"),
        ({"sigma": 0.0}, "sigma"),
        ({"sigma": math.nan}, "sigma"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": math.inf}, "learning_rate"),
        ({"search": "cma"}, "search"),
        ({"search": "openai_es", "sigma_learning_rate": 0.1}, "sigma_learning_rate"),
        ({"search": "snes", "weight_decay": 0.01}, "weight_decay"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"members": 4}, "members"),
    ],
)
def test_bad_settings_are_refused_naming_the_setting(settings, named):
    with pytest.raises(ValidationError, match=named):
        PopulationSettings(**settings)


def test_bad_candidates_losses_and_centres_are_refused():
    settings = PopulationSettings(population=4)
    state = start_state(np.zeros(SIZE), settings)
    with pytest.raises(ValueError, match="candidates: 5 is not one of generation 0's 5"):
        candidate_params(state, settings, 0, [5])
    with pytest.raises(ValueError, match="losses: expected 5"):
        next_state(state, settings, 0, np.zeros(4))
    with pytest.raises(ValueError, match="centre"):
        start_state(np.array([0.0, np.nan]), settings)
    with pytest.raises(ValueError, match="workers"):
        candidate_groups(4, 0)
