"""The round loop: hand out seeds, gather the climbers' bests, keep the global one, broadcast it.

The result is a function of the config (and data) alone: climbers' seeds are keyed by (round,
climber), the best is a pure choice over (loss, climber index), and every climber of a round
starts from the same broadcast best. Neither the number of workers, nor where they run, nor the
order results arrive in, nor a worker's death, nor a stop-and-resume can change it. A time budget
decides only how many rounds run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol

from coordinator.best import Best, better_of
from coordinator.checkpoint import CHECKPOINT_FILE, Checkpoint, load_checkpoint
from coordinator.checkpoint_writer import CheckpointWriter
from coordinator.config import ConfigError, SearchConfig
from coordinator.data import load_dataset
from coordinator.executors import InProcessExecutor, RayExecutor
from coordinator.result import RESULT_FILE, WEIGHTS_FILE, Environment, RoundRecord, SearchResult
from coordinator.seeds import seed_for
from workers import ClimbReport, ClimbTask, Solution

# Settings a resumed run may change: they decide where and how long it runs, never the path.
RESUMABLE_OVERRIDES = ("rounds", "time_budget_s", "target_loss", "workers")
RUN_FILES = (CHECKPOINT_FILE, RESULT_FILE, WEIGHTS_FILE)


class Executor(Protocol):
    """Runs a round's climbs and yields their reports (coordinator.executors has two)."""

    workers: int

    def run_round(self, start: Solution | None, tasks: list[ClimbTask]) -> Iterator[ClimbReport]:
        """Reports of the round's tasks, each exactly once."""

    def environment(self) -> Environment:
        """Where it ran."""

    def close(self) -> None:
        """Release what it holds."""


