"""The state a run needs to go on after it was stopped: one file, replaced atomically each round."""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from cluster.atomic_files import atomic_save_npz
from coordinator.config import ConfigError, SearchConfig, saved_config
from coordinator.data.scaling import Scaling
from coordinator.results.records import DataRecord, ObjectiveRecord, RoundRecord, regressor_fields
from coordinator.results.run_files import CHECKPOINT_FILE
from coordinator.rounds.best import Best, Selected
from workers import ClimbOutcome
from workers.network import Layout
from workers.population import PopulationState

# 1: the best and the history; 2 adds the network kept for held-out rows, the data's record and its scaling.
FORMAT_VERSIONS = (1, 2)


@dataclass(frozen=True, kw_only=True)
class Checkpoint:
    """Everything after `rounds_completed` rounds: the best, the history, the work and time spent."""

    config: SearchConfig
    rounds_completed: int
    best: Best
    history: list[RoundRecord]
    evaluations: int
    wall_seconds: float
    selected: Selected | None = None  # the best on held-out rows, when rows are held out
    data: DataRecord | None = None
    scaling: Scaling | None = None
    start_sha256: str | None = None  # of the network the run started from, if it was given one
    objective: ObjectiveRecord | None = None  # what the run minimises when it has no data
    target_scaling: Scaling | None = None  # a regressor's
    share_scale: float = 1.0  # row shares: the recombination lengths' scale for the next round
    population: PopulationState | None = None  # a population strategy's, after the last generation


# A population strategy's arrays as a checkpoint names them (its best is the checkpoint's best).
POPULATION_ARRAYS = ("centre", "sigmas", "velocity", "second_moment")


def _best_state(best: Best, prefix: str) -> dict:
    return {
        f"{prefix}_loss": best.loss,
        f"{prefix}_score": best.score,
        f"{prefix}_climber": best.climber_index,
        f"{prefix}_round": best.round_index,
        f"{prefix}_evaluations": best.outcome.evaluations,
    }


def _best_from(state: dict, prefix: str, params: np.ndarray, step_sizes: np.ndarray) -> Best:
    outcome = ClimbOutcome(
        params=params,
        step_sizes=step_sizes,
        loss=float(state[f"{prefix}_loss"]),
        # format 2 files written before scores had their name call it accuracy
        score=float(state.get(f"{prefix}_score", state.get(f"{prefix}_accuracy"))),
        evaluations=int(state.get(f"{prefix}_evaluations", 0)),
    )
    return Best(
        round_index=int(state[f"{prefix}_round"]), climber_index=int(state[f"{prefix}_climber"]), outcome=outcome
    )


def _state(stored: np.ndarray) -> dict:
    """The JSON part of a checkpoint: UTF-8 bytes, or (as format 1 wrote it) a numpy string."""
    text = stored.tobytes().decode() if stored.dtype == np.uint8 else str(stored)
    return json.loads(text)


def save_checkpoint(directory: str | Path, checkpoint: Checkpoint) -> None:
    """Write checkpoint.npz: arrays plus the rest as a JSON string (no pickles)."""
    best, selected = checkpoint.best, checkpoint.selected
    state = {
        "format_version": 2,
        "config": checkpoint.config.model_dump(mode="json"),
        "rounds_completed": checkpoint.rounds_completed,
        **_best_state(best, "best"),
        "history": [record.model_dump(mode="json") for record in checkpoint.history],
        "evaluations": checkpoint.evaluations,
        "wall_seconds": checkpoint.wall_seconds,
        "data": checkpoint.data.model_dump(mode="json") if checkpoint.data is not None else None,
        "scaling": checkpoint.scaling.model_dump(mode="json") if checkpoint.scaling is not None else None,
        "start_sha256": checkpoint.start_sha256,
        "objective": checkpoint.objective.model_dump(mode="json") if checkpoint.objective is not None else None,
        "target_scaling": None
        if checkpoint.target_scaling is None
        else checkpoint.target_scaling.model_dump(mode="json"),
        "share_scale": checkpoint.share_scale,
    }
    arrays = {"params": best.outcome.params, "step_sizes": best.outcome.step_sizes}
    if selected is not None:
        state["selected"] = {
            **_best_state(selected.best, "best"),
            "round_index": selected.round_index,
            "validation_loss": selected.validation_loss,
            "validation_score": selected.validation_score,
        }
        arrays |= {
            "selected_params": selected.best.outcome.params,
            "selected_step_sizes": selected.best.outcome.step_sizes,
        }
    population = checkpoint.population
    if population is not None:
        state["population_generation"] = population.generation
        arrays |= {f"population_{name}": getattr(population, name) for name in POPULATION_ARRAYS}
    # The rest as UTF-8 bytes (a numpy string would take 4 bytes a character, and the history grows).
    text = np.frombuffer(json.dumps(state).encode(), dtype=np.uint8)
    atomic_save_npz(Path(directory) / CHECKPOINT_FILE, **arrays, state=text)


