"""Population strategies for expensive objectives: a centre moved by a whole generation's members at once.

Where an evaluation is an episode or a call to a service, a generation of `population` members
spread over the workers costs about population / workers evaluations of time, and the theory of
evolution strategies credits such a generation with progress that grows with its size (Beyer 2001;
Salimans et al. 2017 scale OpenAI's ES to 1,440 CPUs). Three strategies, each a pure function of
(state, settings, seed, losses):

- `openai_es` (Salimans et al. 2017): antithetic pairs centre +- sigma * noise, centred ranks of the
  losses, a gradient estimate from the pairs' rank differences, an Adam step (and an optional
  weight decay); sigma stays fixed.
- `snes` (separable NES, Schaul et al. 2011): a step size per parameter, log-rank utilities,
  learning rates 1 for the centre and (3 + ln P) / (5 sqrt P) for the step sizes; mirrored pairs.
- `pgpe` (Sehnke et al. 2010, as EvoTorch has it): symmetric pairs, centred ranks, a step size per
  parameter moved by its own gradient (each change at most `PGPE_MAX_SIGMA_CHANGE` of it), the
  centre by ClipUp (Toklu et al. 2020: a normalised gradient step, momentum, a speed limit).

A generation's candidates are handed out as numbers, never as vectors: member m (0 <= m < population)
is pair m // 2 (its noise (P,) drawn from `SeedSequence(seed, spawn_key=(g, m // 2))` in generation g,
whoever draws it) on the side m % 2 (+ then -); candidate `population` is the centre itself and
candidate `population + 1` the best network so far (from generation 1 on). A worker regenerates its
candidates from the broadcast centre, step sizes and best, scores them under the round's seed and
sends back their losses; the coordinator regenerates the noise to update the centre. The members
move the centre; the centre and the best so far are scored beside them, under the same seed, so that
the run keeps the best network it measured (its result, as a climb's) and no network keeps a lucky
score from an earlier round: the best after a generation is the lowest of (the best so far, the
centre, the members) in this round, ties to the centre, then the best so far, NaN never winning.
Everything reads the losses in candidate order, and equal losses share their ranks' utility (a tie,
common where returns are whole numbers, pushes the centre nowhere; NaN ranks last), so how the
candidates were split among workers, and in which order they came back, changes nothing: the same
bits for any number of workers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from workers.network import Layout, init_params
from workers.objective import Objective
from workers.settings import setting

PopulationSearch = Literal["openai_es", "snes", "pgpe"]
POPULATION_SEARCHES: tuple[str, ...] = ("snes", "openai_es", "pgpe")

# A key of the run's seed sequence no generation's (generation, pair) key can take: the centre's start.
START_SALT = 0x63656E74  # "cent"
# Adam's constants (Kingma & Ba 2015; OpenAI's ES uses the same).
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8
# ClipUp's momentum and its speed limit in centre learning rates (Toklu et al. 2020; EvoTorch's defaults).
CLIPUP_MOMENTUM, CLIPUP_SPEED = 0.9, 2.0
# PGPE: the most a generation may change a step size, as a fraction of it (EvoTorch's stdev_max_change).
PGPE_MAX_SIGMA_CHANGE = 0.2
# Bounds on a step size, as the climbs have them: below the floor a member is the centre in float64.
MIN_SIGMA, MAX_SIGMA = 1e-9, 1e3


class PopulationSettings(BaseModel):
    """How a population strategy moves its centre: which strategy, members a generation, step sizes, rates."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # SNES by default: in bench/results/expensive_objectives.md (3 seeds, 1 to 64 workers) it reached one worker's
    # return soonest at 16 and 64 workers on two of three environments, and it needs no learning rate.
    search: PopulationSearch = setting(
        "snes",
        "'snes' (a step size per parameter, log-rank utilities), 'openai_es' (antithetic pairs, centred ranks, "
        "Adam) or 'pgpe' (a step size per parameter, centred ranks, ClipUp)",
        "search",
    )
    population: int = setting(
        64, "members a generation, an even number (antithetic pairs); the same for any number of workers",
        "search", ge=2,
    )  # fmt: skip
    # 0.3: measured beside 0.1 to 0.5 on three environments' policies (bench/results/expensive_objectives_screening.md)
    sigma: float = setting(
        0.3, "population: the members' spread around the centre, noise times sigma (each parameter's at the start)",
        "search",
    )  # fmt: skip
    learning_rate: float | None = setting(
        None,
        "population: the centre's learning rate; none = the strategy's own, snes 1.0, openai_es 0.3 (Adam), "
        "pgpe 0.1 (ClipUp)",
        "search",
    )
    sigma_learning_rate: float | None = setting(
        None,
        "snes and pgpe: the step sizes' learning rate; none = snes (3 + ln P) / (5 sqrt P) for P parameters, pgpe 0.1",
        "search",
    )
    weight_decay: float = setting(
        0.0, "openai_es: a decay of the centre's weights toward zero, added to the gradient (OpenAI's l2coeff)",
        "search",
    )  # fmt: skip

    @field_validator("population")
    @classmethod
    def _even(cls, value: int | None) -> int | None:
        if value is not None and value % 2:
            raise ValueError(f"must be an even number (members come in antithetic pairs), got {value!r}")
        return value

    @field_validator("sigma")
    @classmethod
    def _sigma(cls, value: float) -> float:
        if not (math.isfinite(value) and MIN_SIGMA <= value <= MAX_SIGMA):
            raise ValueError(f"must be a finite number in [{MIN_SIGMA:g}, {MAX_SIGMA:g}], got {value!r}")
        return value

    @field_validator("learning_rate", "sigma_learning_rate")
    @classmethod
    def _rate(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive finite number, got {value!r}")
        return value

    @field_validator("weight_decay")
    @classmethod
    def _decay(cls, value: float) -> float:
        if not (math.isfinite(value) and value >= 0):
            raise ValueError(f"must be a finite number >= 0, got {value!r}")
        return value

    @model_validator(mode="after")
    def _strategy_settings(self) -> PopulationSettings:
        if self.search == "openai_es" and self.sigma_learning_rate is not None:
            raise ValueError("sigma_learning_rate: openai_es keeps sigma fixed; give it for snes or pgpe only")
        if self.search in ("snes", "pgpe") and self.weight_decay != 0:
            raise ValueError(f"weight_decay: only openai_es decays the centre's weights, not {self.search}")
        return self

    def centre_rate(self) -> float:
        """The centre's learning rate: the setting, or the strategy's default."""
        if self.learning_rate is not None:
            return self.learning_rate
        # openai_es: OpenAI's 0.01 moved the project's start (weights 0.01 * randn) too slowly; 0.3 with sigma 0.3
        # reached the policies' targets soonest (bench/results/expensive_objectives_screening.md).
        return {"openai_es": 0.3, "snes": 1.0, "pgpe": 0.1}[self.search]

    def sigma_rate(self, num_params: int) -> float:
        """The step sizes' learning rate (0 for openai_es): the setting, or the strategy's default for P parameters."""
        if self.search == "openai_es":
            return 0.0
        if self.sigma_learning_rate is not None:
            return self.sigma_learning_rate
        if self.search == "snes":
            return (3 + math.log(num_params)) / (5 * math.sqrt(num_params))
        return 0.1

    @property
    def pairs(self) -> int:
        """Antithetic pairs a generation."""
        return self.population // 2


@dataclass(frozen=True)
class PopulationState:
    """Where a population strategy stands between generations: its centre, step sizes and optimiser's memory."""

    centre: np.ndarray  # (P,)
    sigmas: np.ndarray  # (P,) each parameter's spread (openai_es: all sigma, never changed)
    velocity: np.ndarray  # (P,) Adam's first moment (openai_es), ClipUp's velocity (pgpe); zeros for snes
    second_moment: np.ndarray  # (P,) Adam's second moment (openai_es); zeros otherwise
    generation: int  # generations made: the next one's index
    best: np.ndarray | None = None  # (P,) the lowest-scoring candidate of the last generation (None before one)
    best_loss: float = math.nan  # its loss, under the last generation's round seed


def start_state(centre: np.ndarray, settings: PopulationSettings) -> PopulationState:
    """The state before generation 0: the centre given, every step size `settings.sigma`, no momentum, no best."""
    centre = np.array(centre, dtype=np.float64).reshape(-1)
    if not np.all(np.isfinite(centre)):
        raise ValueError("centre: every parameter must be a finite number")
    zeros = np.zeros_like(centre)
    return PopulationState(centre, np.full_like(centre, settings.sigma), zeros, zeros.copy(), 0)


def candidate_count(state: PopulationState, settings: PopulationSettings) -> int:
    """Candidates of the state's generation: the members, the centre and (after generation 0) the best so far."""
    return settings.population + (1 if state.best is None else 2)


def start_centre(seed: int, layout: Layout) -> np.ndarray:
    """A run's starting centre without a start network: `init_params` from the run seed's own stream."""
    sequence = np.random.SeedSequence(seed, spawn_key=(START_SALT,))
    return init_params(layout, np.random.Generator(np.random.PCG64(sequence)))


def pair_noise(seed: int, generation: int, pair: int, size: int) -> np.ndarray:
    """The standard normal noise (size,) of one antithetic pair: a function of (seed, generation, pair) alone."""
    sequence = np.random.SeedSequence(seed, spawn_key=(generation, pair))
    return np.random.Generator(np.random.PCG64(sequence)).standard_normal(size)


def candidate_params(
    state: PopulationState, settings: PopulationSettings, seed: int, candidates: Sequence[int]
) -> np.ndarray:
    """The parameter vectors (M, P) of the given candidates of the state's generation.

    Member m < population: the centre + (m even) or - (m odd) the step sizes times its pair's noise;
    candidate population: the centre; population + 1: the best so far.
    """
    candidates = [int(candidate) for candidate in candidates]
    count = candidate_count(state, settings)
    bad = [candidate for candidate in candidates if not 0 <= candidate < count]
    if bad:
        raise ValueError(f"candidates: {bad[0]} is not one of generation {state.generation}'s {count}")
    rows = np.empty((len(candidates), state.centre.size))
    for row, candidate in enumerate(candidates):
        if candidate == settings.population:
            rows[row] = state.centre
        elif candidate == settings.population + 1:
            rows[row] = state.best
        else:
            step = state.sigmas * pair_noise(seed, state.generation, candidate // 2, state.centre.size)
            rows[row] = state.centre + step if candidate % 2 == 0 else state.centre - step
    return rows


def evaluate_candidates(
    objective: Objective,
    state: PopulationState,
    settings: PopulationSettings,
    seed: int,
    candidates: Sequence[int],
    round_seed: int | None = None,
) -> np.ndarray:
    """(M,) losses of the given candidates under the round's seed: what a worker computes for its share of a generation.

    Scored in one call (a batch objective scores them together); raises `ObjectiveCallError` as the objective does.
    """
    return objective.losses(candidate_params(state, settings, seed, candidates), round_seed)


def candidate_groups(count: int, workers: int) -> list[range]:
    """A generation's candidates as at most `workers` runs of consecutive candidates, as even as can be."""
    if workers < 1:
        raise ValueError(f"workers: must be at least 1, got {workers!r}")
    size = -(-count // workers)
    return [range(first, min(first + size, count)) for first in range(0, count, size)]


def ranked(losses: np.ndarray) -> np.ndarray:
    """Member indices from best to worst: lower loss first, NaN last, ties to the lower member."""
    losses = np.asarray(losses, dtype=np.float64)
    nan = np.isnan(losses)
    return np.lexsort((np.arange(losses.size), np.where(nan, 0.0, losses), nan))


def _by_rank(losses: np.ndarray, by_rank: np.ndarray) -> np.ndarray:
    """(N,) the utilities by_rank (best rank first) handed to the members in rank order, equal losses (and every
    NaN) sharing the mean of their ranks' utilities: a tie carries no preference, whatever the members' order."""
    losses = np.asarray(losses, dtype=np.float64)
    order = ranked(losses)
    keys = np.where(np.isnan(losses), np.inf, losses)[order]  # NaN ranks last, all of them tied
    utilities = np.empty(order.size)
    start = 0
    for stop in [*(np.flatnonzero(keys[1:] != keys[:-1]) + 1).tolist(), order.size]:
        utilities[order[start:stop]] = by_rank[start:stop].mean()
        start = stop
    return utilities


def centred_ranks(losses: np.ndarray) -> np.ndarray:
    """(N,) utilities in [-0.5, 0.5], the best member's 0.5 (OpenAI's centred ranks, for minimisation; ties share)."""
    count = len(losses)
    return _by_rank(losses, 0.5 - np.arange(count) / (count - 1))


def log_rank_utilities(losses: np.ndarray) -> np.ndarray:
    """(N,) NES utilities: max(0, ln(N/2 + 1) - ln(rank)), normalised to sum 1, minus 1/N (sum 0; ties share)."""
    count = len(losses)
    by_rank = np.maximum(0.0, math.log(count / 2 + 1) - np.log(np.arange(1, count + 1)))
    return _by_rank(losses, by_rank / by_rank.sum() - 1.0 / count)


def generation_noise(seed: int, generation: int, pairs: int, size: int) -> np.ndarray:
    """The noise (pairs, P) of a generation's pairs, as every worker drew it."""
    return np.stack([pair_noise(seed, generation, pair, size) for pair in range(pairs)])


def next_state(state: PopulationState, settings: PopulationSettings, seed: int, losses: np.ndarray) -> PopulationState:
    """The state after a generation, from its candidates' losses in candidate order (`candidate_count` of them)."""
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    count = candidate_count(state, settings)
    if losses.size != count:
        raise ValueError(
            f"losses: expected {count}, one a candidate of generation {state.generation}, got {losses.size}"
        )
    noise = generation_noise(seed, state.generation, settings.pairs, state.centre.size)  # (pairs, P)
    update = {"openai_es": _openai_es, "snes": _snes, "pgpe": _pgpe}[settings.search]
    centre, sigmas, velocity, second_moment = update(state, settings, noise, losses[: settings.population])
    best, best_loss = _lowest(state, settings, seed, losses)
    return PopulationState(centre, sigmas, velocity, second_moment, state.generation + 1, best, best_loss)


def _lowest(state, settings, seed, losses) -> tuple[np.ndarray, float]:
    """The round's lowest of (the centre, the best so far, the members), ties in that order; NaN never wins."""
    population = settings.population
    # Ties go to the centre: it carries the whole population's information where the best so far and a member
    # are each one draw that may have been lucky; on a capped return (CartPole's 500) ties are common.
    order = [population] + ([population + 1] if state.best is not None else []) + list(range(population))
    finite = [candidate for candidate in order if not math.isnan(losses[candidate])]
    if not finite:  # nothing measured a number: keep what there was
        kept = population + 1 if state.best is not None else population
        return candidate_params(state, settings, seed, [kept])[0], math.nan
    winner = min(finite, key=lambda candidate: losses[candidate])  # min keeps the first of equals
    return candidate_params(state, settings, seed, [winner])[0], float(losses[winner])


# Each update: (state, settings, noise (pairs, P), the members' losses (population,)) -> (centre, sigmas,
# velocity, second moment), the state's arrays after the generation.


def _openai_es(state, settings, noise, losses):
    utilities = centred_ranks(losses)
    differences = utilities[0::2] - utilities[1::2]  # (pairs,): + better than - means noise points downhill
    # The loss's gradient estimate (Salimans et al. 2017, es_distributed/es.py): minus the rank-weighted
    # noise over the number of members, plus the weight decay's pull.
    gradient = -(differences @ noise) / settings.population + settings.weight_decay * state.centre
    t = state.generation + 1
    first = ADAM_BETA1 * state.velocity + (1 - ADAM_BETA1) * gradient
    second = ADAM_BETA2 * state.second_moment + (1 - ADAM_BETA2) * gradient * gradient
    rate = settings.centre_rate() * math.sqrt(1 - ADAM_BETA2**t) / (1 - ADAM_BETA1**t)
    centre = state.centre - rate * first / (np.sqrt(second) + ADAM_EPSILON)
    return centre, state.sigmas, first, second


def _snes(state, settings, noise, losses):
    utilities = log_rank_utilities(losses)
    members = np.empty((settings.population, noise.shape[1]))  # (N, P): each member's standard normal
    members[0::2], members[1::2] = noise, -noise
    centre = state.centre + settings.centre_rate() * state.sigmas * (utilities @ members)
    sigma_gradient = utilities @ (members * members - 1.0)
    sigmas = state.sigmas * np.exp(settings.sigma_rate(noise.shape[1]) / 2 * sigma_gradient)
    sigmas = np.clip(sigmas, MIN_SIGMA, MAX_SIGMA)
    return centre, sigmas, state.velocity, state.second_moment


def _pgpe(state, settings, noise, losses):
    utilities = centred_ranks(losses)
    plus, minus = utilities[0::2], utilities[1::2]
    scaled = state.sigmas * noise  # (pairs, P): each pair's perturbation
    pairs = noise.shape[0]
    # The utility's gradient (ascent) in the centre and in each step size (Sehnke et al. 2010, symmetric sampling).
    centre_gradient = ((plus - minus) / 2) @ scaled / pairs
    sigma_gradient = ((plus + minus) / 2) @ ((scaled * scaled - state.sigmas**2) / state.sigmas) / pairs
    velocity = _clipup(state.velocity, centre_gradient, settings.centre_rate())
    change = np.clip(
        settings.sigma_rate(noise.shape[1]) * sigma_gradient,
        -PGPE_MAX_SIGMA_CHANGE * state.sigmas,
        PGPE_MAX_SIGMA_CHANGE * state.sigmas,
    )
    sigmas = np.clip(state.sigmas + change, MIN_SIGMA, MAX_SIGMA)
    return state.centre + velocity, sigmas, velocity, state.second_moment


def _clipup(velocity: np.ndarray, gradient: np.ndarray, step_size: float) -> np.ndarray:
    """ClipUp's new velocity: momentum plus a step along the normalised gradient, its norm at most the speed limit."""
    norm = float(np.linalg.norm(gradient))
    step = step_size * gradient / norm if norm > 0 else np.zeros_like(gradient)
    velocity = CLIPUP_MOMENTUM * velocity + step
    speed, limit = float(np.linalg.norm(velocity)), CLIPUP_SPEED * step_size
    return velocity * (limit / speed) if speed > limit else velocity


def run_generation(
    objective: Objective,
    state: PopulationState,
    settings: PopulationSettings,
    seed: int,
    round_seed: int | None = None,
    workers: int = 1,
) -> tuple[PopulationState, np.ndarray]:
    """One generation in this process, its candidates split into `workers` groups as workers would score them:
    (the next state, the candidates' losses)."""
    count = candidate_count(state, settings)
    losses = np.empty(count)
    for group in candidate_groups(count, workers):
        losses[group.start : group.stop] = evaluate_candidates(objective, state, settings, seed, group, round_seed)
    return next_state(state, settings, seed, losses), losses
