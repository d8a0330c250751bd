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

from workers.blackbox import Objective
from workers.climbs import ClimbOutcome, Solution, _blocks, _draw_fresh, climber_generator, draw_moves
from workers.network import Layout, init_params
from workers.settings import MAX_STEP_SIZE, MIN_STEP_SIZE, ClimbSettings


@dataclass(frozen=True)
class ObjectiveOutcome(ClimbOutcome):
    """A climber's best on an objective (accuracy is NaN), with its start's loss under the round's seed."""

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

    Raises `workers.blackbox.ObjectiveCallError` (its row: the climber's place in seeds) when the objective fails.
    """
    generators = [climber_generator(seed) for seed in seeds]
    if start is None:
        params = np.stack([init_params(layout, generator) for generator in generators])
        step_sizes = np.full_like(params, settings.step_size)
    else:
        params = np.tile(np.asarray(start.params, dtype=np.float64), (len(seeds), 1))
        step_sizes = np.tile(np.asarray(start.step_sizes, dtype=np.float64), (len(seeds), 1))
    # (B, P) each; every climber's rows are its own from here on.
    random_steps = settings.random_steps if start is None else 0
    if settings.strategy == "random":
        random_steps, adjust_steps = random_steps + settings.steps, 0
    else:
        adjust_steps = settings.steps
    rows = np.arange(len(generators))
    non_finite = np.zeros(len(generators), dtype=np.int64)

    def losses_of(candidates: np.ndarray) -> np.ndarray:
        values = objective.losses(candidates, round_seed)
        non_finite[:] += np.isnan(values)
        return values

    losses = losses_of(params)  # (B,)
    start_losses = losses.copy()

    def keep(candidates, candidate_losses):
        # Strictly lower; a NaN candidate never wins, and any number beats a NaN incumbent.
        better = (candidate_losses < losses) | (np.isnan(losses) & ~np.isnan(candidate_losses))
        params[better] = candidates[better]
        losses[better] = candidate_losses[better]
        return better

    for block in _blocks(random_steps):
        noise = np.stack([_draw_fresh(generator, block, layout) for generator in generators])
        for step in range(block):
            candidates = settings.step_size * noise[:, step]
            keep(candidates, losses_of(candidates))

    for block in _blocks(adjust_steps):
        draws = [draw_moves(generator, block, settings, layout) for generator in generators]
        noise = np.stack([normals for _, normals in draws])  # (B, steps, k)
        indices = None if draws[0][0] is None else np.stack([drawn for drawn, _ in draws])
        mutated = noise.shape[2]
        for step in range(block):
            candidates = params.copy()
            if indices is None:
                candidates += step_sizes * noise[:, step]
            else:
                for t in range(mutated):  # in order, as the kernel does, so repeated indices agree
                    column = indices[:, step, t]
                    candidates[rows, column] += step_sizes[rows, column] * noise[:, step, t]
            better = keep(candidates, losses_of(candidates))
            if settings.adaptive:
                factor = np.where(better, settings.step_growth, settings.step_shrink)  # (B,)
                if indices is None or settings.step_scope == "global":
                    step_sizes[:] = np.clip(step_sizes * factor[:, None], MIN_STEP_SIZE, MAX_STEP_SIZE)
                else:
                    for t in range(mutated):
                        column = indices[:, step, t]
                        adapted = step_sizes[rows, column] * factor
                        step_sizes[rows, column] = np.clip(adapted, MIN_STEP_SIZE, MAX_STEP_SIZE)

    evaluations = 1 + random_steps + adjust_steps
    return [
        ObjectiveOutcome(
            params[b],
            step_sizes[b],
            float(losses[b]),
            math.nan,
            evaluations,
            start_loss=float(start_losses[b]) if start is not None else math.nan,
            non_finite=int(non_finite[b]),
        )
        for b in range(len(seeds))
    ]
