"""bench/vector_episodes.py: every way of stepping several candidates' episodes gives one-at-a-time's returns."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("gymnasium")

from bench.vector_episodes import FUNCTIONS, HIDDEN, candidates, one_at_a_time
from coordinator.data.environments import env_spec
from workers.episodes import TRAINING, episode_seeds
from workers.network import Layout


@pytest.mark.parametrize("way", ["lock_step", "sync_vector", "numpy_vector"])
def test_every_way_gives_the_returns_of_one_episode_at_a_time_on_cartpole(way):
    spec = env_spec("CartPole-v1")
    layout = Layout(spec.layers(HIDDEN))
    params = candidates(layout, 3, 0)  # (3, P): three different policies
    seeds = episode_seeds(12345, 2, TRAINING)
    reference, steps = one_at_a_time("CartPole-v1", spec, layout, params, seeds)
    returns, _ = FUNCTIONS[way]("CartPole-v1", spec, layout, params, seeds)
    assert reference.shape == (3, 2) and steps == reference.sum()  # a reward of 1 a step
    assert len(np.unique(reference)) > 1  # the policies differ, so a mix-up of candidates would show
    np.testing.assert_array_equal(returns, reference)
