"""The messages between coordinator and workers: small frozen types, tagged with their round."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ClimbTask:
    """One climber's work in one round: who it is and its own seed."""

    round_index: int
    climber_index: int
    seed: np.random.SeedSequence


@dataclass(frozen=True)
class ClimbReport:
    """A climber's best after its round; the coordinator drops reports of other rounds."""

    round_index: int
    climber_index: int
    loss: float
    accuracy: float
    params: np.ndarray  # (P,)
    step_sizes: np.ndarray  # (P,)
    evaluations: int