def _population_from(state: dict, arrays: dict, best: Best) -> PopulationState | None:
    """A population strategy's state as saved (its best the checkpoint's best), or None for a climb's run."""
    if "population_generation" not in state:
        return None
    saved = {name: arrays[f"population_{name}"] for name in POPULATION_ARRAYS}
    return PopulationState(
        **saved, generation=int(state["population_generation"]), best=best.outcome.params, best_loss=best.loss
    )


def load_checkpoint(directory: str | Path) -> Checkpoint:
    """Read checkpoint.npz back; a missing, truncated or corrupt file is a ConfigError, never a restart."""
    path = Path(directory) / CHECKPOINT_FILE
    if not path.is_file():
        raise ConfigError(f"{path}: no checkpoint to resume from")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files if name != "state"}
            state = _state(archive["state"])
        if state.get("format_version") not in FORMAT_VERSIONS:
            raise ConfigError(f"{path}: checkpoint format {state.get('format_version')!r} is not one this reads")
        config = saved_config(state["config"])
        best = _best_from(state, "best", arrays["params"], arrays["step_sizes"])
        selected = None
        if state.get("selected") is not None:
            kept = state["selected"]
            selected = Selected(
                best=_best_from(kept, "best", arrays["selected_params"], arrays["selected_step_sizes"]),
                round_index=int(kept["round_index"]),
                validation_loss=float(kept["validation_loss"]),
                validation_score=float(kept.get("validation_score", kept.get("validation_accuracy"))),
            )
        regression = config.task == "regression"  # an older file's rounds may name its R^2 accuracy
        checkpoint = Checkpoint(
            config=config,
            rounds_completed=int(state["rounds_completed"]),
            best=best,
            history=[RoundRecord(**(regressor_fields(row) if regression else row)) for row in state["history"]],
            evaluations=int(state["evaluations"]),
            wall_seconds=float(state["wall_seconds"]),
            selected=selected,
            data=DataRecord(**state["data"]) if state.get("data") is not None else None,
            scaling=Scaling(**state["scaling"]) if state.get("scaling") is not None else None,
            start_sha256=state.get("start_sha256"),
            objective=ObjectiveRecord(**state["objective"]) if state.get("objective") is not None else None,
            target_scaling=Scaling(**state["target_scaling"]) if state.get("target_scaling") is not None else None,
            share_scale=float(state.get("share_scale", 1.0)),
            population=_population_from(state, arrays, best),
        )
    except ConfigError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, TypeError, AttributeError, ValidationError):
        raise ConfigError(f"{path}: checkpoint is truncated or corrupt; cannot resume") from None
    expected = (Layout(config.layers).num_params,)
    if checkpoint.population is not None:
        population = checkpoint.population
        if any(getattr(population, name).shape != expected for name in POPULATION_ARRAYS):
            raise ConfigError(f"{path}: checkpoint population does not fit layers {list(config.layers)}")
    networks = [best] + ([selected.best] if selected is not None else [])
    for network in networks:
        params, step_sizes = network.outcome.params, network.outcome.step_sizes
        if params.shape != expected or step_sizes.shape != expected:
            raise ConfigError(f"{path}: checkpoint weights do not fit layers {list(config.layers)}")
        if params.dtype.kind != "f" or step_sizes.dtype.kind != "f":
            raise ConfigError(f"{path}: checkpoint weights are not floating-point numbers; cannot resume")
    return checkpoint
