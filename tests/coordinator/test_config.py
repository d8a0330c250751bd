"""Config: every bad value is refused in one line that names the field, the value and what is allowed."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from coordinator.config import ConfigError, SearchConfig, make_config, read_config_file

# (values, the message starts with, it shows the bad value, it says what is allowed)
BAD_VALUES = {
    "climbers zero": ({"climbers": 0}, "climbers:", "got 0", "greater than or equal to 1"),
    "climbers negative": ({"climbers": -3}, "climbers:", "got -3", "greater than or equal to 1"),
    "steps zero": ({"steps": 0}, "steps:", "got 0", "greater than or equal to 1"),
    "rounds zero": ({"rounds": 0}, "rounds:", "got 0", "greater than or equal to 1"),
    "samples zero": ({"samples": 0}, "samples:", "got 0", "greater than or equal to 1"),
    "workers zero": ({"workers": 0}, "workers:", "got 0", "greater than or equal to 1"),
    "classes one": ({"classes": 1, "layers": (2, 8, 1)}, "classes:", "got 1", "greater than or equal to 2"),
    "random steps negative": ({"random_steps": -1}, "random_steps:", "got -1", "greater than or equal to 0"),
    "seed negative": ({"seed": -1}, "seed:", "got -1", "greater than or equal to 0"),
    "data seed beyond numpy's": ({"data_seed": 2**32}, "data_seed:", "got 4294967296", "less than or equal to"),
    "step size zero": ({"step_size": 0.0}, "step_size:", "got 0.0", "positive finite number"),
    "step size negative": ({"step_size": -0.5}, "step_size:", "got -0.5", "positive finite number"),
    "step size NaN": ({"step_size": math.nan}, "step_size:", "got nan", "positive finite number"),
    "step size infinite": ({"step_size": math.inf}, "step_size:", "got inf", "positive finite number"),
    "step size text": ({"step_size": "0.1"}, "step_size:", "got '0.1'", "valid number"),
    "target loss negative": ({"target_loss": -0.1}, "target_loss:", "got -0.1", "finite number >= 0"),
    "target loss NaN": ({"target_loss": math.nan}, "target_loss:", "got nan", "finite number >= 0"),
    "time budget zero": ({"time_budget": 0.0}, "time_budget:", "got 0.0", "positive number of seconds"),
    "mutation rate above one": ({"mutation_rate": 1.5}, "mutation_rate:", "got 1.5", "(0, 1]"),
    "step growth one": ({"step_growth": 1.0}, "step_growth:", "got 1.0", "above 1"),
    "climbers as text": ({"climbers": "8"}, "climbers:", "got '8'", "valid integer"),
    "climbers as a float": ({"climbers": 8.5}, "climbers:", "got 8.5", "valid integer"),
    "climbers as a bool": ({"climbers": True}, "climbers:", "got True", "valid integer"),
    "strategy misspelt": ({"strategy": "adjsut"}, "strategy:", "got 'adjsut'", "'adjust' or 'random'"),
    "layers too short": ({"layers": (2,)}, "layers:", "got [2]", "input and an output size"),
    "layer of zero units": ({"layers": (2, 0, 3)}, "layers.1:", "got 0", "greater than or equal to 1"),
    "inputs other than the features": (
        {"dataset": "spiral", "layers": (3, 64, 3)},
        "layers:",
        "start with 3",
        "has 2 features",
    ),
    "outputs other than the classes": (
        {"dataset": "vertical", "layers": (2, 64, 4)},
        "layers:",
        "end with 4",
        "has 3 classes",
    ),
    "unknown data set": (
        {"dataset": "spirals"},
        "dataset:",
        "got 'spirals'",
        "spiral, vertical, sine, digits, iris, wine, breast_cancer, diabetes or a .csv/.npz/.npy file",
    ),
}


@pytest.mark.parametrize("case", list(BAD_VALUES))
def test_a_bad_value_is_refused_in_one_line_naming_field_value_and_what_is_allowed(case):
    values, start, shown, allowed = BAD_VALUES[case]
    with pytest.raises(ConfigError) as caught:
        make_config(values)
    message = str(caught.value)
    assert message.startswith(start), message
    assert shown in message, message
    assert allowed in message, message
    assert "\n" not in message
    with pytest.raises(ValidationError):  # the API refuses it the same way
        SearchConfig(**values)


def test_a_misspelt_field_is_refused_with_the_nearest_name():
    with pytest.raises(ConfigError) as caught:
        make_config({"climber": 8})
    assert str(caught.value).startswith("climber: unknown field; did you mean climbers?")
    assert "valid fields: dataset," in str(caught.value)
    with pytest.raises(ValidationError, match="climber"):
        SearchConfig(climber=8)


def test_a_field_name_that_is_not_text_is_an_unknown_field():
    with pytest.raises(ConfigError, match=r"^1: unknown field"):
        make_config({1: 2})


def test_layers_may_be_a_list_as_yaml_and_json_give_them():
    assert make_config({"layers": [2, 3, 3]}).layers == (2, 3, 3)


def test_a_config_survives_its_own_json():
    """Checkpoints and results store the config as JSON: reading it back must give the same config."""
    config = SearchConfig(dataset="vertical", layers=(2, 5, 3), target_loss=0.1, time_budget=None, workers=2)
    assert SearchConfig(**config.model_dump(mode="json")) == config


def test_a_config_is_frozen():
    config = SearchConfig()
    with pytest.raises(ValidationError):
        config.climbers = 0


def _yaml(tmp_path, text):
    path = tmp_path / "search.yaml"
    path.write_text(text)
    return path


def test_a_missing_yaml_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"absent\.yaml: no such config file$"):
        read_config_file(tmp_path / "absent.yaml")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "the file is empty; expected a mapping of config fields"),
        ("# only a comment\n", "the file is empty; expected a mapping of config fields"),
        ("- 2\n- 64\n", "expected a mapping of config fields, got a list"),
        ("climbers\n", "expected a mapping of config fields, got a str"),
        ("climbers: [1, 2\n", "not valid YAML at line 2"),
        ("layers: !!python/tuple [2, 3, 3]\n", "not valid YAML"),  # safe loading: no Python objects
    ],
)
def test_a_yaml_file_that_is_not_a_mapping_is_refused(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        read_config_file(_yaml(tmp_path, text))
    assert str(caught.value).startswith(str(tmp_path / "search.yaml"))
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("climber: 8\n", "climber: unknown field; did you mean climbers?"),
        ("step-size: 0.1\n", "step-size: unknown field; did you mean step_size?"),
        ("climbers: '8'\n", "climbers: Input should be a valid integer, got '8'"),
        ("climbers: 0\n", "climbers: Input should be greater than or equal to 1, got 0"),
        ("step_size: .nan\n", "step_size: must be a positive finite number, got nan"),
        ("target_loss: -1\n", "target_loss: must be a finite number >= 0, got -1"),
        ("1: 2\n", "1: unknown field"),
    ],
)
def test_a_bad_yaml_value_is_refused_naming_its_field(tmp_path, text, expected):
    with pytest.raises(ConfigError) as caught:
        make_config(read_config_file(_yaml(tmp_path, text)))
    assert str(caught.value).startswith(expected)


def test_yaml_numbers_in_exponent_form_are_numbers(tmp_path):
    """YAML 1.1 reads 1e-3 as text; the config reads it as the number the user meant."""
    values = read_config_file(_yaml(tmp_path, "step_size: 1e-3\ntarget_loss: 5E-2\nlayers: [2, 3, 3]\n"))
    config = make_config({**values, "dataset": "vertical"})
    assert (config.step_size, config.target_loss, config.layers) == (0.001, 0.05, (2, 3, 3))
