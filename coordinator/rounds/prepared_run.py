"""A run ready to start: what `prepare_run` hands the stepper, the executors and every caller of the search."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coordinator.config import SearchConfig
from coordinator.data.datasets import Dataset
from coordinator.data.scaling import Scaling
from coordinator.results.records import DataRecord, ObjectiveRecord
from coordinator.rounds.checkpoint import Checkpoint
from workers import Solution
from workers.objective import Objective
from workers.policy import PolicySpec
from workers.settings import resolved_loss


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to start: settings resolved, the rows it learns from, holds out and tests on, scaled.

    A run that minimises an objective (a user's function, or an environment's return) has no rows:
    `dataset` and `data` are None, and `objective` says what it minimises.
    """

    config: SearchConfig  # every "auto" and "from the data" resolved, as the result records it
    dataset: Dataset | None  # the training rows, scaled (None: the run minimises an objective)
    validation: Dataset | None  # held-out rows that pick the network, scaled
    test: Dataset | None  # a scikit-learn data set's test rows, scaled; never seen by the search
    scaling: Scaling
    data: DataRecord | None
    run_dir: Path | None
    state: Checkpoint | None  # where a resumed run goes on from
    start: Solution | None = None  # the network a new run starts from (None: each climber's own)
    objective: Objective | None = None  # what the climbs minimise instead of the rows' loss
    objective_record: ObjectiveRecord | None = None  # what the result and checkpoint say of it
    policy: PolicySpec | None = None  # an environment's policy: observations to inputs, outputs to actions
    episode_steps: int | None = None  # an environment's time limit: the most steps of one episode
    target_scaling: Scaling | None = None  # a regressor's, fitted on its training targets
    share_indices: list[np.ndarray] | None = None  # each row share's training rows (indices), ascending; None: one

    @property
    def loss_name(self) -> str:
        """The rows' loss the climbs minimise: a classifier's "cross_entropy" or "error", a regressor's "mse", "mae"."""
        return resolved_loss(self.config.loss, self.dataset is not None and self.dataset.regression)

    @property
    def start_sha256(self) -> str | None:
        """The start network's SHA-256 (as a result records it), or the resumed run's, or None."""
        if self.state is not None:
            return self.state.start_sha256
        return start_sha256(self.start) if self.start is not None else None


def start_sha256(start: Solution) -> str:
    """The SHA-256 of a start network: its parameters, then its step sizes, as float64 bytes."""
    digest = hashlib.sha256(np.ascontiguousarray(start.params, dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(start.step_sizes, dtype=np.float64).tobytes())
    return digest.hexdigest()
