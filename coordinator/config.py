"""The search's configuration: one frozen pydantic model, every value checked before work starts."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from workers.settings import ClimbSettings

DATASET_NAMES = ("spiral", "vertical")


class ConfigError(ValueError):
    """A configuration, data or file problem, told in one line."""


PositiveInt = Annotated[int, Field(ge=1)]


class SearchConfig(BaseModel):
    """Everything that decides a search's result (and the few knobs that only decide its speed)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    # The data: an nnfs data set by name, or a .npz / .csv file.
    dataset: str = Field("spiral", description="'spiral', 'vertical', or a path to a .npz or .csv file")
    samples: PositiveInt = Field(100, description="samples per class of a named data set")
    classes: Annotated[int, Field(ge=2)] = Field(3, description="classes of a named data set")
    data_seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = Field(
        0, description="seed of a named data set (the seed uses 0; numpy's RandomState takes < 2**32)"
    )

    # The network.
    layers: tuple[PositiveInt, ...] = Field((2, 64, 3), description="layer sizes, inputs first, classes last")

    # The climb.
    strategy: Literal["adjust", "random"] = "adjust"
    step_size: float = Field(0.05, description="starting step size (the seed's 0.05)")
    adaptive: bool = Field(True, description="one-fifth success rule on the step size")
    mutation_rate: float = Field(0.02, description="fraction of parameters changed per step; 1.0 = all (the seed)")
    step_scope: Literal["global", "parameter"] = Field("parameter", description="one step size, or one per parameter")
    step_growth: float = Field(2.0, description="step factor on success; a failure applies growth ** -0.25")
    random_steps: Annotated[int, Field(ge=0)] = Field(0, description="random-search steps before the first round")
    engine: Literal["numba", "numpy"] = Field("numba", description="compiled kernel, or the plain-numpy reference")

    # The rounds.
    climbers: PositiveInt | None = Field(
        None,
        description="independent climbs per round; default one per worker (set it for a result that is "
        "the same on any machine)",
    )
    steps: PositiveInt = Field(20_000, description="steps each climber makes per round")
    rounds: PositiveInt = Field(10_000, description="rounds at most")
    seed: Annotated[int, Field(ge=0)] = Field(0, description="the run's seed: every climber's seed derives from it")
    target_loss: float | None = Field(None, description="stop once the best loss is at or below this")
    time_budget_s: float | None = Field(60.0, description="stop after this many seconds (checked between rounds)")

    # Where it runs (does not change the result).
    workers: PositiveInt | None = Field(None, description="worker actors; default: one per CPU")

    @field_validator("step_size")
    @classmethod
    def _positive_finite(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive finite number, got {value!r}")
        return value

    @field_validator("mutation_rate")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not (0 < value <= 1):
            raise ValueError(f"must lie in (0, 1], got {value!r}")
        return value

    @field_validator("step_growth")
    @classmethod
    def _growth(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 1):
            raise ValueError(f"must be a finite number above 1, got {value!r}")
        return value

    @field_validator("target_loss")
    @classmethod
    def _target(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"must be a finite number >= 0, got {value!r}")
        return value

    @field_validator("time_budget_s")
    @classmethod
    def _budget(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive number of seconds, got {value!r}")
        return value

    @field_validator("layers", mode="before")
    @classmethod
    def _layers_from_list(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value  # YAML and JSON have lists, not tuples

    @field_validator("layers")
    @classmethod
    def _layers(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(value) < 2:
            raise ValueError(f"needs at least an input and an output size, got {list(value)}")
        return value

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, value: str) -> str:
        if value in DATASET_NAMES or Path(value).suffix.lower() in (".npz", ".csv"):
            return value
        raise ValueError(f"must be one of {', '.join(DATASET_NAMES)} or a .npz/.csv file, got {value!r}")

    @model_validator(mode="after")
    def _named_dataset_shape(self) -> SearchConfig:
        # Only a data set named outright: the default stands aside for search(config, X, y), whose
        # arrays load_dataset checks against the layers (as it checks the default's) before work starts.
        if self.dataset in DATASET_NAMES and "dataset" in self.model_fields_set:
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
        """What each climber is told to do."""
        return ClimbSettings(
            steps=self.steps,
            strategy=self.strategy,
            step_size=self.step_size,
            mutation_rate=self.mutation_rate,
            adaptive=self.adaptive,
            step_growth=self.step_growth,
            step_scope=self.step_scope,
            random_steps=self.random_steps,
            engine=self.engine,
        )


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
    return f"{name}: unknown field{hint} (valid fields: {', '.join(SearchConfig.model_fields)})"


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
