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

from workers import from_scratch, grid, kernel
from workers.losses import LOSS_KINDS, REGRESSION_LOSSES
from workers.network import Layout, evaluate, init_params
from workers.rows import Problem, dense_inputs, pack_rows, with_loss
from workers.settings import MAX_STEP_SIZE, MIN_STEP_SIZE, ClimbSettings

# Steps whose noise is drawn at once. Fixed, so that the stream a climber consumes never depends
# on anything but its settings; large enough to keep Python out of the loop, small enough to
# bound memory (4,096 steps x 387 parameters x 8 bytes = 13 MB in the densest case).
BLOCK_STEPS = 4096
# The compiled engine rebuilds a climber's cached state from scratch at its first block and every
# this many blocks after (65,536 steps): fixed step counts, so the drift of incremental updates is
# bounded the same way on every run, and a fast step does not pay for a full pass every block.
REFRESH_BLOCKS = 16


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
    score: float  # a classifier's accuracy, a regressor's R^2 (NaN on an objective: it has no score)
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
    return climb_rows(start, seeds, pack_rows(X, labels), layout, settings)


def climb_rows(
    start: Solution | None,
    seeds: Sequence[np.random.SeedSequence | int],
    rows: Problem,
    layout: Layout,
    settings: ClimbSettings,
) -> list[ClimbOutcome]:
    """`climb_batch` on rows packed once by `workers.rows.pack_rows`; the settings' activation and weights are the
    network's."""
    layout = Layout(layout.sizes, settings.activation, settings.weights)
    setup = climb_setup(start, seeds, layout, settings)
    problem = with_loss(rows, settings.l2, settings.loss)
    run = _climb_numba if settings.engine == "numba" else _climb_numpy
    run(setup, problem, layout, settings)
    # What a climber reports comes from the compiled scorer, whichever engine climbed: the same
    # bits on every CPU (numpy's evaluate leans on BLAS and CPU-dispatched exp and log).
    losses, scores = from_scratch.evaluate_batch(setup.params, problem, layout.arrays)
    return [
        ClimbOutcome(setup.params[b], setup.step_sizes[b], float(losses[b]), float(scores[b]), setup.evaluations)
        for b in range(len(seeds))
    ]


@dataclass(frozen=True)
class ClimbSetup:
    """Climbers ready to climb from one start: their streams, where they start, and how many steps of each kind."""

    generators: list[np.random.Generator]
    params: np.ndarray  # (B, P), each climber's own from here on
    step_sizes: np.ndarray  # (B, P)
    random_steps: int
    adjust_steps: int

    @property
    def evaluations(self) -> int:
        """Losses each climber computes: its start's, then one a step."""
        return 1 + self.random_steps + self.adjust_steps


def climb_setup(
    start: Solution | None, seeds: Sequence[np.random.SeedSequence | int], layout: Layout, settings: ClimbSettings
) -> ClimbSetup:
    """Every climb's set-up, on rows or on an objective: one generator a seed; a start of its own (nnfs's
    initialisation, from its generator) or the given start, put on the layout's grid (`Layout.snap`: nothing
    changes on float weights); random-search steps only from a start of its own; the settings' steps."""
    generators = [climber_generator(seed) for seed in seeds]
    if start is None:
        params = np.stack([init_params(layout, generator) for generator in generators])
        step_sizes = np.full_like(params, settings.step_size)
    else:
        params = layout.snap(np.tile(np.asarray(start.params, dtype=np.float64), (len(seeds), 1)))
        step_sizes = np.tile(np.asarray(start.step_sizes, dtype=np.float64), (len(seeds), 1))
    random_steps = settings.random_steps if start is None else 0
    if settings.strategy == "random":
        random_steps, adjust_steps = random_steps + settings.steps, 0
    else:
        adjust_steps = settings.steps
    return ClimbSetup(generators, params, step_sizes, random_steps, adjust_steps)


def draw_moves(
    generator: np.random.Generator,
    steps: int,
    settings: ClimbSettings,
    layout: Layout,
    candidates: np.ndarray | None = None,
) -> tuple[np.ndarray | None, np.ndarray]:
    """Which parameters each of `steps` adjust steps moves, and by how many of their step sizes.

    The one place where that is chosen, from the climber's generator alone: k of the candidate
    parameters (default: every parameter) per step, k = settings.mutated_count(candidates), drawn
    with replacement. Returns (indices (steps, k) int64, normals (steps, k)), or (None, normals
    (steps, P)) when every parameter moves (the chapter's rule).
    """
    count = layout.num_params if candidates is None else len(candidates)
    mutated = settings.mutated_count(count)
    if candidates is None and mutated == count:
        return None, generator.standard_normal((steps, count))
    indices = generator.integers(0, count, size=(steps, mutated), dtype=np.int64)
    if candidates is not None:
        indices = np.asarray(candidates, dtype=np.int64)[indices]
    return indices, generator.standard_normal((steps, mutated))


def _draw_fresh(generator: np.random.Generator, steps: int, layout: Layout) -> np.ndarray:
    """One block of random search: every parameter's normal, (steps, P)."""
    return generator.standard_normal((steps, layout.num_params))


