"""Every climber's seed, keyed by what it is (round, climber), never by where it runs."""

from __future__ import annotations

import numpy as np


def seed_for(run_seed: int, round_index: int, climber_index: int) -> np.random.SeedSequence:
    """The independent stream of climber `climber_index` in round `round_index` of a run."""
    return np.random.SeedSequence(run_seed, spawn_key=(round_index, climber_index))
