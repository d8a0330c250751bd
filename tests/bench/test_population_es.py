"""bench/population_es.py and the critical path's work count: the loss it scores, the search it runs, the sums."""

from __future__ import annotations

import numpy as np
import pytest

from bench import population_es
from bench.critical_path import critical_work, work_units
from workers.network import evaluate


@pytest.fixture(scope="module")
def losses() -> population_es.Losses:
    return population_es.Losses()


def test_the_written_out_loss_is_the_networks_loss_bit_for_bit(losses):
    rng = np.random.default_rng(7)
    for scale in (0.01, 1.0, 30.0):  # from the start's scale to logits that saturate the clip
        batch = scale * rng.standard_normal((5, losses.layout.num_params))
        expected = evaluate(batch, losses.X, losses.y, losses.layout)[0]
        assert np.array_equal(losses(batch), expected)


def test_a_search_is_a_function_of_its_seed_and_its_best_never_rises(tmp_path, losses):
    first = population_es.run("snes", 16, 0, 0.1, 2500, 0.0, tmp_path)
    second = population_es.run("snes", 16, 0, 0.1, 2500, 0.0, tmp_path)
    assert first["loss"] == second["loss"] and first["path"] == second["path"]
    bests = [loss for _, loss in first["path"]]
    assert bests == sorted(bests, reverse=True) and bests[-1] < bests[0]
    assert first["critical"] == 2500 and first["evaluations"] == 2500 * 16 and not first["reached"]
    other = population_es.run("snes", 16, 1, 0.1, 2500, 0.0, tmp_path)
    assert other["loss"] != first["loss"]


def test_critical_work_counts_a_full_pass_for_each_start_and_scoring():
    step, full = work_units("spiral")
    assert (step, full) == (300 * (8 + 8 * 3 + 30), 300 * (2 * 64 + 64 * 3 + 30))  # rows x (moved, fan-out, loss)
    # 4 rounds of 1,250 steps each (and each climber's start), 3 scorings a round by the coordinator.
    row = {"critical": 4 * (1250 + 1 + 3), "rounds": 4, "coordinator_evaluations": 12}
    assert critical_work(row, step, full) == 4 * 1250 * step + (4 + 12) * full
    assert critical_work(row, full, full) == row["critical"] * full  # equal costs: work is evaluations
