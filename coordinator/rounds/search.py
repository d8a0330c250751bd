"""The one-call search: prepare the run, step it round by round, checkpoint each round, save the result.

The result is a function of the config (and data) alone: climbers' seeds are keyed by (round,
climber), the best is a pure choice over (loss, climber index), and every climber of a round
starts from the same broadcast best. Neither the number of workers, nor where they run, nor the
order results arrive in, nor a worker's death, nor a stop-and-resume can change it. A time budget
decides only how many rounds run. Given a start network, it is a function of that start too.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

from cluster.quiet import ray_logs_to_file
from coordinator.config import SearchConfig
from coordinator.results.result import SearchResult
from coordinator.rounds.checkpoint_writer import CheckpointWriter
from coordinator.rounds.executors import Executor, ExecutorKind, open_executor
from coordinator.rounds.prepare import PreparedRun, prepare_run
from coordinator.rounds.stepper import Progress, SearchStepper, SilentProgress
from workers import Solution


def search(
    config: SearchConfig | None = None,
    X=None,
    y=None,
    address: str | None = None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    executor: ExecutorKind | Executor = "ray",
    progress: Progress | None = None,
    start: Solution | None = None,
    objective=None,
) -> SearchResult:
    """Run a search and return its result; with run_dir, checkpoint every round and save the result.

    start: a network (a previous result's params and step_sizes) for the first round to climb from.
    objective: a function to minimise instead of a data set's loss: f(params) -> float, params the flat
    vector (P,) of Layout(config.layers), lower is better; f(params, seed) gets the round's seed (the
    same for every climber of a round); `workers.objective.Objective(f, seeded=..., batch=True)` scores
    (B, P) at once. config.env names a gymnasium environment instead (minus a policy's mean return).

    Example (one process, no Ray):
        >>> from coordinator import SearchConfig, search
        >>> config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=500, rounds=2)
        >>> result = search(config, executor="inprocess")
        >>> result.rounds_completed, result.best_loss < 1.0
        (2, True)
    """
    prepared = prepare_run(config, X, y, run_dir=run_dir, resume=resume, force=force, start=start, objective=objective)
    return run_prepared(prepared, executor, address, progress)


def run_prepared(
    prepared: PreparedRun,
    executor: ExecutorKind | Executor = "ray",
    address: str | None = None,
    progress: Progress | None = None,
) -> SearchResult:
    """Run a prepared search to its end: step round by round, checkpoint each round, save the result."""
    progress = progress or SilentProgress()
    session_started = time.monotonic()  # the time budget counts starting Ray and the workers too
    # On Ray, Ray's own notices (its token notice, ...) go to its log files, from every caller, as the CLI's do.
    quiet = ray_logs_to_file() if executor == "ray" else contextlib.nullcontext()
    opened = open_executor(
        executor, prepared.dataset, prepared.config, address, prepared.objective, prepared.share_indices
    )
    with quiet, opened as runner:
        stepper = SearchStepper(prepared, runner, progress, session_started)
        progress.started()  # after every check and the connection: an error stays one line
        with CheckpointWriter.optional(prepared.run_dir) as writer:
            while stepper.stop_reason is None:
                stepper.step()
                writer.submit(stepper.checkpoint())
        result = stepper.result()
    if prepared.run_dir is not None:
        result.save(prepared.run_dir)
    return result
