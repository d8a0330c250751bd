"""A worker: holds the data set and the climb settings, and runs the climbs it is handed.

Plain Python, so it runs in-process as it is and on Ray wrapped as an actor by the caller.
"""

from __future__ import annotations

import numpy as np

from workers.climbs import Solution, climb_batch
from workers.messages import ClimbReport, ClimbTask
from workers.network import Layout
from workers.settings import ClimbSettings


class ClimbWorker:
    """Runs climbs on the data set it was created with."""

    def __init__(self, X: np.ndarray, labels: np.ndarray, sizes: tuple[int, ...], settings: ClimbSettings):
        self.X = np.ascontiguousarray(X, dtype=np.float64)
        self.labels = np.ascontiguousarray(labels, dtype=np.int64)
        self.layout = Layout(tuple(sizes))
        self.settings = settings.climb_settings()

    def warm_up(self) -> None:
        """Compile (or load from cache) the kernel before the first round is timed."""
        climb_batch(None, [0], self.X[:4], self.labels[:4], self.layout, _warm_settings(self.settings))

    def run(self, start: Solution | None, tasks: list[ClimbTask]) -> list[ClimbReport]:
        """Climb once per task from start (None: each climber's own initialisation); the tasks share one round."""
        seeds = [task.seed for task in tasks]
        settings = self.settings.model_copy(update={"steps": tasks[0].steps}) if tasks else self.settings
        outcomes = climb_batch(start, seeds, self.X, self.labels, self.layout, settings)
        return [
            ClimbReport(round_index=task.round_index, climber_index=task.climber_index, outcome=outcome)
            for task, outcome in zip(tasks, outcomes, strict=True)
        ]


def _warm_settings(settings: ClimbSettings) -> ClimbSettings:
    """The same code paths as settings, for a handful of steps."""
    return settings.model_copy(update={"steps": min(settings.steps, 2), "random_steps": min(settings.random_steps, 2)})
