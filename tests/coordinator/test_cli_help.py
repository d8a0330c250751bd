"""Help and errors of the command line, and the docstring examples of the coordinator package."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import coordinator
from coordinator.cli import RUN_FLAGS, build_parser
from tests.coordinator.cli_runner import assert_one_line_error, run_cli


@pytest.mark.parametrize("command", [[], ["run"], ["predict"], ["plot"]])
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
    if command == ["plot"]:
        assert "--output" in text and "(default RUN_DIR)" in text


def test_every_run_setting_states_its_default():
    for flag, _field, _kind, text in RUN_FLAGS:
        assert "default" in text, flag
    run_parser = build_parser()._subparsers._group_actions[0].choices["run"]
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
    """Every example in the coordinator package's docstrings (`python -m coordinator` itself is not imported)."""
    attempted = 0
    for module_info in pkgutil.iter_modules(coordinator.__path__, prefix="coordinator."):
        if module_info.name == "coordinator.__main__":
            continue
        module = importlib.import_module(module_info.name)
        results = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        assert results.failed == 0, module_info.name
        attempted += results.attempted
    assert attempted >= 15  # search, plot_run and predict_file each carry a worked example
