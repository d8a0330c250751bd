"""Preparing a run before anything starts: its config, its data, its run directory, and where it resumes.

Every input problem is found here, before Ray starts or a file is touched: a bad value, data that
does not fit the network, a run directory that holds another run, a checkpoint that cannot be
resumed. Only when all is well is the run directory claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from coordinator.checkpoint import CHECKPOINT_FILE, Checkpoint, load_checkpoint
from coordinator.config import ConfigError, SearchConfig
from coordinator.data import Dataset, load_dataset
from coordinator.result import RESULT_FILE, WEIGHTS_FILE, StopReason
from coordinator.stepper import stop_reason

# Settings a resumed run may change: they decide where and how long it runs, never the path.
RESUMABLE_OVERRIDES = ("rounds", "time_budget", "target_loss", "workers")
RUN_FILES = (CHECKPOINT_FILE, RESULT_FILE, WEIGHTS_FILE)


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to start: its config, its data, its directory (or None) and the state it resumes from."""

    config: SearchConfig
    dataset: Dataset
    run_dir: Path | None
    state: Checkpoint | None


def prepare_run(
    config: SearchConfig | None = None,
    X=None,
    y=None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    claim: bool = True,
) -> PreparedRun:
    """Check everything a run needs and claim its directory; a ConfigError names the first problem.

    claim=False checks the directory without touching it (a dry run).
    """
    state = None
    if resume and run_dir is None:
        raise ConfigError("resume: needs the run directory to resume")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise ConfigError(f"{run_dir}: is a file; the run directory must be a directory")
        if resume:
            state = load_checkpoint(run_dir)
            config = _resumed_config(state.config, config)
            _check_work_left(run_dir, config, state)
    if config is None:
        config = SearchConfig()
    dataset = load_dataset(config, X, y)
    if run_dir is not None and not resume:
        _claim_run_dir(run_dir, force, claim)  # only now: bad input must not cost the user an old run
    return PreparedRun(config, dataset, run_dir, state)


def _claim_run_dir(run_dir: Path, force: bool, claim: bool) -> None:
    """Refuse to overwrite a run unless forced; with force (and claim), clear the old run's files."""
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not force:
        raise ConfigError(f"{run_dir}: already holds a run ({', '.join(existing)}); use --resume or --force")
    for name in existing if claim else ():
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


def _check_work_left(run_dir: Path, config: SearchConfig, state: Checkpoint) -> None:
    """Refuse a resume that would stop before its first round, saying which setting to raise."""
    reason = stop_reason(config, state.best, state.rounds_completed, session_seconds=0.0)
    if reason is None:
        return
    if reason is StopReason.ROUNDS:
        raise ConfigError(
            f"rounds: the run in {run_dir} has done {state.rounds_completed} of its {config.rounds} rounds; "
            f"give --rounds above {state.rounds_completed} to go on"
        )
    raise ConfigError(
        f"target_loss: the run in {run_dir} already reached loss {state.best.loss:.6g} "
        f"(target {config.target_loss:g}); give a lower --target-loss or none to go on"
    )
