"""Hill climbs over a black-box objective: the data path's step rule, with the user's function as the loss.

The plain path of `workers.climbs` (its numpy reference engine) with one change: a candidate's loss
comes from `Objective.losses` instead of the network's cross-entropy. The same draws from the same
climber's generator, the same moves, the same one-fifth rule, climbers in lock step: given the
chapter's loss as the objective, it walks the numpy engine's path exactly (a test holds it to that).
Climbers in lock step are scored together, one batch of B candidates a step, so a batch objective
scores every climber a worker was handed in one call; each climber's path is its own all the same.

Every loss of a climb is measured under the round's seed, the start's included: a seeded (noisy)
objective compares the climber's candidates, its start and the other climbers' on the same draws.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workers.climbs import ClimbOutcome, Solution, climb_setup, lock_step_climb
from workers.network import Layout
from workers.objective import Objective
from workers.settings import ClimbSettings


@dataclass(frozen=True)
class ObjectiveOutcome(ClimbOutcome):
    """A climber's best on an objective (its score is NaN), with its start's loss under the round's seed."""

    start_loss: float = math.nan  # the start, scored by this climber under the round's seed (NaN: no start)
    non_finite: int = 0  # evaluations where the objective gave NaN or an infinity


def climb_objective(
    start: Solution | None,
    seeds: Sequence[np.random.SeedSequence | int],
    objective: Objective,
    layout: Layout,
    settings: ClimbSettings,
    round_seed: int | None = None,
) -> list[ObjectiveOutcome]:
    """Independent climbs from one start, one per seed, minimising objective; each equals its climb alone.

    Raises `workers.objective.ObjectiveCallError` (its row: the climber's place in seeds) when the objective fails.
    """
    setup = climb_setup(start, seeds, layout, settings)
    params, step_sizes = setup.params, setup.step_sizes
    non_finite = np.zeros(len(seeds), dtype=np.int64)

    def losses_of(candidates: np.ndarray) -> np.ndarray:
        values = objective.losses(candidates, round_seed)
        non_finite[:] += np.isnan(values)
        return values

    losses = losses_of(params)  # (B,)
    start_losses = losses.copy()
    lock_step_climb(setup, losses, layout, settings, losses_of)
    return [
        ObjectiveOutcome(
            params[b],
            step_sizes[b],
            float(losses[b]),
            math.nan,
            setup.evaluations,
            start_loss=float(start_losses[b]) if start is not None else math.nan,
            non_finite=int(non_finite[b]),
        )
        for b in range(len(seeds))
    ]
