"""Runs on Ray that prove what they claim: every climb on a worker actor, and the rounds' records say so.

A RayExecutor climbs in the driver while Ray and its actors start (`climb_while_starting`, on by default):
a short run can end before any actor is up, and a test that compares it with a run in one process would
compare two runs of the same process. These runs wait for their actors, and check where they ran.
"""

from __future__ import annotations

import os
import signal

from coordinator.rounds.stepper import SilentProgress

ON_ACTORS = {"climb_while_starting": False}


def placements(result) -> list[tuple[int | None, int | None]]:
    """(climbs in the driver, distinct actors that ran the rest) of every round of a result."""
    return [(record.driver_tasks, record.actors) for record in result.history]


def assert_ran_on_actors(result, actors: int, rounds: slice = slice(None)) -> None:
    """Every round of the result (or of the slice `rounds`) climbed on `actors` worker actors, none in the driver."""
    assert result.environment.executor == "ray"
    chosen = placements(result)[rounds]
    assert chosen and chosen == [(0, actors)] * len(chosen), f"rounds ran at (driver climbs, actors) {chosen}"


class KillOneWorker(SilentProgress):
    """A progress watcher that kills one worker actor's process as the first task of round 1 reports."""

    def __init__(self, executor):
        self.executor = executor
        self.killed = None

    def climber_done(self, round_index, done, total, best):
        if round_index == 1 and done == 1 and self.killed is None:
            pid, _node = self.executor.pool.worker_info[0]
            os.kill(pid, signal.SIGKILL)
            self.killed = pid
