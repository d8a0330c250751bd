"""Where climbs run: on Ray worker actors, or in this process (for debugging and tests).

Both take the same tasks and give the same reports, so a search's result does not depend on
which one ran it, nor on how many workers it had.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from cluster import ActorPool, connect
from coordinator.config import SearchConfig
from coordinator.data import Dataset
from coordinator.result import Environment
from workers import ClimbReport, ClimbTask, ClimbWorker, Solution


class InProcessExecutor:
    """Runs every climb here, one after another."""

    def __init__(self, dataset: Dataset, config: SearchConfig):
        # As many as a Ray run here would have, so that default climbers match; all run here.
        self.workers = config.workers or os.cpu_count() or 1
        self.worker = ClimbWorker(dataset.X, dataset.labels, config.layers, config.climb_settings())
        self.worker.warm_up()

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks, in task order."""
        for task in tasks:
            yield from self.worker.run(start, [task])

    def environment(self) -> Environment:
        """Where it ran."""
        return Environment(executor="inprocess", cpus=os.cpu_count() or 1, workers=1)

    def close(self) -> None:
        """Nothing to release."""


class RayExecutor:
    """Runs climbs on long-lived Ray actors, one CPU each; lost actors' climbs run again elsewhere."""

    def __init__(self, dataset: Dataset, config: SearchConfig, address: str | None = None):
        self._stack = contextlib.ExitStack()
        try:
            self.info = self._stack.enter_context(connect(address, num_cpus=config.workers))
            self.workers = config.workers or max(1, self.info.cpus)
            init_args = (dataset.X, dataset.labels, config.layers, config.climb_settings())
            # More workers than CPUs share them, rather than wait for CPUs that never come.
            cpus_per_worker = min(1.0, self.info.cpus / self.workers) if self.info.cpus else 1.0
            self.pool = ActorPool(ClimbWorker, init_args, self.workers, actor_options={"num_cpus": cpus_per_worker})
        except BaseException:
            self._stack.close()
            raise

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks as they arrive; reports of other rounds are dropped."""
        round_index = tasks[0].round_index
        yield from self.pool.run("run", start, tasks, accept=lambda report: report.round_index == round_index)

    def environment(self) -> Environment:
        """Where it ran."""
        from cluster import ray_info

        info = ray_info()
        return Environment(
            executor="ray", ray_version=info.version, nodes=info.nodes, cpus=info.cpus, workers=self.workers
        )

    def close(self) -> None:
        """End the actors and, if this executor started Ray, Ray itself."""
        try:
            self.pool.close()
        finally:
            self._stack.close()
