"""What a run minimises when it is not a data set's loss: a user's function, or an environment's return.

The round is the data path's (coordinator/rounds/stepper.py); what differs is who measures a loss, and
under which draws. For a seeded (noisy) objective every loss a round compares is measured under
that round's seed: each climber scores its start (the broadcast best) and every candidate under it,
and the coordinator scores its recombinations under it too. The best of earlier rounds, measured
under an older seed, never meets this round's climbers with its old loss: it enters the round with
the loss its climbers measured for it under this round's seed (`rescored`). So within a round every
comparison is on the same draws (common random numbers), and no network keeps a lucky score from
a round it was measured in. A round's best loss is then measured anew each round, and may rise.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from coordinator.results.records import ObjectiveRecord
from coordinator.rounds.best import Best
from coordinator.rounds.combine import Evaluator
from workers import ClimbReport
from workers.objective import Objective, ObjectiveCallError, ObjectiveError

# A key of the run's seed sequence no climber's (round, climber) key can take: the round seeds'.
ROUND_SEED_SALT = 0x726F756E  # "roun"


def objective_record(objective: Objective, env: str | None) -> ObjectiveRecord:
    """The record of an objective (env: the environment it rolls out, if it is one)."""
    return ObjectiveRecord(
        kind="env" if env is not None else "callable",
        name=objective.name,
        seeded=objective.seeded,
        batch=objective.batch,
    )


def round_seed(run_seed: int, round_index: int) -> int:
    """The seed a seeded objective gets in a round: below 2**63, the same for every climber and the coordinator."""
    sequence = np.random.SeedSequence(run_seed, spawn_key=(ROUND_SEED_SALT, round_index))
    return int(sequence.generate_state(1, dtype=np.uint64)[0] >> np.uint64(1))


def rescored(previous: Best | None, reports: Sequence[ClimbReport]) -> Best | None:
    """The previous best with the loss its climbers measured for it this round (the lowest climber's, in order).

    Every climber of a round scores the broadcast best first, under the round's seed; a deterministic
    objective gives them all the same number. None stays None (each climber started on its own).
    """
    if previous is None or not reports:
        return previous
    first = min(reports, key=lambda report: report.climber_index)
    start_loss = getattr(first.outcome, "start_loss", math.nan)
    return replace(previous, outcome=replace(previous.outcome, loss=float(start_loss)))


def objective_evaluator(objective: Objective, seed: int | None, round_index: int, what: str) -> Evaluator:
    """evaluate(params) -> (loss, NaN): the objective under the round's seed; failing, an ObjectiveError naming what."""

    def evaluated(params) -> tuple[float, float]:
        try:
            loss = objective.losses(np.asarray(params, dtype=np.float64)[None, :], seed)[0]
        except ObjectiveCallError as failure:
            raise ObjectiveError(
                f"objective {objective.name}: the coordinator's evaluation of {what} in round {round_index} "
                f"{failure.message}"
            ) from failure.__cause__
        return float(loss), math.nan

    return evaluated


def warn_non_finite(objective: Objective, reports: Sequence[ClimbReport]) -> bool:
    """Warn, in one line, where the objective gave NaN or an infinity this round; whether it did."""
    counted = [report for report in reports if getattr(report.outcome, "non_finite", 0)]
    if not counted:
        return False
    first = min(counted, key=lambda report: report.climber_index)
    warnings.warn(
        f"objective {objective.name}: climber {first.climber_index} of round {first.round_index} got NaN or an "
        f"infinity for {first.outcome.non_finite} of its {first.outcome.evaluations} evaluations "
        f"({len(counted)} climber(s) this round); such points never win (told once a run)",
        UserWarning,
        stacklevel=2,
    )
    return True


def require_a_number(objective: Objective, best: Best | None, reports: Sequence[ClimbReport], round_index: int) -> None:
    """An ObjectiveError when a round keeps no number: every evaluation of it gave NaN or an infinity (nothing to
    climb from, and a result whose best is NaN would answer nothing)."""
    if best is not None and math.isfinite(best.loss):
        return
    evaluations = sum(report.outcome.evaluations for report in reports)
    raise ObjectiveError(
        f"objective {objective.name}: all {evaluations} evaluations of round {round_index} gave NaN or an infinity; "
        "there is nothing to climb from (is it defined at the start, weights of 0.01 x randn?)"
    )
