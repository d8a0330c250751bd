"""The search's configuration: one frozen pydantic model, every value checked before work starts."""

from __future__ import annotations

import difflib
import math
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import ConfigDict, Field, ValidationError, field_validator, model_validator

from workers.settings import ClimbSettings, setting

DATASET_NAMES = ("spiral", "vertical")

# Help sections in the order `run --help` shows them; each setting names its own (workers.settings.setting).
SECTIONS = {
    "data": "the data",
    "network": "the network",
    "climb": "what each climber does",
    "rounds": "rounds and when to stop",
    "where": "where it runs (never changes the result)",
}
# Names a saved run may still use for a setting that has since been renamed.
RENAMED = {"time_budget_s": "time_budget"}


class ConfigError(ValueError):
    """A configuration, data or file problem, told in one line."""


PositiveInt = Annotated[int, Field(ge=1)]


class SearchConfig(ClimbSettings):
    """Everything that decides a search's result (and the few knobs that only decide its speed).

    The climb settings come from workers.settings.ClimbSettings; the rest are declared here.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    dataset: str = setting("spiral", "'spiral' or 'vertical' (nnfs), or a .npz (X, y) / .csv file (label last)", "data")
    samples: PositiveInt = setting(100, "samples per class of a named data set", "data")
    classes: Annotated[int, Field(ge=2)] = setting(3, "classes of a named data set", "data")
    data_seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = setting(
        0, "seed of a named data set (the chapter's nnfs.init() uses 0)", "data"
    )

    layers: tuple[PositiveInt, ...] = setting((2, 64, 3), "layer sizes, inputs first, classes last", "network")

    climbers: PositiveInt | None = setting(
        None,
        "independent climbs per round; none = one per worker (set it for a result that is the same on any machine)",
        "rounds",
    )
    rounds: PositiveInt = setting(10_000, "rounds at most", "rounds")
    seed: Annotated[int, Field(ge=0)] = setting(0, "the run's seed: every climber's seed derives from it", "rounds")
    target_loss: float | None = setting(None, "stop once the best loss is at or below this; none = no target", "rounds")
    time_budget: float | None = setting(
        60.0, "stop after this many seconds (checked between rounds); none = no limit", "rounds"
    )

    workers: PositiveInt | None = setting(None, "worker actors; none = one per CPU", "where")

    @field_validator("target_loss")
    @classmethod
    def _target(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ValueError(f"must be a finite number >= 0, got {value!r}")
        return value

    @field_validator("time_budget")
    @classmethod
    def _budget(cls, value: float | None) -> float | None:
        if value is not None and not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive number of seconds, got {value!r}")
        return value

    @field_validator("layers", mode="before")
    @classmethod
    def _layers_from_list(cls, value: Any) -> Any:
        if isinstance(value, str):  # "2,64,3", as the flag takes it
            try:
                return tuple(int(part) for part in value.split(","))
            except ValueError:
                raise ValueError(f"expected comma-separated integers like 2,64,3, got {value!r}") from None
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
    """A SearchConfig from a saved run's JSON."""
    return SearchConfig(**current_names(values))


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
