"""Where climbs (and a population's candidates) run: on Ray worker actors, or in this process (for debugging and tests).

Both take the same tasks and give the same reports, so a search's result does not depend on
which one ran it, nor on how many workers it had.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import threading
import warnings
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import numpy as np

from cluster import RayInfo, WorkerPool, connect, ray_info
from cluster.connect import import_ray_for_local, starts_private_ray
from cluster.stopping import ray_imported, stop_in_background
from coordinator.config import ConfigError, SearchConfig
from coordinator.data.datasets import Dataset
from coordinator.data.row_file import FileRows
from coordinator.results.records import Environment
from workers import ClimbReport, ClimbTask, ClimbWorker, Solution, pack_rows
from workers.messages import CandidateReport, CandidateTask, Generation, ScoreTask
from workers.objective import Objective, ObjectiveError
from workers.objective_worker import ObjectiveWorker
from workers.settings import resolved_loss
from workers.shares import PartialSums, ShareFile, ShareRows

ExecutorKind = Literal["ray", "inprocess"]


def worker_of(
    dataset: Dataset | None,
    config: SearchConfig,
    objective: Objective | None,
    share_indices: list[np.ndarray] | None = None,
) -> tuple[type, tuple]:
    """The worker class and its arguments: a ClimbWorker holding the rows (every share of them, where the rows are
    split into shares), or an ObjectiveWorker the objective."""
    if objective is not None:
        return ObjectiveWorker, (objective, config.layers, config.climb_settings())
    # The rows as the kernel reads them, made once here: a pool puts them into the object store once,
    # and every actor of a node maps the same pages (no copy per actor).
    if share_indices is None or len(share_indices) == 1:
        return ClimbWorker, (training_rows(dataset, config), config.layers, config.climb_settings())
    if isinstance(dataset.X, FileRows):  # rows in a .npy file: each worker reads its own
        return ClimbWorker, (share_file(dataset, share_indices, range(len(share_indices))), config.layers,
                             config.climb_settings())  # fmt: skip
    shares = {share: training_rows(dataset.take(rows), config) for share, rows in enumerate(share_indices)}
    return ClimbWorker, (ShareRows(shares, len(dataset.X)), config.layers, config.climb_settings())


def share_file(dataset: Dataset, share_indices: list[np.ndarray], held) -> ShareFile:
    """What a worker reads its shares (those `held`) of a .npy file's training rows from: rows, labels, scaling."""
    rows: FileRows = dataset.X
    return ShareFile(
        rows.path,
        rows.label_column,
        {share: rows.rows[share_indices[share]] for share in held},
        {share: dataset.labels[share_indices[share]] for share in held},
        len(rows),
        rows.offset,
        rows.scale,
    )


def share_holdings(shares: int, workers: int) -> list[set[int]]:
    """The shares each of `workers` actors holds: share s on actor s mod workers; with more actors than shares,
    actor i holds share i mod shares (several actors hold a share, and take its climbs in turn). A placement only:
    which actor holds what changes nothing but who computes it."""
    if workers <= shares:
        return [{share for share in range(shares) if share % workers == actor} for actor in range(workers)]
    return [{actor % shares} for actor in range(workers)]


