"""A worker: holds training rows (all of them, or its shares of them) and the climb settings, and runs what it is
handed: climbs, and a share's part of the coordinator's scoring.

Plain Python, so it runs in-process as it is and on Ray wrapped as an actor by the caller.
"""

from __future__ import annotations

import numpy as np

from workers.climbs import Solution, climb_rows
from workers.losses import CROSS_ENTROPY, LOSS_KINDS
from workers.messages import ClimbReport, ClimbTask, ScoreReport, ScoreTask
from workers.network import Layout
from workers.rows import Problem, pack_rows, with_loss
from workers.settings import ClimbSettings
from workers.shares import ShareFile, ShareRows, partial_sums, share_l2


class ClimbWorker:
    """Runs climbs on the training rows it was created with (`workers.rows.pack_rows`, read-only).

    rows: every training row (a `Problem`), or the shares of them this worker holds (`ShareRows`, or a
    `ShareFile` it reads them from): a climb task then climbs on its share's rows, with the L2 weight that
    gives the whole rows' term (`share_l2`), and a score task evaluates the coordinator's candidates on one
    share. Rows in memory are prepared once by whoever starts the workers: on Ray they travel through the
    object store, once per node, and every worker process there reads the same pages.
    """

    def __init__(self, rows: Problem | ShareRows | ShareFile, sizes: tuple[int, ...], settings: ClimbSettings):
        if isinstance(rows, ShareFile):  # its shares' rows, read from the file here
            rows = rows.read()
        self.shares = rows if isinstance(rows, ShareRows) else ShareRows({0: rows}, rows.labels.shape[0])
        self.layout = Layout(tuple(sizes))
        self.settings = settings.climb_settings()

    @property
    def rows(self) -> Problem:
        """The rows of the lowest share it holds (every row, without shares)."""
        return self.shares.rows[min(self.shares.rows)]

    def warm_up(self) -> None:
        """Compile (or load from cache) the kernel before the first round is timed."""
        # Compiled code depends on the types alone: up to four rows of ones stand in for the data.
        rows = self.rows
        labels = rows.labels[:4]  # as many as there are, up to four
        ones = np.ones((labels.shape[0], self.layout.num_inputs))
        if rows.loss_kind == CROSS_ENTROPY:
            few = pack_rows(ones, labels)
        else:  # a regressor's: targets of ones, its own loss
            loss = next(name for name, kind in LOSS_KINDS.items() if kind == rows.loss_kind)
            few = pack_rows(ones, None, np.ones((labels.shape[0], rows.targets.shape[0])), loss)
        climb_rows(None, [0], few, self.layout, _warm_settings(self.settings))
        if self.shares.total_rows != rows.labels.shape[0]:  # shares of the rows: their scoring too
            self.score(np.zeros((1, self.layout.num_params)), [ScoreTask(-1, min(self.shares.rows))])

    def run(self, start: Solution | None, tasks: list[ClimbTask]) -> list[ClimbReport]:
        """Climb once per task from start (None: each climber's own initialisation); the tasks share one round.

        Tasks on the same share climb together (`climb_rows` of their seeds); each on its share's rows.
        """
        if not tasks:
            return []
        settings = self.settings.model_copy(update={"steps": tasks[0].steps})
        outcomes = {}
        for share in sorted({task.share for task in tasks}):
            group = [task for task in tasks if task.share == share]
            rows = self.shares.rows[share]
            share_settings = settings
            if self.shares.total_rows != rows.labels.shape[0]:  # a share of the rows: the whole rows' L2 term
                share_settings = settings.model_copy(
                    update={"l2": share_l2(settings.l2, rows.labels.shape[0], self.shares.total_rows)}
                )
            results = climb_rows(start, [task.seed for task in group], rows, self.layout, share_settings)
            outcomes |= {task.climber_index: outcome for task, outcome in zip(group, results, strict=True)}
        return [ClimbReport(task.round_index, task.climber_index, outcomes[task.climber_index]) for task in tasks]

    def score(self, candidates: np.ndarray, tasks: list[ScoreTask]) -> list[ScoreReport]:
        """Each task's share's partial sums of the loss of candidates (K, P), with the run's loss and L2 weight."""
        reports = []
        for task in tasks:
            rows = with_loss(self.shares.rows[task.share], self.settings.l2, self.settings.loss)
            parts = partial_sums(candidates, rows, self.layout.arrays, self.shares.total_rows, task.share)
            reports.append(ScoreReport(round_index=task.round_index, share=task.share, partials=parts))
        return reports


def _warm_settings(settings: ClimbSettings) -> ClimbSettings:
    """The same code paths as settings, for a handful of steps."""
    return settings.model_copy(update={"steps": min(settings.steps, 2), "random_steps": min(settings.random_steps, 2)})
