"""A private local Ray that is still starting: where the run ran is said without waiting, and a run that ends
before it is up starts no actors. Each case in a process of its own (a private Ray, as a user's run has)."""

from __future__ import annotations

import json
import subprocess
import sys

from coordinator.rounds.executors import ray_version
from tests.coordinator.cli_runner import REPOSITORY, cli_environment

PREAMBLE = """
import json
from coordinator import SearchConfig
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.prepare import prepare_run
prepared = prepare_run(SearchConfig(dataset="vertical", layers=(2, 3, 3), workers=1, time_budget=None))
executor = RayExecutor(prepared.dataset, prepared.config)
early = executor.environment().model_dump()
ready_then = executor._ready.is_set()
"""
RUN_TIMEOUT_S = 300  # a hang guard: each case takes seconds


def _run(code: str) -> dict:
    completed = subprocess.run(
        [sys.executable, "-c", PREAMBLE + code],
        cwd=REPOSITORY,
        env=cli_environment(),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_a_run_that_ends_while_ray_starts_says_where_it_ran_and_starts_no_actors():
    seen = _run(
        "executor.close()\n"
        "print(json.dumps({'early': early, 'ready': ready_then, 'pool': executor.pool is not None}))\n"
    )
    assert not seen["ready"]  # Ray takes seconds to start; the question came at once
    expected = {"executor": "ray", "ray_version": ray_version(), "nodes": 1, "cpus": 1, "workers": 1}
    assert {key: seen["early"][key] for key in expected} == expected  # where its rounds ran: the stepper's to say
    assert not seen["pool"]  # closed before Ray was up: no actor was ever started


def test_what_is_said_before_ray_is_up_is_what_ray_says_once_it_is():
    seen = _run(
        "executor.wait_until_ready()\n"
        "late = executor.environment().model_dump()\n"
        "alive = executor.workers_alive()\n"
        "executor.close()\n"
        "print(json.dumps({'early': early, 'late': late, 'ready': ready_then, 'alive': alive}))\n"
    )
    assert not seen["ready"] and seen["alive"] == 1
    assert seen["early"] == seen["late"]


def test_climbs_run_while_ray_starts_are_recorded_as_the_drivers():
    seen = _run(
        "from coordinator.rounds.stepper import round_tasks\n"
        "config = prepared.config.model_copy(update={'climbers': 2, 'steps': 100})\n"
        "reports = list(executor.run_round(None, round_tasks(config, 0)))\n"
        "placed = executor.placement()\n"
        "up = executor._ready.is_set()\n"
        "executor.close()\n"
        "print(json.dumps({'ready': up, 'reports': len(reports), 'placed': [placed.driver_tasks, placed.actors]}))\n"
    )
    assert seen["reports"] == 2
    assert not seen["ready"] and seen["placed"] == [2, 0]  # both climbed here, in milliseconds, while Ray started


def test_a_run_that_ends_while_ray_starts_leaves_the_start_to_stop_and_the_next_waits_for_it():
    seen = _run(
        "import time, ray\n"
        "from cluster.connect import starts_private_ray\n"
        "from cluster.stopping import ray_imported, stopping\n"
        "while not ray_imported():\n"
        "    time.sleep(0.01)\n"
        "up = executor._ray_up.is_set()\n"
        "executor.close()\n"
        "left, alive, pending = executor.left_to_stop, executor._starter.is_alive(), stopping()\n"
        "fresh = starts_private_ray(None)\n"  # waits for the start left to stop: a private Ray is to be started anew
        "print(json.dumps({'up': up, 'left': left, 'alive': alive, 'pending': pending, 'fresh': fresh,\n"
        "                  'after': [executor._starter.is_alive(), stopping(), ray.is_initialized()]}))\n"
    )
    assert not seen["up"]  # Ray takes seconds to start; the run was closed as soon as Ray was imported
    assert seen["left"] and seen["alive"] and seen["pending"]  # close() did not wait for the start
    assert seen["fresh"] and seen["after"] == [False, False, False]  # then stopped, before anything else reached Ray
