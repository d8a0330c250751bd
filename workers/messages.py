"""The messages between coordinator and workers: small frozen types, tagged with their round."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workers.climbs import ClimbOutcome
from workers.population import PopulationSettings, PopulationState
from workers.shares import PartialSums


@dataclass(frozen=True)
class ClimbTask:
    """One climber's work in one round: who it is, its own seed, and how many steps it makes."""

    round_index: int
    climber_index: int
    seed: np.random.SeedSequence
    steps: int  # how long the round is: the coordinator's choice, the same for every climber of a round
    round_seed: int | None = None  # a seeded objective's seed for the round, the same for every climber of it
    share: int = 0  # the share of the training rows the climber climbs on (0: the only one, every row)


@dataclass(frozen=True)
class ClimbReport:
    """A climber's best after its round; the coordinator drops reports of other rounds."""

    round_index: int
    climber_index: int
    outcome: ClimbOutcome

    @property
    def loss(self) -> float:
        """The climber's best loss."""
        return self.outcome.loss

    @property
    def score(self) -> float:
        """The score of the climber's best: a classifier's accuracy, a regressor's R^2 (NaN on an objective)."""
        return self.outcome.score


@dataclass(frozen=True)
class ScoreTask:
    """One share's part of a round's scoring: the coordinator's candidates (handed beside it) on that share's rows."""

    round_index: int
    share: int


@dataclass(frozen=True)
class ScoreReport:
    """A share's partial sums of the loss of a round's candidates; the coordinator adds them in share order."""

    round_index: int
    share: int
    partials: PartialSums


@dataclass(frozen=True)
class Generation:
    """What every worker of a population round is handed once: the strategy's state, its settings and the run's
    seed, from which each regenerates its candidates (their noise is never sent)."""

    round_index: int
    state: PopulationState
    settings: PopulationSettings
    seed: int  # the run's seed: the members' noise is a function of (seed, generation, pair)


@dataclass(frozen=True)
class CandidateTask:
    """A run of consecutive candidates of a population round, scored together by one worker."""

    round_index: int
    first: int
    stop: int  # one past the last candidate
    round_seed: int | None = None  # a seeded objective's seed for the round, the same for every candidate


@dataclass(frozen=True)
class CandidateReport:
    """The losses (stop - first,) of a task's candidates; the coordinator drops reports of other rounds."""

    round_index: int
    first: int
    losses: np.ndarray
