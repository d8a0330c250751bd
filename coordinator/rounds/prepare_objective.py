"""Preparing a run that minimises an objective instead of a data set's loss: a user's function or an environment.

Such a run has no rows: no split, no scaling, no held-out rows, no L2 term (an objective's own
penalty belongs in the objective). Its network's layer sizes come from `layers` (a function) or from
the environment's spaces and `hidden` (a policy); everything is checked here, before Ray starts.
"""

from __future__ import annotations

from pathlib import Path

from coordinator.config import OBJECTIVE, ConfigError, SearchConfig, resolved_search, search_mismatch
from coordinator.data.environments import check_layers, env_objective, env_spec, episode_limit
from coordinator.data.scaling import Scaling
from coordinator.rounds.checkpoint import Checkpoint
from coordinator.rounds.objective_round import objective_record
from coordinator.rounds.prepared_run import PreparedRun
from workers.network import Layout
from workers.objective import Objective
from workers.settings import auto_max_mutations

# Settings that speak of rows, which a run without data cannot honour.
DATA_SETTINGS = ("label_column", "validation_data")
# Settings of the data, each refused at a value other than its default: a run without rows would ignore it.
IGNORED_DATA_SETTINGS = ("task", "target_scaling", "samples", "classes", "data_seed")


def prepare_objective(config: SearchConfig, objective, X=None, y=None) -> PreparedRun:
    """A run ready to minimise objective (a callable or an Objective), or the environment config.env names."""
    if X is not None or y is not None:
        raise ConfigError("X: a run minimises an objective or learns from data (X, y), not both")
    if objective is not None and config.env is not None:
        raise ConfigError(f"env: give an objective or an environment ({config.env}), not both")
    if objective is not None and "dataset" in config.model_fields_set and config.dataset != OBJECTIVE:
        raise ConfigError(f"dataset: an objective replaces the data ({config.dataset}); give one or the other")
    what = f"a policy for {config.env}" if config.env is not None else "the objective"
    _refuse_data_settings(config, what)
    for name in ("weights", "activation", "loss"):  # a black-box climb moves float weights of a ReLU network
        value, default = getattr(config, name), SearchConfig.model_fields[name].default
        if value != default:
            loss = "minus its mean return" if config.env is not None else "the objective"
            raise ConfigError(
                f"{name}: {value!r} is for searches on data; {what} climbs a network of float weights and ReLU "
                f"units, and its loss is {loss}"
            )
    search = resolved_search(config, objective=True)
    mismatch = search_mismatch(config, search)
    if mismatch is not None:
        raise ConfigError(mismatch)
    policy = episode_steps = None
    if config.env is not None:
        policy = env_spec(config.env)
        episode_steps = episode_limit(config.env)
        layers = tuple(config.layers or policy.layers(config.hidden))
        check_layers(config.env, policy, layers)
        objective = env_objective(config.env, config.episodes, policy, layers)
    else:
        try:
            objective = Objective.of(objective)
        except TypeError as error:
            raise ConfigError(str(error)) from None
        if config.layers is None:
            raise ConfigError(
                "layers: an objective needs every layer size, inputs first (its parameters are those of "
                "workers.network.Layout(layers)), such as layers=(4, 16, 2)"
            )
        layers = tuple(config.layers)
    # A climb's cap on the parameters a step moves, resolved for the layers; a population moves every parameter.
    max_mutations = config.max_mutations
    if search == "climb" and max_mutations is None:
        max_mutations = auto_max_mutations(Layout(layers).num_params)
    resolved = config.model_copy(
        update={
            "search": search,
            "dataset": OBJECTIVE,
            "layers": layers,
            "hidden": layers[1:-1],
            "scaling": "none",
            "validation_fraction": 0.0,
            "l2": 0.0,
            "shares": 1,
            "max_mutations": max_mutations,
        }
    )
    record = objective_record(objective, config.env)
    return PreparedRun(
        resolved, None, None, None, Scaling(kind="none"), None, None, None,
        objective=objective, objective_record=record, policy=policy, episode_steps=episode_steps,
    )  # fmt: skip


def _refuse_data_settings(config: SearchConfig, what: str) -> None:
    """One line for the first setting about rows given to a run that has none (what: "a policy for X", "the
    objective"): a setting that would be ignored is refused, never dropped."""
    learns = f"{what} learns from episodes" if config.env is not None else f"{what} is the loss"
    for name in DATA_SETTINGS:
        if getattr(config, name) is not None:
            raise ConfigError(f"{name}: {learns}; there are no rows to take it from")
    if config.validation_fraction:
        raise ConfigError(f"validation_fraction: {learns}; there are no rows to hold out")
    if config.l2:
        raise ConfigError(f"l2: the penalty is on a data set's loss; {learns} (put a penalty of your own into it)")
    if config.scaling not in ("auto", "none"):
        raise ConfigError(f"scaling: {learns}; there are no features to scale")
    if config.shares is not None and config.shares > 1:
        raise ConfigError(f"shares: {learns}; there are no rows to share")
    for name in IGNORED_DATA_SETTINGS:  # each a setting of the data's, which a run without rows has no use for
        value, default = getattr(config, name), SearchConfig.model_fields[name].default
        if value != default:
            raise ConfigError(f"{name}: {value!r} is a setting of the data; {learns}, and has no data to apply it to")


def check_resumed_objective(run_dir: Path, state: Checkpoint, objective) -> None:
    """Refuse to resume a run with another kind of objective than it began with (or without its function)."""
    record = state.objective
    if record is None and objective is not None:
        raise ConfigError(f"objective: the run in {run_dir} learnt from data; resume it without an objective")
    if record is not None and record.kind == "callable" and objective is None:
        raise ConfigError(
            f"objective: the run in {run_dir} minimised {record.name}; give it again to resume "
            f"(search(config, objective=..., run_dir=..., resume=True))"
        )
    if record is not None and record.kind == "env" and objective is not None:
        raise ConfigError(f"objective: the run in {run_dir} learnt a policy for {record.name}; resume it without one")
