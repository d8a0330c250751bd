"""How long a round is: the config's steps, or sized from the climbers and the cost of a step."""

from __future__ import annotations

import math
import time

import numpy as np

from coordinator import SearchConfig, search
from coordinator.config import ONE_CLIMBER_STEPS
from coordinator.rounds.combine import LENGTHS
from coordinator.rounds.length import COORDINATOR_SHARE, MIN_ROUND_WORK, ROUND_WORK, pass_work, round_steps, step_work


def test_given_steps_are_kept_whatever_the_climbers():
    config = SearchConfig(steps=1234)
    assert [round_steps(config, climbers, 300) for climbers in (1, 2, 64)] == [1234] * 3


def test_one_climber_climbs_the_round_of_old_and_more_climbers_share_it():
    config = SearchConfig(layers=(2, 64, 3))
    assert round_steps(config, 1, 300) == ONE_CLIMBER_STEPS
    assert round_steps(config, 2, 300) == ONE_CLIMBER_STEPS // 2
    assert round_steps(config, 16, 300) == ONE_CLIMBER_STEPS // 16
    steps = [round_steps(config, climbers, 300) for climbers in (1, 2, 4, 8, 16, 32, 64, 1024)]
    assert steps == sorted(steps, reverse=True)


def test_a_round_climbs_enough_to_outweigh_its_fixed_costs():
    config = SearchConfig(layers=(64, 32, 10))
    rows, moved = 1000, config.climb_settings().mutated_count(64 * 32 + 32 + 32 * 10 + 10)
    work = step_work(rows, config.layers, moved)
    passes = COORDINATOR_SHARE * (1 + len(LENGTHS)) * pass_work(rows, config.layers) / work  # start, scoring
    assert round_steps(config, 10_000, rows) == math.ceil(max(passes, MIN_ROUND_WORK / work))
    best_only = config.model_copy(update={"combine": "best"})  # no scoring to outweigh
    assert round_steps(best_only, 10_000, rows) == math.ceil(MIN_ROUND_WORK / work)
    assert round_steps(best_only, 10_000, rows) < round_steps(config, 10_000, rows)


def test_a_round_on_rows_whose_one_pass_outweighs_the_round_bound_still_outweighs_its_passes():
    # 48,000 rows of 784 pixels: one pass over them is more than ROUND_WORK; rounds bounded by ROUND_WORK
    # alone were 187 steps and spent most of their time on the passes (94 evaluations a second).
    config, rows = SearchConfig(layers=(784, 32, 10)), 48_000
    assert pass_work(rows, config.layers) > ROUND_WORK
    work = step_work(rows, config.layers, config.climb_settings().mutated_count(784 * 32 + 32 + 32 * 10 + 10))
    for climbers, passes in ((1, 1), (2, 1 + len(LENGTHS)), (16, 1 + len(LENGTHS))):
        steps = round_steps(config, climbers, rows)
        assert steps * work >= COORDINATOR_SHARE * passes * pass_work(rows, config.layers)
        assert steps < ONE_CLIMBER_STEPS / climbers or climbers == 16


def test_slow_steps_make_short_rounds_so_a_time_budget_holds():
    # 1,000 classes on 5,000 rows: a step passes over 5 million logits.
    config = SearchConfig(layers=(20, 64, 1000))
    steps = round_steps(config, 1, 5000)
    work = step_work(5000, config.layers, config.climb_settings().mutated_count(20 * 64 + 64 + 64 * 1000 + 1000))
    assert 1 <= steps < ONE_CLIMBER_STEPS
    passes = COORDINATOR_SHARE * pass_work(5000, config.layers)  # one climber's start: the round outweighs it
    assert steps == 1 or steps * work <= max(ROUND_WORK, passes) + work


def test_a_time_budget_holds_on_data_whose_steps_are_slow():
    """600 classes: a step passes over 1.8 million logits; a round of the old 20,000 steps took ten minutes."""
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3000, 10)), np.repeat(np.arange(600), 5)
    config = SearchConfig(hidden=(16,), climbers=2, workers=1, validation_fraction=0.0, time_budget=3.0, shares=1)
    search(config.model_copy(update={"rounds": 1, "time_budget": None, "steps": 2}), X, y, executor="inprocess")
    started = time.monotonic()  # the kernel is compiled (or loaded) above: this times the search alone
    result = search(config, X, y, executor="inprocess")
    elapsed = time.monotonic() - started
    # The budget is checked between rounds: it holds to within about a round (the machine's load sets how long).
    slowest = max(record.wall_seconds for record in result.history)
    assert elapsed < config.time_budget + 1.5 * slowest + 1.0
    assert result.stopped_because.value == "time_budget" and result.rounds_completed >= 1
    assert result.config.steps < 100


def test_explicit_steps_far_beyond_a_sized_round_get_a_note_under_a_time_budget():
    from coordinator.rounds.length import LONG_ROUND, long_round_note
    from coordinator.rounds.prepare import prepare_run

    layers, rows = (64, 32, 10), 1000
    work = step_work(rows, layers, SearchConfig(layers=layers).climb_settings().mutated_count(2410))
    long_steps = math.ceil(LONG_ROUND * ROUND_WORK / work)
    assert long_round_note(SearchConfig(layers=layers, steps=long_steps - 1, time_budget=10), rows) is None
    note = long_round_note(SearchConfig(layers=layers, steps=long_steps, time_budget=10), rows)
    assert note.startswith(f"steps: a round of {long_steps:,} steps on 1,000 rows is about 10 times the work")
    no_budget = SearchConfig(layers=layers, steps=long_steps, time_budget=None)
    assert long_round_note(no_budget, rows) is None  # no budget to overrun
    assert long_round_note(SearchConfig(layers=layers, time_budget=10), rows) is None  # the search sizes rounds

    prepared = prepare_run(SearchConfig(dataset="spiral", steps=10**7, time_budget=5))
    assert any(note.startswith("steps: a round of 10,000,000 steps on 300 rows") for note in prepared.data.notes)
    assert not prepare_run(SearchConfig(dataset="spiral", time_budget=5)).data.notes
