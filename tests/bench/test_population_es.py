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


def test_a_search_is_a_function_of_its_seed_and_it_gains(tmp_path, losses):
    first = population_es.run("snes", 16, 0, 0.1, 2500, 0.0, tmp_path)
    second = population_es.run("snes", 16, 0, 0.1, 2500, 0.0, tmp_path)
    assert first["loss"] == second["loss"] and first["path"] == second["path"]
    bests = [loss for _, loss in first["path"]]
    assert bests[-1] < bests[0]
    assert first["critical"] == 2500 and first["evaluations"] == 2500 * 16 and not first["reached"]
    other = population_es.run("snes", 16, 1, 0.1, 2500, 0.0, tmp_path)
    assert other["loss"] != first["loss"]


class _Recording(population_es.Losses):
    """The benchmark's losses, keeping every batch of members it was asked for."""

    def __init__(self):
        super().__init__()
        self.batches = []

    def __call__(self, batch):
        self.batches.append(np.array(batch))
        return super().__call__(batch)


def test_the_best_is_the_lowest_loss_of_the_members_it_was_chosen_from():
    recording = _Recording()
    start = np.random.default_rng(3).standard_normal(recording.layout.num_params) * 0.01
    steps = population_es.snes(recording, start, 8, 0.1, np.random.default_rng(4))
    for _ in range(40):
        next(steps)
    members = np.concatenate(recording.batches)  # (40 x 8, P): every member of every generation
    with np.errstate(over="ignore", invalid="ignore"):
        expected = evaluate(members, recording.X, recording.y, recording.layout)[0]  # the reference's losses
    assert len(members) == 320
    assert recording.best == np.min(np.where(np.isnan(expected), np.inf, expected))


def test_critical_work_counts_a_full_pass_for_each_start_and_scoring():
    step, full = work_units("spiral")
    assert (step, full) == (300 * (8 + 8 * 3 + 30), 300 * (2 * 64 + 64 * 3 + 30))  # rows x (moved, fan-out, loss)
    # 4 rounds of 1,250 steps each (and each climber's start), 3 scorings a round by the coordinator.
    row = {"critical": 4 * (1250 + 1 + 3), "rounds": 4, "coordinator_evaluations": 12}
    assert critical_work(row, step, full) == 4 * 1250 * step + (4 + 12) * full
    assert critical_work(row, full, full) == row["critical"] * full  # equal costs: work is evaluations
