"""Hill climbs as pure functions: start, seed, data and settings in; the climber's best out.

A climber's random numbers come from its own `numpy.random.Generator`, drawn in blocks of a fixed
number of steps, so a climber's path depends on (start, seed, steps, settings, data) alone: never
on how many climbers run beside it or which worker runs it. Two engines walk the same path: the
compiled kernel (`workers.kernel`, one climber at a time) and the plain-numpy reference
(vectorised over the batch of climbers).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from workers import kernel
from workers.network import Layout, evaluate, init_params, score
from workers.settings import MAX_STEP_SIZE, MIN_STEP_SIZE, ClimbSettings

# Steps whose noise is drawn at once. Fixed, so that the stream a climber consumes never depends
# on anything but its settings; large enough to keep Python out of the loop, small enough to
# bound memory (4,096 steps x 387 parameters x 8 bytes = 13 MB in the densest case).
BLOCK_STEPS = 4096


@dataclass(frozen=True)
class Solution:
    """A point to climb from: parameters (P,) and the step size of each parameter (P,)."""

    params: np.ndarray
    step_sizes: np.ndarray


@dataclass(frozen=True)
class ClimbOutcome:
    """A climber's best after its steps: where, how good, and how many losses it computed."""

    params: np.ndarray  # (P,)
    step_sizes: np.ndarray  # (P,)
    loss: float
    accuracy: float
    evaluations: int


def climber_generator(seed: np.random.SeedSequence | int) -> np.random.Generator:
    """The climber's own random stream."""
    return np.random.Generator(np.random.PCG64(seed))


def _blocks(steps: int):
    """Sizes of the noise blocks for a climb of `steps` steps."""
    full, rest = divmod(steps, BLOCK_STEPS)
    return [BLOCK_STEPS] * full + ([rest] if rest else [])


def climb(
    start: Solution | None,
    seed: np.random.SeedSequence | int,
    X: np.ndarray,
    labels: np.ndarray,
    layout: Layout,
    settings: ClimbSettings,
) -> ClimbOutcome:
    """One climber's climb; `start=None` starts from its own nnfs-style initialisation."""
    return climb_batch(start, [seed], X, labels, layout, settings)[0]


def climb_batch(
    start: Solution | None,
    seeds: Sequence[np.random.SeedSequence | int],
    X: np.ndarray,
    labels: np.ndarray,
    layout: Layout,
    settings: ClimbSettings,
) -> list[ClimbOutcome]:
    """Independent climbs from one start, one per seed; each equals the climb it would make alone."""
    X = np.ascontiguousarray(X, dtype=np.float64)
    labels = np.ascontiguousarray(labels, dtype=np.int64)
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
    run = _climb_numba if settings.engine == "numba" else _climb_numpy
    run(
        params,
        step_sizes,
        generators,
        X,
        labels,
        layout,
        settings,
        random_steps,
        adjust_steps,
    )
    # What a climber reports comes from the compiled scorer, whichever engine climbed: the same
    # bits on every CPU (numpy's evaluate leans on BLAS and CPU-dispatched exp and log).
    losses, accuracies = score(params, X, labels, layout, settings.l2)
    evaluations = 1 + random_steps + adjust_steps
    return [
        ClimbOutcome(
            params[b],
            step_sizes[b],
            float(losses[b]),
            float(accuracies[b]),
            evaluations,
        )
        for b in range(len(seeds))
    ]


def _draw(generator: np.random.Generator, steps: int, num_params: int, mutated: int):
    """One block of a climber's noise: (indices (steps, k) or None, normals (steps, k))."""
    if mutated == num_params:
        return None, generator.standard_normal((steps, num_params))
    indices = generator.integers(0, num_params, size=(steps, mutated), dtype=np.int64)
    return indices, generator.standard_normal((steps, mutated))


def _climb_numba(
    params,
    step_sizes,
    generators,
    X,
    labels,
    layout,
    settings,
    random_steps,
    adjust_steps,
):
    """Compiled engine: each climber runs alone, block after block."""
    problem = kernel.make_problem(X, labels, settings.l2)
    net = layout.arrays
    num_params = layout.num_params
    mutated = settings.mutated_count(num_params)
    rule = kernel.StepRule(
        settings.adaptive,
        settings.step_growth,
        settings.step_shrink,
        settings.step_scope == "parameter",
        MIN_STEP_SIZE,
        MAX_STEP_SIZE,
    )
    start_losses = kernel.score(params, problem, net)[0]  # (B,) each climber's start
    for b, generator in enumerate(generators):
        current, sigma = params[b], step_sizes[b]  # views: the kernel updates them in place
        loss = start_losses[b]
        for block in _blocks(random_steps):
            _, noise = _draw(generator, block, num_params, num_params)
            loss = kernel.random_search(current, loss, noise, settings.step_size, problem, net)
        for block in _blocks(adjust_steps):
            indices, noise = _draw(generator, block, num_params, mutated)
            if indices is None:
                loss = kernel.adjust_dense(current, sigma, loss, noise, rule, problem, net)
            else:
                loss = kernel.adjust_sparse(current, sigma, indices, noise, rule, problem, net)


def _climb_numpy(
    params,
    step_sizes,
    generators,
    X,
    labels,
    layout,
    settings,
    random_steps,
    adjust_steps,
):
    """Reference engine: all climbers in lock step, vectorised over the batch."""
    num_params = layout.num_params
    mutated = settings.mutated_count(num_params)
    rows = np.arange(len(generators))
    l2 = settings.l2
    losses = evaluate(params, X, labels, layout, l2)[0]  # (B,)

    def keep(candidates, candidate_losses):
        # Strictly lower; a NaN candidate never wins, and any number beats a NaN incumbent.
        better = (candidate_losses < losses) | (np.isnan(losses) & ~np.isnan(candidate_losses))
        params[better] = candidates[better]
        losses[better] = candidate_losses[better]
        return better

    for block in _blocks(random_steps):
        noise = np.stack([_draw(generator, block, num_params, num_params)[1] for generator in generators])
        for step in range(block):
            candidates = settings.step_size * noise[:, step]
            keep(candidates, evaluate(candidates, X, labels, layout, l2)[0])

    for block in _blocks(adjust_steps):
        draws = [_draw(generator, block, num_params, mutated) for generator in generators]
        noise = np.stack([normals for _, normals in draws])  # (B, steps, k)
        indices = None if draws[0][0] is None else np.stack([drawn for drawn, _ in draws])
        for step in range(block):
            candidates = params.copy()
            if indices is None:
                candidates += step_sizes * noise[:, step]
            else:
                for t in range(mutated):  # in order, as the kernel does, so repeated indices agree
                    column = indices[:, step, t]
                    candidates[rows, column] += step_sizes[rows, column] * noise[:, step, t]
            better = keep(candidates, evaluate(candidates, X, labels, layout, l2)[0])
            if settings.adaptive:
                factor = np.where(better, settings.step_growth, settings.step_shrink)  # (B,)
                if indices is None or settings.step_scope == "global":
                    step_sizes[:] = np.clip(step_sizes * factor[:, None], MIN_STEP_SIZE, MAX_STEP_SIZE)
                else:
                    for t in range(mutated):
                        column = indices[:, step, t]
                        adapted = step_sizes[rows, column] * factor
                        step_sizes[rows, column] = np.clip(adapted, MIN_STEP_SIZE, MAX_STEP_SIZE)
