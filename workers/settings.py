"""What one climb does: the strategy and its step rules, as a small frozen type."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

Strategy = Literal["adjust", "random"]
StepScope = Literal["global", "parameter"]
Engine = Literal["numba", "numpy"]

# Bounds on an adapted step size: below the floor a step changes nothing in float64,
# above the ceiling a step throws a network into saturation and never comes back.
MIN_STEP_SIZE = 1e-9
MAX_STEP_SIZE = 1e3


@dataclass(frozen=True)
class ClimbSettings:
    """How a climber moves: strategy, steps, step size and its adaptation, engine."""

    steps: int
    strategy: Strategy = "adjust"
    step_size: float = 0.05
    # Fraction of the parameters changed per adjust step; 1.0 moves all of them (the seed).
    mutation_rate: float = 1.0
    adaptive: bool = False
    # One-fifth success rule: a success multiplies the step by `step_growth`, a failure by
    # `step_growth ** -0.25`, so the step holds still at a success rate of one in five.
    step_growth: float = 2.0
    step_scope: StepScope = "global"
    # Random-search steps a climber makes from its own initialisation before it adjusts.
    random_steps: int = 0
    engine: Engine = "numba"
    # L2 penalty: the objective adds l2 / (2 * samples) * the sum of squared weights (biases excluded),
    # scikit-learn MLPClassifier's `alpha` term, so its values transfer. 0: none.
    l2: float = 0.0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.random_steps < 0:
            raise ValueError("steps and random_steps must be >= 0")
        if not (math.isfinite(self.step_size) and self.step_size > 0):
            raise ValueError(f"step_size must be a positive finite number, got {self.step_size!r}")
        if not (0 < self.mutation_rate <= 1):
            raise ValueError(f"mutation_rate must lie in (0, 1], got {self.mutation_rate!r}")
        if not (math.isfinite(self.step_growth) and self.step_growth > 1):
            raise ValueError(f"step_growth must be a finite number above 1, got {self.step_growth!r}")
        if not (math.isfinite(self.l2) and self.l2 >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {self.l2!r}")

    @property
    def step_shrink(self) -> float:
        """Factor applied to the step after a failure."""
        return self.step_growth**-0.25

    def mutated_count(self, num_params: int) -> int:
        """Parameters changed per adjust step; `num_params` means all of them."""
        if self.mutation_rate >= 1.0:
            return num_params
        return max(1, min(num_params, round(self.mutation_rate * num_params)))
