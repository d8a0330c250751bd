"""Keeping the global best: a pure choice over (loss, rank), whatever order reports arrive in."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Best:
    """The best network so far and who found it (climber index and round; -1 before any)."""

    loss: float
    accuracy: float
    params: np.ndarray  # (P,)
    step_sizes: np.ndarray  # (P,)
    climber_index: int = -1
    round_index: int = -1


def better_of(current: Best | None, candidate: Best) -> Best:
    """The lower loss wins; on a tie the incumbent, then the lower climber index; NaN never wins."""
    if math.isnan(candidate.loss):
        return current if current is not None else candidate
    if current is None or math.isnan(current.loss):
        return candidate
    if candidate.loss < current.loss:
        return candidate
    if (
        candidate.loss == current.loss
        and candidate.round_index == current.round_index
        and candidate.climber_index < current.climber_index
    ):
        return candidate
    return current
