"""Help and errors of the command line, and the docstring examples of the coordinator package."""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import coordinator
from coordinator.config import SECTIONS, SearchConfig, make_config, setting_section
from coordinator.interface.cli import build_parser
from coordinator.interface.flags import flag_name, format_value
from tests.coordinator.cli_runner import assert_one_line_error, cli_environment, run_cli


@pytest.mark.parametrize("command", [[], ["run"], ["predict"], ["plot"], ["export"]])
def test_help_of_every_command_has_examples(command, tmp_path):
    completed = run_cli(*command, "--help", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    text = completed.stdout
    assert text.startswith("usage: python -m coordinator")
    assert "examples:" in text and "python -m coordinator " + (command[0] if command else "run") in text
    if command == ["run"]:
        for flag in ("--quiet", "--log-json", "--plot", "--time-budget", "--inprocess"):
            assert flag in text
    if command == ["predict"]:
        assert "--input" in text and "(default stdout)" in text and "class,p_0,p_1" in text
        # what each kind of run predicts, not a classifier's alone
        assert "a regressor's numbers, or a policy's action" in " ".join(text.split())
        assert "a regressor's: a header row (prediction, or the target's name)" in text
        assert "a policy's: a header row action (or action_0,action_1,...)" in " ".join(text.split())
    if command == ["plot"]:
        assert "--output" in text and "(default RUN_DIR)" in text
    if command == ["export"]:
        assert "--onnx" in text and "hillclimb[onnx]" in text
        assert "a regressor's: output prediction (N, targets) in the targets' units" in " ".join(text.split())
        assert "a regressor's target scaling" in " ".join(text.split())


def test_the_installed_script_calls_itself_by_its_own_name(tmp_path):
    script = Path(sys.executable).with_name("hillclimb")
    if not script.is_file():
        pytest.skip("the project is not installed in this environment (pip install -e .)")
    completed = subprocess.run(
        [str(script), "run", "--help"], cwd=tmp_path, env=cli_environment(), capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("usage: hillclimb run") and "python -m coordinator" not in completed.stdout
    assert "  hillclimb run --resume runs/big" in completed.stdout


def _run_parser():
    return build_parser()._subparsers._group_actions[0].choices["run"]


def test_every_setting_is_a_flag_whose_help_shows_the_configs_own_default():
    actions = {action.dest: action for action in _run_parser()._actions}
    for name, field in SearchConfig.model_fields.items():
        assert setting_section(name) in SECTIONS, name
        action = actions[name]
        assert flag_name(name) in action.option_strings
        assert action.help == f"{field.description} (default: {format_value(field.default)})", name
        assert action.default is None  # a flag not given leaves the YAML's value (or the default) standing


def test_a_flag_and_a_yaml_value_mean_the_same():
    parser = build_parser()
    flags = ["run", "--layers", "2,8,3", "--time-budget", "none", "--no-adaptive", "--mutation-rate", "0.5"]
    from coordinator.interface.cli import config_from_args

    from_flags = config_from_args(parser.parse_args(flags))
    from_yaml = make_config({"layers": "2,8,3", "time_budget": None, "adaptive": False, "mutation_rate": 0.5})
    assert from_flags == from_yaml
    assert from_flags.layers == (2, 8, 3) and from_flags.time_budget is None


def test_a_mistyped_flag_gets_the_nearest_name(tmp_path):
    assert_one_line_error(run_cli("run", "--layer", "2,3,3", cwd=tmp_path), "--layer", "did you mean --layers?")


def test_every_run_setting_states_its_default():
    run_parser = _run_parser()
    for action in run_parser._actions:  # every option that takes a value (on/off switches start off)
        if action.option_strings and action.nargs != 0 and action.dest not in ("config", "resume", "address"):
            assert "default" in (action.help or ""), action.option_strings


def test_errors_say_what_to_do_next(tmp_path):
    assert_one_line_error(run_cli(cwd=tmp_path), "python -m coordinator --help")
    assert_one_line_error(
        run_cli("run", "--steps", "many", cwd=tmp_path), "--steps", "python -m coordinator run --help"
    )
    assert_one_line_error(run_cli("plot", cwd=tmp_path), "RUN_DIR", "python -m coordinator plot --help")


def test_the_docstring_examples_run():
    """Every example in the coordinator package's docstrings, every room walked (`python -m coordinator` itself is
    not imported)."""
    attempted = 0
    for module_info in pkgutil.walk_packages(coordinator.__path__, prefix="coordinator."):
        if module_info.name == "coordinator.__main__":
            continue
        module = importlib.import_module(module_info.name)
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert results.failed == 0, module_info.name
        attempted += results.attempted
    assert attempted >= 15  # search, plot_run and predict_file each carry a worked example
