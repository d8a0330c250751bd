"""A run ready to start: what `prepare_run` hands the stepper, the executors and every caller of the search."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coordinator.checkpoint import Checkpoint
from coordinator.config import SearchConfig
from coordinator.data import Dataset
from coordinator.result import DataRecord
from coordinator.scaling import Scaling
from workers import Solution


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to start: settings resolved, the rows it learns from, holds out and tests on, scaled."""

    config: SearchConfig  # every "auto" and "from the data" resolved, as the result records it
    dataset: Dataset  # the training rows, scaled
    validation: Dataset | None  # held-out rows that pick the network, scaled
    test: Dataset | None  # a scikit-learn data set's test rows, scaled; never seen by the search
    scaling: Scaling
    data: DataRecord
    run_dir: Path | None
    state: Checkpoint | None  # where a resumed run goes on from
    start: Solution | None = None  # the network a new run starts from (None: each climber's own)
    target_scaling: Scaling | None = None  # a regressor's, fitted on its training targets

    @property
    def objective(self) -> str:
        """What the climbs minimise: "cross_entropy", or a regressor's "mse" or "mae"."""
        return self.config.loss if self.dataset.regression else "cross_entropy"

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
