"""A search you can step: each `step()` runs one round and returns its record.

In the spirit of the ask/tell interfaces of nevergrad and pycma and of EvoTorch's `step()`: the
caller owns the loop (and may stop, checkpoint or inspect between rounds); the stepper owns the
round: it hands every climber its seed, gathers their reports, keeps the global best and counts
the work. `coordinator.search.search` is the one-call loop on top.
"""

from __future__ import annotations

import time
from typing import Protocol

from coordinator.best import Best, better_of, start_of
from coordinator.checkpoint import Checkpoint
from coordinator.config import SearchConfig
from coordinator.executors import Executor
from coordinator.result import RoundRecord, SearchResult, StopReason
from coordinator.seeds import seed_for
from workers import ClimbTask


class Progress(Protocol):
    """What a search tells an onlooker."""

    def started(self) -> None:
        """The input passed every check and the workers are up; rounds begin."""

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """A climber of the round reported; best is the best so far, this round included."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """A round ended, elapsed_s seconds into this session."""


class SilentProgress:
    """Tells nobody anything."""

    def started(self) -> None:
        """Nothing to say."""

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Nothing to say."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Nothing to say."""


def round_tasks(config: SearchConfig, round_index: int) -> list[ClimbTask]:
    """The climbers of one round, each with its own seed."""
    return [
        ClimbTask(round_index=round_index, climber_index=climber, seed=seed_for(config.seed, round_index, climber))
        for climber in range(config.climbers)
    ]


def stop_reason(
    config: SearchConfig, best: Best | None, rounds_completed: int, session_seconds: float
) -> StopReason | None:
    """Why a search in this state stops now, or None to go on; the time budget counts this session."""
    if rounds_completed >= config.rounds:
        return StopReason.ROUNDS
    if best is not None and config.target_loss is not None and best.loss <= config.target_loss:
        return StopReason.TARGET_LOSS
    if config.time_budget is not None and session_seconds >= config.time_budget:
        return StopReason.TIME_BUDGET
    return None


class SearchStepper:
    """A search in progress on an executor, from scratch or from a checkpoint's state."""

    def __init__(
        self,
        config: SearchConfig,
        executor: Executor,
        state: Checkpoint | None = None,
        progress: Progress | None = None,
    ):
        if config.climbers is None:
            # One climber per worker: the deepest climbs per second. Recorded in the result's
            # config (and checkpoint), so the run can be repeated anywhere.
            config = config.model_copy(update={"climbers": executor.workers})
        self.config = config
        self.executor = executor
        self.progress = progress or SilentProgress()
        self.best: Best | None = state.best if state else None
        self.history: list[RoundRecord] = list(state.history) if state else []
        self.evaluations = state.evaluations if state else 0
        self.rounds_completed = state.rounds_completed if state else 0
        self.session = self.history[-1].session + 1 if self.history else 0
        self._seconds_before = state.wall_seconds if state else 0.0
        self._started = time.monotonic()

    @property
    def session_seconds(self) -> float:
        """Seconds since this session (the first run, or a resume) began."""
        return time.monotonic() - self._started

    @property
    def wall_seconds(self) -> float:
        """Seconds of every session of the run together."""
        return self._seconds_before + self.session_seconds

    @property
    def stop_reason(self) -> StopReason | None:
        """Why the search should stop now, or None while it should go on."""
        return stop_reason(self.config, self.best, self.rounds_completed, self.session_seconds)

    def step(self) -> RoundRecord:
        """Run one round from the broadcast best; returns its record."""
        round_index = self.rounds_completed
        started = time.monotonic()
        tasks = round_tasks(self.config, round_index)
        best, evaluations, done = self.best, 0, 0
        for report in self.executor.run_round(start_of(self.best), tasks):
            best = better_of(best, report)
            evaluations += report.outcome.evaluations
            done += 1
            self.progress.climber_done(round_index, done, len(tasks), best)
        if done != len(tasks):  # a pool never loses a task; this guards the one-answer promise
            raise RuntimeError(f"round {round_index}: {done} of {len(tasks)} climbers reported")
        seconds = time.monotonic() - started
        record = RoundRecord(
            round=round_index,
            best_loss=best.loss,
            best_accuracy=best.accuracy,
            evaluations=evaluations,
            wall_seconds=seconds,
            evaluations_per_second=evaluations / seconds if seconds > 0 else 0.0,
            winning_climber=best.climber_index if best.round_index == round_index else None,
            session=self.session,
            workers=self.executor.workers_alive(),
        )
        self.best = best
        self.history.append(record)
        self.evaluations += evaluations
        self.rounds_completed += 1
        self.progress.round_done(record, self.session_seconds)
        return record

    def checkpoint(self) -> Checkpoint:
        """The state after the rounds so far, to save and resume from."""
        return Checkpoint(
            self.config, self.rounds_completed, self.best, self.history.copy(), self.evaluations, self.wall_seconds
        )

    def result(self, stopped_because: StopReason | None = None) -> SearchResult:
        """The result as of now (while the executor is open: it says where the search ran).

        stopped_because defaults to the stepper's own stop reason, else to the caller's decision.
        """
        if self.best is None:
            raise RuntimeError("no round has run yet")
        return SearchResult(
            config=self.config,
            best_loss=self.best.loss,
            best_accuracy=self.best.accuracy,
            rounds_completed=self.rounds_completed,
            evaluations=self.evaluations,
            wall_seconds=self.wall_seconds,
            stopped_because=stopped_because or self.stop_reason or StopReason.CALLER,
            history=self.history.copy(),
            environment=self.executor.environment(),
            params=self.best.outcome.params,
            step_sizes=self.best.outcome.step_sizes,
        )
