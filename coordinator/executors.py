"""Where climbs run: on Ray worker actors, or in this process (for debugging and tests).

Both take the same tasks and give the same reports, so a search's result does not depend on
which one ran it, nor on how many workers it had.
"""

from __future__ import annotations

import contextlib
import os
import warnings
from collections.abc import Iterator
from typing import Literal, Protocol

from cluster import WorkerPool, connect, ray_info
from coordinator.config import ConfigError, SearchConfig
from coordinator.data import Dataset
from coordinator.result import Environment
from workers import ClimbReport, ClimbTask, ClimbWorker, Solution

ExecutorKind = Literal["ray", "inprocess"]


class Executor(Protocol):
    """Runs a round's climbs and yields their reports."""

    workers: int

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks, each exactly once."""

    def workers_alive(self) -> int:
        """Workers up and running now."""

    def environment(self) -> Environment:
        """Where it ran."""

    def close(self) -> None:
        """Release what it holds."""


class InProcessExecutor:
    """Runs every climb here, one after another."""

    def __init__(self, dataset: Dataset, config: SearchConfig):
        # As many as a Ray run here would have, so that default climbers match; all run here.
        self.workers = config.workers or local_cpus()
        self.worker = ClimbWorker(dataset.X, dataset.labels, config.layers, config)
        self.worker.warm_up()

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks, in task order."""
        for task in tasks:
            yield from self.worker.run(start, [task])

    def workers_alive(self) -> int:
        """This process."""
        return 1

    def environment(self) -> Environment:
        """Where it ran."""
        return Environment(executor="inprocess", cpus=local_cpus(), workers=1)

    def close(self) -> None:
        """Nothing to release."""


def local_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class RayExecutor:
    """Runs climbs on long-lived Ray actors, one CPU each; lost actors' climbs run again elsewhere."""

    def __init__(self, dataset: Dataset, config: SearchConfig, address: str | None = None):
        self._stack = contextlib.ExitStack()
        try:
            # A private Ray gets the CPUs there are (fewer if fewer workers are asked for), never more.
            cpus = min(config.workers, local_cpus()) if config.workers else None
            info = self._stack.enter_context(connect(address, num_cpus=cpus))
            self.workers = config.workers or max(1, info.cpus)
            if info.cpus and self.workers > info.cpus:
                warnings.warn(
                    f"workers: {self.workers} workers share the {info.cpus} CPU(s) Ray has: each holds the data and "
                    f"a process of its own, and none runs faster (give --workers {info.cpus} or fewer)",
                    UserWarning,
                    stacklevel=2,
                )
            # More workers than CPUs share them, rather than wait for CPUs that never come.
            cpus_per_worker = min(1.0, info.cpus / self.workers) if info.cpus else 1.0
            self.pool = WorkerPool(
                ClimbWorker,
                (dataset.X, dataset.labels, config.layers, config.climb_settings()),
                self.workers,
                actor_options={"num_cpus": cpus_per_worker},
            ).start()
            self._stack.callback(self.pool.close)
            self.pool.wait_until_ready()
        except BaseException:
            self._stack.close()
            raise

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks as they arrive; reports of other rounds are dropped."""
        round_index = tasks[0].round_index
        yield from self.pool.run("run", start, tasks, accept=lambda report: report.round_index == round_index)

    def workers_alive(self) -> int:
        """Actors up and running now."""
        return len(self.pool.worker_info)

    def environment(self) -> Environment:
        """Where it ran."""
        info = ray_info()
        return Environment(
            executor="ray", ray_version=info.version, nodes=info.nodes, cpus=info.cpus, workers=self.workers
        )

    def close(self) -> None:
        """End the actors and, if this executor started Ray, Ray itself."""
        self._stack.close()


@contextlib.contextmanager
def open_executor(
    executor: ExecutorKind | Executor, dataset: Dataset, config: SearchConfig, address: str | None = None
) -> Iterator[Executor]:
    """The executor named (closed at the end of the block), or the caller's own (left open)."""
    if not isinstance(executor, str):
        yield executor
        return
    if executor == "inprocess":
        runner: Executor = InProcessExecutor(dataset, config)
    elif executor == "ray":
        runner = RayExecutor(dataset, config, address)
    else:
        raise ConfigError(f"executor: must be 'ray', 'inprocess' or an Executor, got {executor!r}")
    try:
        yield runner
    finally:
        runner.close()