def step_rule(settings: ClimbSettings) -> kernel.StepRule:
    """The kernel's view of the settings' one-fifth rule."""
    return kernel.StepRule(
        settings.adaptive,
        settings.step_growth,
        settings.step_shrink,
        settings.step_scope == "parameter",
        MIN_STEP_SIZE,
        MAX_STEP_SIZE,
    )


def _climb_numba(setup: ClimbSetup, problem: Problem, layout: Layout, settings: ClimbSettings) -> None:
    """Compiled engine: each climber runs alone, block after block (setup's params and step sizes change in place)."""
    params, step_sizes = setup.params, setup.step_sizes
    net = layout.arrays
    rule = step_rule(settings)
    start_losses = from_scratch.evaluate_batch(params, problem, net)[0]  # (B,) each climber's start
    work = None  # one workspace serves climber after climber: each starts fresh
    for b, generator in enumerate(setup.generators):
        current, sigma = params[b], step_sizes[b]  # views: the kernel updates them in place
        loss = start_losses[b]
        for block in _blocks(setup.random_steps):
            noise = _draw_fresh(generator, block, layout)
            loss = kernel.random_search(current, loss, noise, settings.step_size, problem, net)
        for number, block in enumerate(_blocks(setup.adjust_steps)):
            indices, noise = draw_moves(generator, block, settings, layout)
            if indices is None:
                loss = kernel.adjust_dense(current, sigma, loss, noise, rule, problem, net)
            else:
                work = work if work is not None else kernel.workspace(problem, net)  # (Work, Compact)
                fresh = number % REFRESH_BLOCKS == 0
                loss = kernel.adjust_sparse(current, sigma, indices, noise, rule, problem, net, *work, fresh)


def _climb_numpy(setup: ClimbSetup, problem: Problem, layout: Layout, settings: ClimbSettings) -> None:
    """Reference engine: all climbers in lock step, vectorised over the batch."""
    X, labels = dense_inputs(problem), problem.labels  # (S, F), (S,): the kernel's order of samples
    loss = {kind: name for name, kind in LOSS_KINDS.items()}[problem.loss_kind]
    if loss in REGRESSION_LOSSES:
        labels = problem.targets.T  # (S, T) a regressor's targets, in the same order

    l2 = settings.l2

    def losses_of(candidates: np.ndarray) -> np.ndarray:
        return evaluate(candidates, X, labels, layout, l2, loss)[0]

    lock_step_climb(setup, losses_of(setup.params), layout, settings, losses_of)


def lock_step_climb(setup: ClimbSetup, losses: np.ndarray, layout: Layout, settings: ClimbSettings, losses_of) -> None:
    """Climbers in lock step, vectorised over the batch: setup's params, step_sizes (B, P) and losses (B,) change in
    place.

    losses_of(candidates (B, P)) -> (B,) scores a step's candidates, one a climber: the network's loss on rows
    (the reference engine) or a user's objective (`workers.objective_climb`); the draws, moves, acceptance and
    one-fifth rule are the same for both.
    """
    params, step_sizes, generators = setup.params, setup.step_sizes, setup.generators
    rows = np.arange(len(generators))
    every = np.arange(layout.num_params)

    def keep(candidates, candidate_losses):
        # Strictly lower (by the layout's margin); a NaN candidate never wins, and any number beats a NaN incumbent.
        bar = losses - layout.margin * np.abs(losses) if layout.margin > 0 else losses
        better = (candidate_losses < bar) | (np.isnan(losses) & ~np.isnan(candidate_losses))
        params[better] = candidates[better]
        losses[better] = candidate_losses[better]
        return better

    for block in _blocks(setup.random_steps):
        noise = np.stack([_draw_fresh(generator, block, layout) for generator in generators])
        for step in range(block):
            candidates = settings.step_size * noise[:, step]
            keep(candidates, losses_of(candidates))

    for block in _blocks(setup.adjust_steps):
        draws = [draw_moves(generator, block, settings, layout) for generator in generators]
        noise = np.stack([normals for _, normals in draws])  # (B, steps, k)
        indices = None if draws[0][0] is None else np.stack([drawn for drawn, _ in draws])
        mutated = noise.shape[2]
        for step in range(block):
            candidates = params.copy()
            if indices is None:
                candidates = _moved(layout, candidates, step_sizes * noise[:, step], every)
            else:
                for t in range(mutated):  # in order, as the kernel does, so repeated indices agree
                    column = indices[:, step, t]
                    change = step_sizes[rows, column] * noise[:, step, t]
                    candidates[rows, column] = _moved(layout, candidates[rows, column], change, column)
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


def _moved(layout: Layout, values: np.ndarray, changes: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Parameters `columns` (of values, the same shape) after steps of `changes`: values + changes, or, for the
    weights of a network on a grid, the grid's move (`workers.grid.move_on_grid_array`)."""
    if not layout.on_grid:
        return values + changes
    scales = layout.weight_scales[columns]  # 0.0 for a bias
    top, stride = grid.LEVELS[layout.weights]
    on_grid = grid.move_on_grid_array(values, changes, np.where(scales > 0, scales, 1.0), top, stride)
    return np.where(scales > 0, on_grid, values + changes)
