"""A worker: holds the data set and the climb settings, and runs the climbs it is handed.

Plain Python, so it runs in-process as it is and on Ray wrapped as an actor by the caller.
"""

from __future__ import annotations

import numpy as np

from workers.climbs import Solution, climb_rows
from workers.losses import CROSS_ENTROPY, LOSS_KINDS
from workers.messages import ClimbReport, ClimbTask
from workers.network import Layout
from workers.rows import Problem, pack_rows
from workers.settings import ClimbSettings


class ClimbWorker:
    """Runs climbs on the training rows it was created with (`workers.rows.pack_rows`, read-only).

    The rows are prepared once by whoever starts the workers: on Ray they travel through the object
    store, once per node, and every worker process there reads the same pages.
    """

    def __init__(self, rows: Problem, sizes: tuple[int, ...], settings: ClimbSettings):
        self.rows = rows
        self.layout = Layout(tuple(sizes))
        self.settings = settings.climb_settings()

    def warm_up(self) -> None:
        """Compile (or load from cache) the kernel before the first round is timed."""
        # Compiled code depends on the types alone: up to four rows of ones stand in for the data.
        labels = self.rows.labels[:4]  # as many as there are, up to four
        ones = np.ones((labels.shape[0], self.layout.num_inputs))
        if self.rows.loss_kind == CROSS_ENTROPY:
            few = pack_rows(ones, labels)
        else:  # a regressor's: targets of ones, its own loss
            loss = next(name for name, kind in LOSS_KINDS.items() if kind == self.rows.loss_kind)
            few = pack_rows(ones, None, np.ones((labels.shape[0], self.rows.targets.shape[0])), loss)
        climb_rows(None, [0], few, self.layout, _warm_settings(self.settings))

    def run(self, start: Solution | None, tasks: list[ClimbTask]) -> list[ClimbReport]:
        """Climb once per task from start (None: each climber's own initialisation); the tasks share one round."""
        seeds = [task.seed for task in tasks]
        settings = self.settings.model_copy(update={"steps": tasks[0].steps}) if tasks else self.settings
        outcomes = climb_rows(start, seeds, self.rows, self.layout, settings)
        return [
            ClimbReport(round_index=task.round_index, climber_index=task.climber_index, outcome=outcome)
            for task, outcome in zip(tasks, outcomes, strict=True)
        ]


def _warm_settings(settings: ClimbSettings) -> ClimbSettings:
    """The same code paths as settings, for a handful of steps."""
    return settings.model_copy(update={"steps": min(settings.steps, 2), "random_steps": min(settings.random_steps, 2)})
