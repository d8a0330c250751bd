"""bench/expensive_wallclock.py: its objective is the chapter's loss, and its critical path is what the rounds made."""

from __future__ import annotations

import numpy as np

from bench.expensive_wallclock import LAYERS, SlowSpiralLoss, in_process
from workers.network import Layout, cross_entropy, logits, softmax


def test_the_slow_objective_is_the_chapters_loss_on_the_spiral():
    objective = SlowSpiralLoss(0.0)
    layout = Layout(LAYERS)
    params = 0.5 * np.random.default_rng(0).standard_normal(layout.num_params)
    expected = float(np.mean(cross_entropy(softmax(logits(params, objective.X, layout)), objective.y)))
    assert objective.X.shape == (300, 2) and abs(objective(params) - expected) < 1e-12


def test_the_slow_objective_leaves_numpy_as_it_was():
    # nnfs.init() would patch np.zeros and np.dot for the whole process (the compiled kernel then fails to type).
    zeros, dot = np.zeros, np.dot
    SlowSpiralLoss(0.0)
    assert np.zeros is zeros and np.dot is dot


def test_a_round_waits_for_its_busiest_worker_and_more_workers_wait_less():
    # 99 parameters: SNES's own 18 members; with the centre and the best so far 20 candidates a round.
    one, five = in_process(0, 1, 3), in_process(0, 5, 3)
    assert one["population"] == five["population"] == 18
    assert one["critical"] == [19, 20, 20] and five["critical"] == [4, 4, 4]  # round 0 has no best so far
    assert one["losses"] == five["losses"]  # the same generations, split differently
    assert one["losses"] == sorted(one["losses"], reverse=True)
