"""The worker pool: work spreads over every actor, results come back once each, whatever their order."""

from __future__ import annotations

import os
import time

import pytest

from cluster import WorkerPool


class _Sleeper:
    """A worker that says which process ran each task."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def warm_up(self) -> None:
        """Nothing to compile."""

    def run(self, shared, tasks):
        """Sleep, then report (pid, shared, task) for each task."""
        time.sleep(self.seconds)
        return [(os.getpid(), shared, task) for task in tasks]


@pytest.fixture(scope="module")
def pool(ray_local):
    pool = WorkerPool(_Sleeper, (0.2,), size=2).start()
    pool.wait_until_ready()
    yield pool
    pool.close()


def test_every_actor_gets_a_task_before_any_gets_two(pool):
    results = list(pool.run("run", "shared", ["a", "b"], accept=lambda result: True))
    assert sorted(task for _pid, _shared, task in results) == ["a", "b"]
    assert len({pid for pid, _shared, _task in results}) == 2  # both actors worked, in parallel
    assert {shared for _pid, shared, _task in results} == {"shared"}


def test_every_task_comes_back_once_and_rejected_results_are_dropped(pool):
    tasks = list(range(7))
    results = list(pool.run("run", None, tasks, accept=lambda result: result[2] != 3))
    assert sorted(task for _pid, _shared, task in results) == [0, 1, 2, 4, 5, 6]
    assert {pid for pid, _node in pool.worker_info} == {pid for pid, _shared, _task in results}


class _RowsProbe:
    """A worker built, as ClimbWorker is, from prepared rows: says how its arrays arrived."""

    def __init__(self, rows):
        self.rows = rows

    def warm_up(self) -> None:
        """Nothing to compile."""

    def run(self, shared, tasks):
        """(pid, whether every array of the rows is read-only and a view of memory it does not own)."""
        arrays = [value for value in self.rows if hasattr(value, "flags")]
        return [(os.getpid(), all(not array.flags.writeable and not array.flags.owndata for array in arrays))]


def test_rows_reach_every_actor_through_the_object_store_without_a_copy(ray_local):
    """The training rows are put once; each actor maps them read-only (a view of the node's shared store)."""
    import numpy as np

    from workers import pack_rows

    generator = np.random.default_rng(0)
    X = generator.random((4000, 64)) * (generator.random((4000, 64)) < 0.2)  # 2 MB: stored, not inlined
    rows = pack_rows(X, generator.integers(0, 3, 4000))
    # No CPU of their own: the module's pool holds both CPUs of this Ray.
    probes = WorkerPool(_RowsProbe, (rows,), size=2, actor_options={"num_cpus": 0}).start()
    try:
        probes.wait_until_ready()
        answers = list(probes.run("run", None, ["a", "b"], accept=lambda result: True))
    finally:
        probes.close()
    assert len({pid for pid, _shared in answers}) == 2 and all(shared for _pid, shared in answers)