def task_groups(tasks: list[ClimbTask], workers: int) -> list[list[ClimbTask]]:
    """A round's tasks as `workers` runs of consecutive climbers: what each worker scores together (batch objective)."""
    size = -(-len(tasks) // max(1, workers))
    return [tasks[start : start + size] for start in range(0, len(tasks), size)]


@dataclass(frozen=True)
class RoundPlacement:
    """Where a round's climbs ran: how many in this process (the driver), and on how many worker actors."""

    driver_tasks: int
    actors: int  # distinct worker processes that ran the round's other tasks


class Executor(Protocol):
    """Runs a round's climbs and yields their reports."""

    workers: int

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks, each exactly once."""

    def run_candidates(self, generation: Generation, tasks: list[CandidateTask]) -> Iterator[CandidateReport]:
        """The losses of a population round's candidates, each task's exactly once (a run on an objective)."""

    def placement(self) -> RoundPlacement:
        """Where the last round's climbs ran."""

    def score(self, round_index: int, candidates: np.ndarray) -> list[PartialSums]:
        """Every row share's partial sums of the loss of candidates (K, P) (a run on row shares)."""

    def workers_alive(self) -> int:
        """Workers up and running now."""

    def environment(self) -> Environment:
        """Where it ran."""

    def close(self) -> None:
        """Release what it holds."""


class InProcessExecutor:
    """Runs every climb here, one after another."""

    def __init__(
        self,
        dataset: Dataset | None,
        config: SearchConfig,
        objective: Objective | None = None,
        share_indices: list[np.ndarray] | None = None,
    ):
        # As many as a Ray run here would have, so that default climbers match; all run here.
        self.workers = config.workers or local_cpus()
        worker_class, arguments = worker_of(dataset, config, objective, share_indices)
        self.shares = len(share_indices) if share_indices is not None else 1
        self.worker = worker_class(*arguments)
        self.worker.warm_up()
        # A batch objective scores each worker's climbers of a round together, as they would be on Ray.
        self.batch = objective is not None and objective.batch

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks, in task order."""
        self._last_tasks = len(tasks)
        for group in task_groups(tasks, self.workers) if self.batch else [[task] for task in tasks]:
            yield from self.worker.run(start, group)

    def run_candidates(self, generation: Generation, tasks: list[CandidateTask]) -> Iterator[CandidateReport]:
        """The losses of the tasks' candidates, in task order."""
        self._last_tasks = len(tasks)
        for task in tasks:
            yield from self.worker.evaluate(generation, [task])

    def placement(self) -> RoundPlacement:
        """Every climb of the last round ran here."""
        return RoundPlacement(driver_tasks=getattr(self, "_last_tasks", 0), actors=0)

    def score(self, round_index: int, candidates: np.ndarray) -> list[PartialSums]:
        """Every share's partial sums, here."""
        tasks = [ScoreTask(round_index, share) for share in range(self.shares)]
        return [report.partials for report in self.worker.score(candidates, tasks)]

    def workers_alive(self) -> int:
        """This process."""
        return 1

    def environment(self) -> Environment:
        """Where it ran."""
        return Environment(executor="inprocess", cpus=local_cpus(), workers=1)

    def close(self) -> None:
        """Nothing to release."""


def training_rows(dataset: Dataset, config: SearchConfig):
    """The training rows as the climbs read them (`workers.pack_rows`), a regressor's with its targets and loss."""
    if dataset.regression:
        return pack_rows(dataset.X, None, dataset.targets, resolved_loss(config.loss, True))
    return pack_rows(dataset.X, dataset.labels)


def local_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


class RayExecutor:
    """Runs climbs on long-lived Ray actors, one CPU each; lost actors' climbs run again elsewhere.

    While Ray and its workers start, this process climbs: a round's tasks run here, one at a time,
    until every actor is warm, then on the actors. Whoever runs a task, its report is the same, so
    the result does not change; only less of a short run goes to waiting. A private local Ray is
    started by a thread of its own, which holds it until close() (Ray ends the processes it starts
    when the thread that started them ends); a cluster is joined here, at once, so that an
    unreachable address is told before anything else.
    """

    def __init__(
        self,
        dataset: Dataset | None,
        config: SearchConfig,
        address: str | None = None,
        objective: Objective | None = None,
        share_indices: list[np.ndarray] | None = None,
    ):
        self._stack = contextlib.ExitStack()
        self._ready = threading.Event()  # every actor is warm (or the start failed)
        self._ray_up = threading.Event()  # a private Ray has started (its actors may not have)
        self.left_to_stop = False  # closed while its private Ray was starting: the start stops Ray when it is done
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self.pool: WorkerPool | None = None
        self.info: RayInfo | None = None
        self._worker_class, self._init_args = worker_of(dataset, config, objective, share_indices)
        self.shares = len(share_indices) if share_indices is not None else 1
        self._dataset, self._share_indices = dataset, share_indices
        # Rows left in their file are read by the actors, never here: every climb waits for them.
        in_file = dataset is not None and isinstance(dataset.X, FileRows) and self.shares > 1
        self.batch = objective is not None and objective.batch  # each actor scores its share of a round together
        self._private = starts_private_ray(address)
        self._climb_while_starting = config.climb_while_starting and not in_file
        self._driver_tasks = 0  # of the last round
        self.local = None
        try:
            if self._private:
                # A private Ray gets the CPUs there are (fewer if fewer workers are asked for), never more.
                cpus = min(config.workers or local_cpus(), local_cpus())
                self._private_cpus = cpus
                self.workers = config.workers or cpus
                _warn_if_shared(self.workers, cpus, objective is not None)
                self._starter = threading.Thread(target=self._hold_private_ray, args=(cpus,), daemon=True)
            else:
                self.info = self._stack.enter_context(connect(address))
                self.workers = config.workers or max(1, self.info.cpus)
                _warn_if_shared(self.workers, self.info.cpus, objective is not None)
                self._start_pool()
                self._stack.callback(self.pool.close)
                self._starter = threading.Thread(target=self._wait_for_pool, daemon=True)
            self._starter.start()
            if self._climb_while_starting:
                self.local = self._worker_class(*self._init_args)  # climbs here until the actors are warm
                self.local.warm_up()
        except BaseException:
            self.close()
            raise

    def _start_pool(self) -> None:
        """Create the actors; they warm up in the background."""
        cpus = self.info.cpus
        # More workers than CPUs share them, rather than wait for CPUs that never come.
        cpus_per_worker = min(1.0, cpus / self.workers) if cpus else 1.0
        options = {"num_cpus": cpus_per_worker}
        init_args, slot_args = self._init_args, None
        self._holdings = share_holdings(self.shares, self.workers)
        self._holders = {
            share: {i for i, held in enumerate(self._holdings) if share in held} for share in range(self.shares)
        }
        if self.shares > 1 and isinstance(self._init_args[0], ShareFile):  # each actor reads its shares' rows
            files = {tuple(sorted(held)): None for held in self._holdings}
            for held in files:
                files[held] = share_file(self._dataset, self._share_indices, held)
            slot_args = [(files[tuple(sorted(held))],) for held in self._holdings]
            init_args = self._init_args[1:]
        elif self.shares > 1:  # each actor holds its shares' rows only
            every, *rest = self._init_args
            alone = [ShareRows({share: every.rows[share]}, every.total_rows) for share in range(self.shares)]
            slot_args = [
                (alone[next(iter(held))],)
                if len(held) == 1
                else (ShareRows({share: every.rows[share] for share in sorted(held)}, every.total_rows),)
                for held in self._holdings
            ]
            init_args = tuple(rest)
        self.pool = WorkerPool(
            self._worker_class, init_args, self.workers, slot_args=slot_args, actor_options=options
        ).start()

    def _hold_private_ray(self, cpus: int) -> None:
        """The starter thread of a private Ray: start it and the actors, hold them until close(), end them."""
        try:
            import_ray_for_local()  # a run that ends meanwhile starts no Ray at all
            if self._stop.is_set():
                return
            with connect(None, num_cpus=cpus) as self.info:
                self._ray_up.set()
                try:
                    # A run that ended while Ray started (a short budget, a loaded machine) starts no actors
                    # and waits for none to warm: Ray's start itself cannot be cut short, the rest can.
                    if not self._stop.is_set():
                        self._start_pool()
                        if self.pool.wait_until_ready(stop=self._stop):
                            self._ready.set()
                    self._stop.wait()
                finally:
                    if self.pool is not None:
                        self.pool.close()
        except BaseException as error:  # told in the main thread, at its next look
            self._failure = error
        finally:
            self._ready.set()

    def _wait_for_pool(self) -> None:
        """The starter thread on a Ray that is up already: wait for the actors to warm."""
        try:
            self.pool.wait_until_ready(stop=self._stop)
        except BaseException as error:
            self._failure = error
        finally:
            self._ready.set()

    def _actors_ready(self) -> bool:
        """Whether every actor is warm; what went wrong in the starter thread is raised here."""
        if not self._ready.is_set():
            return False
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure
        return True

    def wait_until_ready(self) -> None:
        """Block until every actor is warm (for callers that want every climb on an actor)."""
        self._ready.wait()
        self._actors_ready()

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks as they arrive; reports of other rounds are dropped."""
        queue = yield from self._driver_first(tasks, lambda task: self.local.run(start, [task]))
        if not queue:
            return
        accept = _of_round(tasks[0].round_index)
        with _objective_errors():
            if self.batch:  # groups of a round's climbers, one call each; a group's reports come back together
                yield from self.pool.run("run_groups", start, task_groups(queue, self.workers), accept=accept)
            else:  # a climb on a row share goes to an actor that holds it
                yield from self.pool.run("run", start, queue, accept=accept, eligible=self._holders_of)

    def run_candidates(self, generation: Generation, tasks: list[CandidateTask]) -> Iterator[CandidateReport]:
        """The losses of the tasks' candidates as they arrive (here while the actors start); other rounds' dropped."""
        queue = yield from self._driver_first(tasks, lambda task: self.local.evaluate(generation, [task]))
        if not queue:
            return
        with _objective_errors():
            yield from self.pool.run("evaluate", generation, queue, accept=_of_round(generation.round_index))

    def _driver_first(self, tasks: list, run_here: Callable[[Any], list]) -> Generator[Any, None, list]:
        """Run tasks here, one at a time, while the actors start (or wait for them); yields their reports and
        returns the tasks left for the actors."""
        queue = list(tasks)
        self._driver_tasks = 0
        if self.pool is not None:
            self.pool.last_run_workers = set()
        if not self._climb_while_starting:
            self.wait_until_ready()
        while queue and not self._actors_ready():
            yield from run_here(queue.pop(0))
            self._driver_tasks += 1
        return queue

    def _holders_of(self, task: ClimbTask | ScoreTask) -> set[int]:
        """The actors that hold the task's share of the rows."""
        return self._holders[task.share]

    def score(self, round_index: int, candidates: np.ndarray) -> list[PartialSums]:
        """Every share's partial sums: on the actors that hold the shares, or here while they start."""
        tasks = [ScoreTask(round_index, share) for share in range(self.shares)]
        if not self._climb_while_starting:
            self.wait_until_ready()
        if not self._actors_ready():
            return [report.partials for report in self.local.score(candidates, tasks)]
        reports = self.pool.run("score", candidates, tasks, accept=_of_round(round_index), eligible=self._holders_of)
        return [report.partials for report in sorted(reports, key=lambda report: report.share)]

    def placement(self) -> RoundPlacement:
        """The last round's climbs in this process (while the actors started), and on how many actors."""
        actors = len(self.pool.last_run_workers) if self.pool is not None else 0
        return RoundPlacement(driver_tasks=self._driver_tasks, actors=actors)

    def workers_alive(self) -> int:
        """Actors up and running now (0 while they start and this process climbs)."""
        return len(self.pool.worker_info) if self._ready.is_set() and self.pool is not None else 0

    def environment(self) -> Environment:
        """Where it ran. A private local Ray still starting is one node with the CPUs it was asked for: that is
        said without waiting for it (what a short run on a loaded machine would otherwise wait for)."""
        if self._private and not self._ready.is_set():
            return Environment(
                executor="ray", ray_version=ray_version(), nodes=1, cpus=self._private_cpus, workers=self.workers
            )
        self.wait_until_ready()
        info = ray_info()
        return Environment(
            executor="ray", ray_version=info.version, nodes=info.nodes, cpus=info.cpus, workers=self.workers
        )

    def close(self) -> None:
        """End the actors and, if this executor started Ray, Ray itself.

        A private Ray still starting is not waited for (its start cannot be cut short, and a run that is over has no
        use for it): its thread stops it once the start is done, and what reaches Ray next here waits for that
        (`cluster.stopping`)."""
        self._stop.set()
        try:
            self._stack.close()  # a joined cluster's actors end here; the starter thread ends with them
        finally:
            starter = getattr(self, "_starter", None)
            if starter is not None and starter.is_alive():
                if self._private and not self._ray_up.is_set() and ray_imported():
                    stop_in_background(starter)
                    self.left_to_stop = True
                else:
                    starter.join()  # a private Ray ends in its own thread
            if self._private and self._failure is not None:
                # A run that ended before its private Ray was up never looked at how the start went: say it here.
                failure, self._failure = self._failure, None
                warnings.warn(
                    f"ray: the local Ray or its workers did not start ({failure}); every round of this run ran in "
                    "this process",
                    UserWarning,
                    stacklevel=2,
                )


@contextlib.contextmanager
def _objective_errors() -> Iterator[None]:
    """An objective's failure in an actor as the one line the actor wrote (Ray's wrapper holds it as its cause)."""
    try:
        yield
    except ObjectiveError as error:
        cause = getattr(error, "cause", None)
        raise (cause if isinstance(cause, ObjectiveError) else ObjectiveError(str(error))) from None


def _of_round(round_index: int) -> Callable[[Any], bool]:
    """Accepts the reports of this round only (a stale round's are dropped)."""
    return lambda report: report.round_index == round_index


def ray_version() -> str:
    """The installed Ray's version, without importing it (another thread may be starting it)."""
    return importlib.metadata.version("ray")


def _warn_if_shared(workers: int, cpus: int, objective: bool) -> None:
    """Point out more workers than CPUs: they only share them (an objective's gain while its evaluations wait)."""
    if cpus and workers > cpus:
        why = (
            "they pay only while an evaluation waits rather than computes (a simulator elsewhere, a service)"
            if objective
            else f"each holds the data and a process of its own, and none runs faster (give --workers {cpus} or fewer)"
        )
        warnings.warn(f"workers: {workers} workers share the {cpus} CPU(s) Ray has: {why}", UserWarning, stacklevel=3)


@contextlib.contextmanager
def open_executor(
    executor: ExecutorKind | Executor,
    dataset: Dataset | None,
    config: SearchConfig,
    address: str | None = None,
    objective: Objective | None = None,
    share_indices: list[np.ndarray] | None = None,
) -> Iterator[Executor]:
    """The executor named (closed at the end of the block), or the caller's own (left open).

    objective: what the climbs minimise instead of the dataset's loss (then dataset is None); share_indices: each
    row share's training rows (`PreparedRun.share_indices`), None for a run on every row.
    """
    if not isinstance(executor, str):
        yield executor
        return
    if executor == "inprocess":
        runner: Executor = InProcessExecutor(dataset, config, objective, share_indices)
    elif executor == "ray":
        runner = RayExecutor(dataset, config, address, objective, share_indices)
    else:
        raise ConfigError(f"executor: must be 'ray', 'inprocess' or an Executor, got {executor!r}")
    try:
        yield runner
    finally:
        runner.close()
