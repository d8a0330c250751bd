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
