"""A round of a population strategy: one generation, its candidates scored by the workers, the centre moved here.

The coordinator broadcasts the strategy's state once a round (`workers.messages.Generation`: the centre, the step
sizes, the best so far, the settings and the run's seed) and hands each worker a run of consecutive candidates by
number (`CandidateTask`); each worker regenerates its members' noise from (seed, generation, pair), scores them
under the round's seed and sends back their losses (`CandidateReport`), a few bytes a candidate. The coordinator
writes the losses into place by candidate number, whatever order they arrive in, and moves the centre
(`workers.population.next_state`): so the result is the same bits for any number of workers, arrival order,
deaths (a dead worker's task runs again, with the same numbers) and resumes (the state is checkpointed).

The run's best is the round's best candidate (the lowest of the centre, the best so far and the members, all scored
under the round's seed): like a climb's, a seeded objective's best is measured anew each round, and may rise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from coordinator.rounds.best import Best
from workers import ClimbOutcome, Layout, Solution
from workers.messages import CandidateTask, Generation
from workers.objective import Objective, ObjectiveError
from workers.population import (
    PopulationSettings,
    PopulationState,
    candidate_count,
    candidate_groups,
    next_state,
    start_centre,
    start_state,
)


def recommended_population(parameters: int) -> int:
    """SNES's own population for this many parameters, 4 + floor(3 ln P) (Wierstra et al. 2014), made even."""
    members = 4 + math.floor(3 * math.log(parameters))
    return members + members % 2


def auto_population(workers: int, parameters: int) -> int:
    """The members a generation when none are given: SNES's own number for the parameters, raised until the
    members, the centre and the best so far fill every worker's evaluations of a round (a round waits for its
    busiest worker, so filling the others costs no time), an even number (antithetic pairs)."""
    evaluations = -(-(recommended_population(parameters) + 2) // workers) * workers  # a whole number a worker
    return max(2, (evaluations - 2) // 2 * 2)


def first_state(settings: PopulationSettings, seed: int, layout: Layout, start: Solution | None) -> PopulationState:
    """The state before round 0: centred on the given start network, or on one drawn from the run's seed."""
    centre = start.params if start is not None else start_centre(seed, layout)
    return start_state(centre, settings)


@dataclass(frozen=True)
class PopulationRound:
    """What a round of a population strategy bought: its best, and the evaluations it took."""

    best: Best
    evaluations: int  # every candidate's: the members, the centre and the best so far
    critical_evaluations: int  # the most candidates one worker scored, one after another
    non_finite: int  # candidates whose loss was NaN or an infinity


class PopulationRounds:
    """A population strategy's state from round to round: each round one generation, scored by the executor."""

    def __init__(self, objective: Objective, settings: PopulationSettings, seed: int, state: PopulationState):
        self.objective = objective
        self.settings = settings
        self.seed = seed
        self.state = state
        self._warned_non_finite = False

    def run(
        self, round_index: int, executor, round_seed: int | None, reported: Callable[[int, int], None]
    ) -> PopulationRound:
        """One generation on the executor's workers; reported(done, total) as each task's losses arrive."""
        state, settings = self.state, self.settings
        if state.generation != round_index:  # a resumed run's state and history go together
            raise RuntimeError(f"round {round_index}: the population is at generation {state.generation}")
        count = candidate_count(state, settings)
        groups = candidate_groups(count, executor.workers)
        tasks = [CandidateTask(round_index, group.start, group.stop, round_seed) for group in groups]
        generation = Generation(round_index, state, settings, self.seed)
        losses = np.full(count, np.nan)
        scored = np.zeros(count, dtype=bool)
        for done, report in enumerate(executor.run_candidates(generation, tasks), start=1):
            stop = report.first + len(report.losses)
            losses[report.first : stop] = report.losses
            scored[report.first : stop] = True
            reported(done, len(tasks))
        if not scored.all():  # a pool never loses a task; this guards the one-answer promise
            raise RuntimeError(f"round {round_index}: {int(scored.sum())} of {count} candidates were scored")
        non_finite = int(np.isnan(losses).sum())  # the objective makes every non-finite number NaN
        if non_finite == count:
            raise ObjectiveError(
                f"objective {self.objective.name}: all {count} evaluations of round {round_index} gave NaN or an "
                "infinity; there is nothing to move the population by (is it defined at the start, weights of "
                "0.01 x randn?)"
            )
        if non_finite and not self._warned_non_finite:
            self._warned_non_finite = True
            warnings.warn(
                f"objective {self.objective.name}: {non_finite} of the {count} candidates of round {round_index} "
                "got NaN or an infinity; such points rank last and never win (told once a run)",
                UserWarning,
                stacklevel=3,
            )
        self.state = next_state(state, settings, self.seed, losses)
        outcome = ClimbOutcome(self.state.best, self.state.sigmas, self.state.best_loss, math.nan, evaluations=count)
        best = Best(round_index=round_index, climber_index=-1, outcome=outcome)
        critical = max(len(group) for group in groups)
        return PopulationRound(best, count, critical, non_finite)
