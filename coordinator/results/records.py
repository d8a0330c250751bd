"""What a run records of itself: its rounds, the rows it learnt from, what it minimised, where it ran, why it stopped.

A classifier's figures are named accuracy, a regressor's R^2, each None where the other applies (and both
for a run that minimised an objective). Files written before a regressor's figures had names of their
own say accuracy for its R^2: `regressor_fields` reads them as today's.
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

# The figures a regressor's files wrote under a classifier's names before it had its own.
R2_FIELDS = {"best_accuracy": "best_r2", "validation_accuracy": "validation_r2", "test_accuracy": "test_r2"}


def regressor_fields(values: dict[str, Any]) -> dict[str, Any]:
    """A regressor's saved record (a result, a round) with R^2 under its own names: an old file's *_accuracy fields
    become *_r2 (where the *_r2 field is absent); a file of today's comes back as it is."""
    moved = dict(values)
    for old, new in R2_FIELDS.items():
        if old in moved and new not in moved:
            moved[new] = moved.pop(old)
    return moved


class StopReason(str, Enum):
    """Why a search stopped."""

    ROUNDS = "rounds"
    TARGET_LOSS = "target_loss"
    TIME_BUDGET = "time_budget"
    PATIENCE = "patience"  # rounds without a better held-out score
    CALLER = "caller"  # the caller stopped stepping

    @property
    def text(self) -> str:
        """How a person reads it: 'time budget'."""
        return self.value.replace("_", " ")


class RoundRecord(BaseModel):
    """One round: the best after it, the work done in it, and who won it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    round: int
    best_loss: float  # the loss the climbs minimise, on the training rows (with the L2 term), or the objective's
    best_accuracy: float | None = None  # a classifier's, on the training rows (None: a regressor, an objective)
    best_r2: float | None = None  # a regressor's R^2 on the training rows (None: a classifier, an objective)
    evaluations: int  # losses the climbers computed (the coordinator's: coordinator_evaluations)
    wall_seconds: float
    evaluations_per_second: float
    winning_climber: int | None  # None: no single climber's network is the round's best
    session: int = 0  # 0 for the first run, 1 after the first resume, ...
    workers: int | None = None  # workers alive at the end of the round (0: Ray was starting; the driver climbed)
    driver_tasks: int | None = None  # climbs of the round run in this process, not on a worker (None: not recorded)
    actors: int | None = None  # distinct worker actors that ran the round's other climbs (None: not recorded)
    validation_loss: float | None = None  # of the best so far, on held-out rows (None: none held out)
    validation_accuracy: float | None = None  # a classifier's
    validation_r2: float | None = None  # a regressor's
    steps: int | None = None  # steps each climber made in the round (None: saved before rounds recorded it)
    climber_evaluations: int | None = None  # the most losses any one climber computed in the round
    coordinator_evaluations: int = 0  # losses the coordinator computed itself (scoring recombinations)
    combined: bool = False  # the round's best is a recombination of the climbers' changes
    winning_share: int | None = None  # row shares: the share of the climber whose share's loss fell most

    @property
    def best_score(self) -> float | None:
        """The best's score on the training rows: a classifier's accuracy or a regressor's R^2 (None: an objective)."""
        return self.best_r2 if self.best_r2 is not None else self.best_accuracy

    @property
    def validation_score(self) -> float | None:
        """The held-out score of the best so far: accuracy or R^2 (None: no rows held out)."""
        return self.validation_r2 if self.validation_r2 is not None else self.validation_accuracy

    @property
    def critical_evaluations(self) -> int | None:
        """Losses computed one after another in the round: one climber's, then the coordinator's."""
        if self.climber_evaluations is None:
            return None
        return self.climber_evaluations + self.coordinator_evaluations


class Rows(BaseModel):
    """A set of held-out rows: where they came from, how many, and their SHA-256."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str
    rows: int
    sha256: str


class DataRecord(BaseModel):
    """What a run learnt from: enough to name the data, check it is the same, and map classes back."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str  # a file's absolute path, a named data set, or "arrays"
    rows: int  # training rows (held-out rows not counted)
    features: int
    classes: int
    class_labels: list[int | str]  # the label each class index stands for, in order
    sha256: str  # of the training rows (features as float64, class indices as int64, a regressor's targets)
    feature_names: list[str] | None = None
    notes: list[str] = []
    validation: Rows | None = None
    test: Rows | None = None
    targets: int | None = None  # a regressor's outputs (None: a classifier)
    target_names: list[str] | None = None  # a regressor's target columns, where the file named them
    shares: int = 1  # the row shares the training rows were split into (1: every climber on every row)
    share_rows: list[int] | None = None  # the rows a share holds, each size once (shares of 3,000 rows in 4: [750])
    label_name: str | None = None  # the label column's header in the training file (evaluate finds it by it)


class ObjectiveRecord(BaseModel):
    """What a run minimised when it learnt from no data (coordinator/rounds/objective_round.py)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["callable", "env"]  # a user's function, or minus an environment's mean return
    name: str  # the function's module.qualname, or the environment's id
    seeded: bool  # called with the round's seed
    batch: bool  # scores (B, P) at once


class Environment(BaseModel):
    """Where a search ran (its last session): the executor, the machines, and where its rounds' climbs ran."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    executor: Literal["ray", "inprocess"]
    ray_version: str | None = None
    nodes: int = 1
    cpus: int = 1
    workers: int = 1  # worker actors asked for (one per CPU unless told); whether any climbed: the fields below
    driver_rounds: int | None = None  # rounds every climb of which ran in this process (Ray starting, or in process)
    worker_rounds: int | None = None  # rounds every climb of which ran on worker actors
    shared_rounds: int | None = None  # rounds split between the two (the round the actors came up in)
    first_worker_round: int | None = None  # the first round a worker actor climbed in (None: none did)
    actors: int | None = None  # the most worker actors one round ran on (0: none; None: not recorded)