class Progress(Protocol):
    """What a search tells an onlooker."""

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """A climber of the round reported."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """A round ended."""

    # Optional: started(), called once the input has passed every check and the workers are up.


def search(
    config: SearchConfig | None = None,
    X=None,
    y=None,
    address: str | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    executor: Literal["ray", "inprocess"] | Executor = "ray",
    progress: Progress | None = None,
) -> SearchResult:
    """Run a search and return its result; with run_dir, checkpoint every round and save the result.

    Example (one process, no Ray):
        >>> from coordinator import SearchConfig, search
        >>> config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=500, rounds=2)
        >>> result = search(config, executor="inprocess")
        >>> result.rounds_completed, result.best_loss < 1.0
        (2, True)
    """
    checkpoint = None
    if resume and run_dir is None:
        raise ConfigError("resume: needs the run directory to resume")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if resume:
            checkpoint = load_checkpoint(run_dir)
            config = _resumed_config(checkpoint.config, config)
    if config is None:
        config = SearchConfig()
    dataset = load_dataset(config, X, y)  # every input problem is found before Ray starts
    if run_dir is not None and not resume:
        _claim_run_dir(run_dir, force)  # only now: bad input must not cost the user an old run

    started = time.monotonic()
    spent_before = checkpoint.wall_seconds if checkpoint else 0.0
    best = checkpoint.best if checkpoint else None
    history = list(checkpoint.history) if checkpoint else []
    evaluations = checkpoint.evaluations if checkpoint else 0
    first_round = checkpoint.rounds_completed if checkpoint else 0
    stopped_because = _stop_reason(config, best, first_round, spent_before)

    if executor == "inprocess":
        runner = InProcessExecutor(dataset, config)
    elif executor == "ray":
        runner = RayExecutor(dataset, config, address)
    else:
        runner = executor  # the caller's: the caller closes it
    writer = CheckpointWriter(run_dir) if run_dir is not None else None
    try:
        if progress is not None and hasattr(progress, "started"):
            progress.started()  # after every check and the connection: an error stays one line
        if config.climbers is None:
            # One climber per worker: the deepest climbs per second. Recorded in the result's
            # config (and checkpoint), so the run can be repeated anywhere.
            config = config.model_copy(update={"climbers": runner.workers})
        round_index = first_round
        while stopped_because is None:
            round_started = time.monotonic()
            best, round_evaluations, winner = _run_round(runner, config, round_index, best, progress)
            evaluations += round_evaluations
            seconds = time.monotonic() - round_started
            record = RoundRecord(
                round=round_index,
                best_loss=best.loss,
                best_accuracy=best.accuracy,
                evaluations=round_evaluations,
                wall_seconds=seconds,
                evaluations_per_second=round_evaluations / seconds if seconds > 0 else 0.0,
                winning_climber=winner,
            )
            history.append(record)
            round_index += 1
            elapsed = spent_before + time.monotonic() - started
            if writer is not None:
                writer.submit(Checkpoint(config, round_index, best, history.copy(), evaluations, elapsed))
            if progress is not None:
                progress.round_done(record, elapsed)
            stopped_because = _stop_reason(config, best, round_index, elapsed)
        environment = runner.environment()
    finally:
        try:
            if writer is not None:
                writer.close()  # the last round's checkpoint is on disk before anything else
        finally:
            if runner is not executor:
                runner.close()

    result = SearchResult(
        config=config,
        best_loss=best.loss,
        best_accuracy=best.accuracy,
        rounds_completed=round_index,
        evaluations=evaluations,
        wall_seconds=spent_before + time.monotonic() - started,
        stopped_because=stopped_because,
        history=history,
        environment=environment,
        params=best.params,
        step_sizes=best.step_sizes,
    )
    if run_dir is not None:
        result.save(run_dir)
    return result


def round_tasks(config: SearchConfig, round_index: int) -> list[ClimbTask]:
    """The climbers of one round, each with its own seed."""
    return [
        ClimbTask(round_index, climber, seed_for(config.seed, round_index, climber))
        for climber in range(config.climbers)
    ]


def _run_round(runner, config: SearchConfig, round_index: int, best: Best | None, progress: Progress | None):
    """One round from the broadcast best; returns (new best, evaluations, winning climber or None)."""
    start = None if best is None else Solution(best.params, best.step_sizes)
    tasks = round_tasks(config, round_index)
    done = 0
    evaluations = 0
    round_best = best
    for report in runner.run_round(start, tasks):
        round_best = better_of(round_best, _as_best(report))
        evaluations += report.evaluations
        done += 1
        if progress is not None:
            progress.climber_done(round_index, done, len(tasks), round_best)
    if done != len(tasks):  # a pool never loses a task; this guards the one-answer promise
        raise RuntimeError(f"round {round_index}: {done} of {len(tasks)} climbers reported")
    winner = round_best.climber_index if round_best.round_index == round_index else None
    return round_best, evaluations, winner


def _as_best(report: ClimbReport) -> Best:
    return Best(
        report.loss, report.accuracy, report.params, report.step_sizes, report.climber_index, report.round_index
    )


def _stop_reason(config: SearchConfig, best: Best | None, rounds_done: int, elapsed: float):
    if rounds_done >= config.rounds:
        return "rounds"
    if best is not None and config.target_loss is not None and best.loss <= config.target_loss:
        return "target_loss"
    if config.time_budget_s is not None and elapsed >= config.time_budget_s:
        return "time_budget"
    return None


def _claim_run_dir(run_dir: Path, force: bool) -> None:
    """Refuse to overwrite a run unless forced; with force, clear the old run's files."""
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not force:
        raise ConfigError(f"{run_dir}: already holds a run ({', '.join(existing)}); use --resume or --force")
    for name in existing:
        (run_dir / name).unlink()


def _resumed_config(saved: SearchConfig, given: SearchConfig | None) -> SearchConfig:
    """The checkpoint's config, with only the overrides that cannot change the result applied."""
    if given is None:
        return saved
    changes = {}
    for name in SearchConfig.model_fields:
        if name in given.model_fields_set and getattr(given, name) != getattr(saved, name):
            if name not in RESUMABLE_OVERRIDES:
                raise ConfigError(
                    f"{name}: cannot change on resume (checkpoint has {getattr(saved, name)!r}, "
                    f"got {getattr(given, name)!r}); only {', '.join(RESUMABLE_OVERRIDES)} can"
                )
            changes[name] = getattr(given, name)
    return saved.model_copy(update=changes)
