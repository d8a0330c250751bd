"""The state a run needs to go on after it was stopped: one file, replaced atomically each round."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from coordinator.best import Best
from coordinator.config import ConfigError, SearchConfig, saved_config
from coordinator.files import atomic_save_npz
from coordinator.result import RoundRecord
from workers import ClimbOutcome
from workers.network import Layout

CHECKPOINT_FILE = "checkpoint.npz"
FORMAT_VERSION = 1


@dataclass(frozen=True)
class Checkpoint:
    """Everything after `rounds_completed` rounds: the best, the history, the work and time spent."""

    config: SearchConfig
    rounds_completed: int
    best: Best
    history: list[RoundRecord]
    evaluations: int
    wall_seconds: float


def save_checkpoint(directory: str | Path, checkpoint: Checkpoint) -> None:
    """Write checkpoint.npz: arrays plus the rest as a JSON string (no pickles)."""
    best = checkpoint.best
    state = {
        "format_version": FORMAT_VERSION,
        "config": checkpoint.config.model_dump(mode="json"),
        "rounds_completed": checkpoint.rounds_completed,
        "best_loss": best.loss,
        "best_accuracy": best.accuracy,
        "best_climber": best.climber_index,
        "best_round": best.round_index,
        "best_evaluations": best.outcome.evaluations,
        "history": [record.model_dump(mode="json") for record in checkpoint.history],
        "evaluations": checkpoint.evaluations,
        "wall_seconds": checkpoint.wall_seconds,
    }
    atomic_save_npz(
        Path(directory) / CHECKPOINT_FILE,
        params=best.outcome.params,
        step_sizes=best.outcome.step_sizes,
        state=np.array(json.dumps(state)),
    )


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Read checkpoint.npz back; a missing, truncated or corrupt file is a ConfigError, never a restart."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from")
    try:
        with np.load(path, allow_pickle=False) as archive:
            params = archive["params"]
            step_sizes = archive["step_sizes"]
            state = json.loads(str(archive["state"]))
        if state.get("format_version") != FORMAT_VERSION:
            raise ConfigError(f"{path}: checkpoint format {state.get('format_version')!r} is not {FORMAT_VERSION}")
        config = saved_config(state["config"])
        outcome = ClimbOutcome(
            params=params,
            step_sizes=step_sizes,
            loss=float(state["best_loss"]),
            accuracy=float(state["best_accuracy"]),
            evaluations=int(state.get("best_evaluations", 0)),
        )
        best = Best(round_index=int(state["best_round"]), climber_index=int(state["best_climber"]), outcome=outcome)
        history = [RoundRecord(**record) for record in state["history"]]
        checkpoint = Checkpoint(
            config,
            int(state["rounds_completed"]),
            best,
            history,
            int(state["evaluations"]),
            float(state["wall_seconds"]),
        )
    except ConfigError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, TypeError, AttributeError, ValidationError):
        raise ConfigError(f"{path}: checkpoint is truncated or corrupt; cannot resume") from None
    expected = (Layout(config.layers).num_params,)
    if params.shape != expected or step_sizes.shape != expected:
        raise ConfigError(f"{path}: checkpoint weights do not fit layers {list(config.layers)}")
    if params.dtype.kind != "f" or step_sizes.dtype.kind != "f":
        raise ConfigError(f"{path}: checkpoint weights are not floating-point numbers; cannot resume")
    return checkpoint
