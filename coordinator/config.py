"""The search's configuration: one frozen pydantic model, every value checked before work starts."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from workers.population import POPULATION_SEARCHES, PopulationSettings
from workers.settings import ClimbSettings, finite_non_negative, loss_mismatch, resolved_loss, setting

# A round of one climber, in steps; more climbers make shorter rounds (coordinator/rounds/length.py).
ONE_CLIMBER_STEPS = 20_000
Combine = Literal["best", "recombine"]
# Which search runs: the chapter's climbs, or a population strategy (workers/population.py); auto chooses by what the
# run minimises (`resolved_search`).
Search = Literal["auto", "climb", "snes", "openai_es", "pgpe"]
# What auto chooses for an objective or an environment: SNES reached one worker's return soonest at 16 and 64 workers
# (bench/results/expensive_objectives.md), where an evaluation (an episode, a call) is the whole cost.
OBJECTIVE_SEARCH = "snes"
# Settings only a population strategy reads, and settings only the climbs read (weights, activation and loss are
# refused for any objective, by prepare_objective, and l2 is a data set's): either given to the other search is refused.
POPULATION_SETTINGS = ("population", "sigma", "learning_rate", "sigma_learning_rate", "weight_decay")
CLIMB_SETTINGS = (
    *(name for name in ClimbSettings.model_fields if name not in ("weights", "activation", "loss", "l2")),
    "combine",
    "climbers",
)

# The chapter's data sets (nnfs), drawn exactly as the chapter draws them.
DATASET_NAMES = ("spiral", "vertical")
# The book's regression data set (nnfs's sine_data): one feature, one target.
REGRESSION_DATASET_NAMES = ("sine",)
# The book's data of either kind: never scaled, nothing held out, no L2 unless asked.
CHAPTER_DATASETS = (*DATASET_NAMES, *REGRESSION_DATASET_NAMES)
CHAPTER_SAMPLES = 100  # per class, as the chapter draws spiral and vertical
SINE_SAMPLES = 1000  # sine_data's own default
# scikit-learn's small real data sets, by name where scikit-learn is installed; a quarter is held out for testing.
SKLEARN_CLASSIFICATION = ("digits", "iris", "wine", "breast_cancer")
SKLEARN_REGRESSION = ("diabetes",)
SKLEARN_DATASETS = (*SKLEARN_CLASSIFICATION, *SKLEARN_REGRESSION)
# The data sets by name whose targets are quantities: "auto" makes their task regression.
REGRESSION_DATASETS = (*REGRESSION_DATASET_NAMES, *SKLEARN_REGRESSION)
TaskChoice = Literal["auto", "classification", "regression"]
TargetScalingChoice = Literal["auto", "standard", "none"]
# The data files a run reads (coordinator/data/tables.py): a dataset, held-out rows, rows to predict.
DATA_SUFFIXES = (".csv", ".npz", ".npy")
# What a run's config says of data handed to search(config, X, y) as arrays.
ARRAYS = "arrays"
# What a run's config says when it learnt from no data: it minimised an objective (a function given to
# search(config, objective=f), or an environment's return, --env).
OBJECTIVE = "objective"
ScalingChoice = Literal["auto", "standard", "minmax", "maxabs", "none"]
# The defaults "auto" stands for on data that is not the chapter's (the chapter's data is never changed).
DEFAULT_SCALING = "standard"
# On mostly-zero data (at least this share of the training values zero, as MNIST's pixels, 81%), "auto"
# keeps zeros at zero: a step then costs what its inputs' nonzero samples cost (BENCHMARKS.md).
SPARSE_SCALING, SPARSE_DATA = "maxabs", 2 / 3
DEFAULT_VALIDATION_FRACTION = 0.2
DEFAULT_L2 = 1e-3

# Help sections in the order `run --help` shows them; each setting names its own (workers.settings.setting).
SECTIONS = {
    "data": "the data",
    "env": "a gymnasium environment, instead of data (pip install 'hillclimb[rl]')",
    "network": "the network",
    "search": "which search: climbs, or a population strategy (auto: a population for an objective or --env)",
    "climb": "what each climber does",
    "rounds": "rounds and when to stop",
    "where": "where it runs (never changes the result)",
}
# Names a saved run may still use for a setting that has since been renamed.
RENAMED = {"time_budget_s": "time_budget"}


class ConfigError(ValueError):
    """A configuration, data or file problem, told in one line."""


PositiveInt = Annotated[int, Field(ge=1)]


class SearchConfig(ClimbSettings, PopulationSettings):
    """Everything that decides a search's result (and the few knobs that only decide its speed).

    The climb settings come from workers.settings.ClimbSettings, a population strategy's from
    workers.population.PopulationSettings; the rest are declared here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dataset: str = setting(
        "spiral",
        "'spiral' or 'vertical' (the chapter's nnfs data), 'sine' (the book's regression data), 'digits', 'iris', "
        "'wine', 'breast_cancer' or 'diabetes' (scikit-learn's, a quarter held out for testing), a .csv / .npz file, "
        "or a .npy array (the label its last column, or --label-column): with row shares, each worker reads its own "
        "rows from it",
        "data",
    )
    task: TaskChoice = setting(
        "auto",
        "'classification' (labels: classes, softmax, cross-entropy) or 'regression' (numbers: linear outputs, "
        "--loss); auto = regression on sine and diabetes, classification on any other",
        "data",
    )
    label_column: str | None = setting(
        None, "the label column of a .csv: a header name or a 0-based index; none = the last column", "data"
    )
    samples: PositiveInt | None = setting(
        None,
        f"samples per class of the chapter's data (none = {CHAPTER_SAMPLES}), or points of sine "
        f"(none = {SINE_SAMPLES})",
        "data",
    )
    classes: Annotated[int, Field(ge=2)] = setting(3, "classes of the chapter's data", "data")
    data_seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = setting(
        0, "seed of the chapter's data (its nnfs.init() uses 0) and of scikit-learn data's test split", "data"
    )
    scaling: ScalingChoice = setting(
        "auto",
        f"feature scaling fitted on the training rows: 'standard' (mean 0, variance 1), 'minmax' (0 to 1), "
        f"'maxabs' (-1 to 1, zeros kept) or 'none'; auto = none on the chapter's data, {SPARSE_SCALING} on data "
        f"of at least two thirds zeros, {DEFAULT_SCALING} on any other",
        "data",
    )
    target_scaling: TargetScalingChoice = setting(
        "auto",
        "a regressor's target scaling, fitted on the training rows (predictions are scaled back): 'standard' "
        "(mean 0, variance 1) or 'none'; auto = none on the chapter's data, standard on any other",
        "data",
    )
    validation_fraction: float | None = setting(
        None,
        f"share of the training rows held out (stratified, from --seed) to pick the network that generalises; "
        f"none = 0 on the chapter's data, {DEFAULT_VALIDATION_FRACTION} on any other",
        "data",
    )
    validation_data: str | None = setting(
        None, "a labelled .csv / .npz / .npy file of held-out rows, instead of --validation-fraction", "data"
    )
    shares: PositiveInt | None = setting(
        None,
        "row shares: the training rows split into this many shares (stratified, from --seed), each climber climbing "
        "on one and paying for its rows only, the best kept on all rows; none = 1 on fewer than 1,500 rows, else "
        "about sqrt(rows / the steps a full pass costs), shares of 750 rows at least (3 on MNIST-5k's 3,000 "
        "training rows, 14 on 48,000)",
        "data",
    )

    env: str | None = setting(
        None,
        "a gymnasium environment to train a policy for, such as CartPole-v1, Pendulum-v1 or FrozenLake-v1, or "
        "PACKAGE:NAME for one a package registers (ale_py:ALE/Pong-v5): observations in, actions out (arg-max for "
        "discrete actions, tanh scaled to a box's bounds; see docs/usage.md); instead of --dataset",
        "env",
    )
    episodes: PositiveInt = setting(
        5,
        "episodes a policy is scored on: the loss is minus their mean return; new episodes each round, the same for "
        "every climber of the round",
        "env",
    )

    hidden: tuple[PositiveInt, ...] = setting(
        (64,), "hidden layer sizes (64, or 64,64 for two); inputs and classes come from the data", "network"
    )
    layers: tuple[PositiveInt, ...] | None = setting(
        None, "every layer size, inputs first, classes last, checked against the data; none = from --hidden", "network"
    )

    # Declared again: auto and climb besides the population strategies, and an automatic population (the stepper's).
    search: Search = setting(
        "auto",
        "'climb' (the chapter's adjust-and-revert climbs, recombined each round) or a population strategy, a "
        "round one generation: 'snes' (a step size per parameter), 'openai_es' (antithetic pairs, Adam) or 'pgpe' "
        f"(ClipUp); auto = {OBJECTIVE_SEARCH} for an objective or --env (an evaluation is an episode or a call, and a "
        "generation's members keep every worker busy), climb on data",
        "search",
    )
    population: PositiveInt | None = setting(
        None,
        "a population strategy's members a generation, an even number (antithetic pairs); none = SNES's own "
        "4 + 3 ln(parameters), raised to fill whole evaluations a worker (set it for a result that is the same on "
        "any machine)",
        "search",
    )

    # The climbers' steps, declared again only to give it an automatic default (resolved by the stepper).
    steps: PositiveInt | None = setting(
        None,
        f"steps each climber makes per round; none = {ONE_CLIMBER_STEPS:,} divided by the number of climbers, "
        "fewer where a step is slow (see docs/usage.md)",
        "climb",
    )
    combine: Combine = setting(
        "recombine",
        "what a round keeps: 'recombine' (the best climber, or a weighted mean of the climbers' improvements that "
        "scores lower still) or 'best' (the best climber)",
        "rounds",
    )
    climbers: PositiveInt | None = setting(
        None,
        "independent climbs per round; none = one per worker (set it for a result that is the same on any machine)",
        "rounds",
    )
    rounds: PositiveInt = setting(10_000, "rounds at most", "rounds")
    seed: Annotated[int, Field(ge=0)] = setting(0, "the run's seed: every climber's seed derives from it", "rounds")
    target_loss: float | None = setting(None, "stop once the best loss is at or below this; none = no target", "rounds")
    time_budget: float | None = setting(
        60.0, "stop after this many seconds of this session (checked between rounds); none = no limit", "rounds"
    )
    patience: PositiveInt | None = setting(
        None, "stop after this many rounds without a better held-out score; none = never", "rounds"
    )

    workers: PositiveInt | None = setting(None, "worker actors; none = one per CPU", "where")
    climb_while_starting: bool = setting(
        True,
        "climb in this process while Ray and its worker actors start, then on the actors; off: every climb waits "
        "for the actors (the same result either way)",
        "where",
    )

    # The climbers' l2, declared again only to give it an automatic default (resolved by prepare_run).
    l2: float | None = setting(
        None,
        f"L2 penalty on the weights, as scikit-learn's MLPClassifier alpha (loss + l2 / 2n * sum w^2); "
        f"none = 0 on the chapter's data, {DEFAULT_L2:g} on any other",
        "climb",
    )

    @field_validator("target_loss")
    @classmethod
    def _target(cls, value: float | None) -> float | None:
        return finite_non_negative(value)

    @field_validator("time_budget")
    @classmethod
    def _budget(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive number of seconds, got {value!r}")
        return value

    @field_validator("validation_fraction")
    @classmethod
    def _validation_fraction(cls, value: float | None) -> float | None:
        if value is not None and not (0 <= value < 1):
            raise ValueError(f"must lie in [0, 1), got {value!r}")
        return value

    @field_validator("label_column", mode="before")
    @classmethod
    def _label_column_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("layers", "hidden", mode="before")
    @classmethod
    def _layers_from_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # "2,64,3", as the flag takes it
            try:
                return tuple(int(part) for part in value.split(","))
            except ValueError:
                raise ValueError(f"expected comma-separated integers like 2,64,3, got {value!r}") from None
        if isinstance(value, int) and not isinstance(value, bool):
            return (value,)  # one size: `hidden: 16` in YAML
        return tuple(value) if isinstance(value, list) else value  # YAML and JSON have lists, not tuples

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is not None and len(value) < 2:
            raise ValueError(f"needs at least an input and an output size, got {list(value)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        named = (*CHAPTER_DATASETS, *SKLEARN_DATASETS, ARRAYS, OBJECTIVE)
        if value in named or Path(value).suffix.lower() in DATA_SUFFIXES:
            return value
        names = ", ".join((*CHAPTER_DATASETS, *SKLEARN_DATASETS))
        raise ValueError(f"must be one of {names} or a .csv/.npz/.npy file, got {value!r}")

    @field_validator("validation_data")
    @classmethod
    def _validation_file(cls, value: str | None) -> str | None:
        if value is not None and Path(value).suffix.lower() not in DATA_SUFFIXES:
            raise ValueError(f"must be a .csv, .npz or .npy file, got {value!r}")
        return value

    @model_validator(mode="before")
    @classmethod
    def _hidden_from_layers(cls, values: Any) -> Any:
        # Every layer size given, hidden sizes not: they are the layers' own.
        if isinstance(values, dict) and values.get("layers") is not None and "hidden" not in values:
            layers = cls._layers_from_list(values["layers"])
            if (
                isinstance(layers, tuple)
                and len(layers) >= 2
                and all(isinstance(size, int) and size >= 1 for size in layers)
            ):
                values = {**values, "hidden": layers[1:-1]}
        return values

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if self.layers is not None and "hidden" in self.model_fields_set and self.hidden != self.layers[1:-1]:
            raise ValueError(
                f"hidden: give hidden sizes or every layer size, not both (layers {_sizes(self.layers)} "
                f"has hidden {_sizes(self.layers[1:-1]) or 'none'}, hidden is {_sizes(self.hidden)})"
            )
        if self.validation_data is not None and self.validation_fraction:
            raise ValueError("validation_fraction: give held-out rows as a fraction or as a file, not both")
        if self.env is not None and "dataset" in self.model_fields_set and self.dataset != OBJECTIVE:
            raise ValueError(f"env: a policy for {self.env} learns from episodes; give --env or --dataset, not both")
        named = self.dataset in (*CHAPTER_DATASETS, *SKLEARN_DATASETS) and "dataset" in self.model_fields_set
        if named and self.task != "auto" and (self.task == "regression") != (self.dataset in REGRESSION_DATASETS):
            kind = "regression" if self.dataset in REGRESSION_DATASETS else "classification"
            raise ValueError(f"task: {self.dataset} is a {kind} data set, got task {self.task!r} (give --task {kind})")
        on_data = self.env is None and self.dataset != OBJECTIVE  # an objective's run refuses any loss (prepare_run)
        mismatch = loss_mismatch(self.loss, resolved_task(self) == "regression") if on_data else None
        if mismatch is not None:
            raise ValueError(mismatch)
        if on_data and resolved_task(self) == "regression":  # a grid's scales and the units are a classifier's
            for name, plain in (("weights", "float"), ("activation", "relu")):
                if getattr(self, name) != plain:
                    raise ValueError(f"{name}: {getattr(self, name)!r} is for classifiers; a regressor's is {plain!r}")
        if self.search != "auto" or self.env is not None:
            mismatch = search_mismatch(self, resolved_search(self, objective=self.env is not None))
            if mismatch is not None:
                raise ValueError(mismatch)
        sine = self.dataset in REGRESSION_DATASET_NAMES and "dataset" in self.model_fields_set
        if sine and self.layers is not None and (self.layers[0], self.layers[-1]) != (1, 1):
            raise ValueError(
                f"layers: the {self.dataset} data set has 1 feature and 1 target, got {_sizes(self.layers)}"
            )
        # Only a data set named outright: the default stands aside for search(config, X, y), whose
        # arrays load_dataset checks against the layers (as it checks the default's) before work starts.
        if self.layers is not None and self.dataset in DATASET_NAMES and "dataset" in self.model_fields_set:
            if self.layers[0] != 2:
                raise ValueError(
                    f"layers: the {self.dataset} data set has 2 features, but layers start with {self.layers[0]}"
                )
            if self.layers[-1] != self.classes:
                raise ValueError(
                    f"layers: the data set has {self.classes} classes, but layers end with {self.layers[-1]}"
                )
        return self

    def climb_settings(self) -> ClimbSettings:
        """What a climber is told; an l2 not yet resolved (None) takes the default for this data set's name.

        Steps not yet resolved (None) stand as ONE_CLIMBER_STEPS: every task says its round's length anyway.
        """
        unresolved = {}
        if self.l2 is None:  # prepare_run resolves it from the data itself; this is for executors built by hand
            unresolved["l2"] = default_l2(chapter=self.dataset in CHAPTER_DATASETS)
        if self.steps is None:
            unresolved["steps"] = ONE_CLIMBER_STEPS
        if unresolved:
            return self.model_copy(update=unresolved).climb_settings()
        return super().climb_settings()

    def population_settings(self, population: int) -> PopulationSettings:
        """What a population strategy is told: its settings, with the population the run resolved."""
        values = {name: getattr(self, name) for name in PopulationSettings.model_fields}
        return PopulationSettings(**values | {"population": population})


def resolved_search(config: SearchConfig, objective: bool) -> str:
    """The search a run makes: the config's, auto read from what it minimises (an objective or environment's
    return: a population strategy; a data set's loss: the climbs)."""
    if config.search != "auto":
        return config.search
    return OBJECTIVE_SEARCH if objective else "climb"


def search_mismatch(config: SearchConfig, search: str) -> str | None:
    """One line for the first setting given that the search does not read (its value not the default), or None."""
    population = search in POPULATION_SEARCHES
    for name in CLIMB_SETTINGS if population else POPULATION_SETTINGS:
        value, default = getattr(config, name), SearchConfig.model_fields[name].default
        if value != default:
            if population:
                return (
                    f"{name}: {value!r} is a setting of the climbs; a {search} search moves a population (its "
                    f"settings: {', '.join(POPULATION_SETTINGS)}; or give --search climb)"
                )
            return (
                f"{name}: {value!r} is a setting of a population strategy; this run climbs (give --search snes, "
                "openai_es or pgpe for a population)"
            )
    return None


def resolved_task(config: SearchConfig) -> str:
    """'classification' or 'regression': the config's task, "auto" read from the data set's name."""
    if config.task != "auto":
        return config.task
    return "regression" if config.dataset in REGRESSION_DATASETS else "classification"


def config_loss(config: SearchConfig) -> str:
    """What the network minimises, as the workers name it: a classifier's "cross_entropy" or "error", a regressor's
    "mse" or "mae" (the config's loss, or its task's default)."""
    return resolved_loss(config.loss, resolved_task(config) == "regression")


def default_l2(chapter: bool) -> float:
    """The L2 penalty a run gets when none is given: none on the chapter's data, DEFAULT_L2 on any other."""
    return 0.0 if chapter else DEFAULT_L2


def _sizes(sizes: tuple[int, ...]) -> str:
    return ",".join(map(str, sizes))


def setting_section(name: str) -> str:
    """The help section a SearchConfig setting belongs to."""
    return SearchConfig.model_fields[name].json_schema_extra["section"]


def setting_names() -> list[str]:
    """Every SearchConfig setting, section by section as help shows them."""
    return [name for section in SECTIONS for name in SearchConfig.model_fields if setting_section(name) == section]


def current_names(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config's values under today's setting names."""
    return {RENAMED.get(name, name): value for name, value in values.items()}


def saved_config(values: dict[str, Any]) -> SearchConfig:
    """A SearchConfig from a saved run's JSON; one written before row shares climbed on every row (one share), one
    written before population strategies climbed."""
    values = {"shares": 1, "search": "climb"} | current_names(values)
    return SearchConfig(**values)


def describe_validation_error(error: ValidationError) -> str:
    """The first problem of a pydantic error, in one line naming the field and the bad value."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "config"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        return _unknown_field(field)
    if not first["loc"]:
        return message  # the model's own checks name their field
    if "got" in message:
        return f"{field}: {message}"
    return f"{field}: {message}, got {first.get('input')!r}"


def _unknown_field(name: str) -> str:
    """The one line for a field that SearchConfig does not have, with the nearest name if there is one."""
    close = difflib.get_close_matches(name, SearchConfig.model_fields, n=1)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{name}: unknown field{hint} (valid fields: {', '.join(setting_names())})"


def make_config(values: dict[str, Any]) -> SearchConfig:
    """A SearchConfig from plain values, or a ConfigError in one line."""
    for key in values:
        if not isinstance(key, str):
            raise ConfigError(_unknown_field(repr(key)))
    try:
        return SearchConfig(**values)
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None


class _ConfigLoader(yaml.SafeLoader):
    """yaml.safe_load, but numbers like 1e-3 are floats (YAML 1.2) rather than strings (YAML 1.1)."""


_ConfigLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML config file, or a ConfigError naming the file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    try:
        values = yaml.load(text, Loader=_ConfigLoader)  # a SafeLoader: no Python objects
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError(f"{path}: not valid YAML{where}") from None
    if values is None:
        raise ConfigError(f"{path}: the file is empty; expected a mapping of config fields")
    if not isinstance(values, dict):
        raise ConfigError(f"{path}: expected a mapping of config fields, got a {type(values).__name__}")
    return values
