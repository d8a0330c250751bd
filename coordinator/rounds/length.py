"""How long a round is: steps per climber, from the number of climbers and what a step costs.

A round's climbers all start from the broadcast best; the shorter the round, the more often their
work is pooled. One climber gains nothing from pooling and climbs ONE_CLIMBER_STEPS per round; N
climbers climb ONE_CLIMBER_STEPS / N each, so a round's total work stays the same and recombination
(coordinator/rounds/combine.py) sees their changes before they drift apart. Bounds keep a round's time
sensible whatever the data: its climbing at most ROUND_WORK a climber (so a time budget, checked
between rounds, is kept within a fraction of a second where each climber has a core), at least
MIN_ROUND_WORK (so Ray's cost per round stays small beside it), and at least COORDINATOR_SHARE times
the work of the round's full passes over the training rows (each climber's start, and the
coordinator's scoring of recombinations), which wins over ROUND_WORK where those passes alone are
larger (60,000 rows of 784 pixels: a pass is more than ROUND_WORK).
An objective's rounds (a user's function, an environment) are counted in evaluations instead
(`objective_round_steps`).

Costs are counted in multiply-adds over the training rows, from the rows, the layer sizes and the
parameters a step moves: a function of the config and the data alone, so the round's length, and
with it the result, is the same on any machine.
"""

from __future__ import annotations

import itertools
import math

from coordinator.config import ONE_CLIMBER_STEPS, SearchConfig
from coordinator.rounds.combine import LENGTHS

# Work of one round's climbing, in multiply-adds: a tenth to a third of a second on one core of this
# project's 2-core machine (the kernel makes 3 to 9 billion of them a second, counted this way, on the
# spiral, digits and MNIST nets).
ROUND_WORK = 1e9
# Explicit steps whose round is this many times ROUND_WORK get a note when a time budget is set.
LONG_ROUND = 10.0
# Work of a round's climbing, at least (about 5 ms), so that what a round costs besides climbing
# (Ray's calls, the broadcast, the coordinator's arithmetic) stays a small part of it.
MIN_ROUND_WORK = ROUND_WORK / 80
# A round climbs at least this many times the work of the coordinator's scoring, so that scoring
# recombinations never takes more than about a fifth of a round.
COORDINATOR_SHARE = 4.0
# The loss's exponential and logarithm per row and class, in multiply-adds.
EXP_WORK = 10.0


def pass_work(rows: int, layers: tuple[int, ...]) -> float:
    """Multiply-adds of one loss from scratch: every layer on every row, and the loss's exponentials."""
    return rows * (sum(n_in * n_out for n_in, n_out in itertools.pairwise(layers)) + EXP_WORK * layers[-1])


def step_work(rows: int, layers: tuple[int, ...], moved: int) -> float:
    """Multiply-adds of one incremental step: each moved parameter, each hidden unit it moves passing its
    change on to the next layer (at most every hidden unit), and the loss."""
    fan_out = max(layers[2:], default=layers[-1])  # the widest layer a moved unit passes a change to
    hidden_units = sum(layers[1:-1])
    return rows * (moved + min(moved, hidden_units) * fan_out + EXP_WORK * layers[-1])


def round_steps(config: SearchConfig, climbers: int, rows: int, shares: int = 1) -> int:
    """Steps each climber makes per round: the config's, or sized from the climbers and the cost of a step.

    With row shares a step costs what it touches on its share, and the fixed passes are those that fall on
    one worker: a climber's start on its share, and the coordinator's candidates on the shares it holds.
    """
    if config.steps is not None:
        return config.steps
    layers = config.layers
    if shares > 1:
        share = math.ceil(rows / shares)  # the largest share's rows
        work = step_work(share, layers, config.climb_settings().mutated_count(_params(layers)))
        held = share * math.ceil(shares / climbers)  # the candidates on the shares one worker holds
        fixed = COORDINATOR_SHARE * (pass_work(share, layers) + len(LENGTHS) * pass_work(held, layers))
        return _bounded_steps(climbers, work, fixed)
    work = step_work(rows, layers, config.climb_settings().mutated_count(_params(layers)))
    fixed = COORDINATOR_SHARE * fixed_passes(config, climbers) * pass_work(rows, layers)
    return _bounded_steps(climbers, work, fixed)


def _bounded_steps(climbers: int, work: float, fixed: float) -> int:
    """ONE_CLIMBER_STEPS over the climbers, at least MIN_ROUND_WORK and `fixed` (a round's fixed passes, weighted),
    at most ROUND_WORK unless the fixed passes need more."""
    steps = max(math.ceil(ONE_CLIMBER_STEPS / climbers), math.ceil(MIN_ROUND_WORK / work), math.ceil(fixed / work))
    # Where a round's fixed passes alone outweigh ROUND_WORK (wide data, many rows), the round is as long as
    # they require: shorter, it would spend most of its time on them and the time budget gains nothing.
    return max(1, min(steps, max(math.floor(ROUND_WORK / work), math.ceil(fixed / work))))


def fixed_passes(config: SearchConfig, climbers: int) -> int:
    """Full passes over the training rows a round makes besides its steps: each climber's start, and the
    coordinator's scoring of recombinations (one a candidate length) when it recombines."""
    return 1 + (len(LENGTHS) if config.combine == "recombine" and climbers > 1 else 0)


def long_round_note(config: SearchConfig, rows: int) -> str | None:
    """A note when the config's own steps make rounds far longer than the search sizes them under a time budget."""
    if config.steps is None or config.time_budget is None:
        return None
    layers = config.layers
    times = config.steps * step_work(rows, layers, config.climb_settings().mutated_count(_params(layers))) / ROUND_WORK
    if times < LONG_ROUND:
        return None
    return (
        f"steps: a round of {config.steps:,} steps on {rows:,} rows is about {times:,.0f} times the work of a round "
        "the search sizes itself (leave --steps out); the time budget is checked between rounds, so the run may "
        "overrun it by up to a round"
    )


def _params(layers: tuple[int, ...]) -> int:
    return sum(n_in * n_out + n_out for n_in, n_out in itertools.pairwise(layers))


# A round of an objective's climbs, in evaluations of the objective (all its climbers together). What an
# evaluation costs is the objective's own affair (a function of microseconds, or a few episodes of an
# environment), and a round's length must not depend on the machine, so it is a count.
OBJECTIVE_ROUND_STEPS = 200
# An environment's climbs: at most this many environment steps per climber a round, counting every episode
# at its time limit (CartPole-v1, 5 episodes of 500 steps: 40 evaluations). About a second on one core of
# this project's machine (`run --env CartPole-v1 --hidden 16 --inprocess` made 606 evaluations of 5 full
# episodes in 17 s: 89,000 steps a second), so a time budget is kept within a round of about a second; rounds
# of 200 evaluations ran 13.9 s past a 60 s budget on CartPole-v1 (BENCHMARKS.md).
ENV_ROUND_STEPS = 100_000


def objective_round_steps(config: SearchConfig, climbers: int, episode_steps: int | None = None) -> int:
    """Steps each climber makes per round on an objective: the config's, or OBJECTIVE_ROUND_STEPS over the climbers.

    episode_steps: an environment's time limit; its rounds are also capped at ENV_ROUND_STEPS environment steps.
    """
    if config.steps is not None:
        return config.steps
    steps = math.ceil(OBJECTIVE_ROUND_STEPS / climbers)
    if episode_steps is not None:
        steps = min(steps, ENV_ROUND_STEPS // (config.episodes * episode_steps))
    return max(1, steps)
