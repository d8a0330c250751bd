"""bench/c_export.py end to end on a tiny count: a run as a user makes it, exported, compiled, compared with predict."""

from __future__ import annotations

import json
import shutil

import pytest

from bench.c_export import main

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="bench/c_export.py compiles with gcc")


def test_a_ternary_network_goes_from_run_to_a_compiled_program_whose_classes_are_predicts(tmp_path):
    flags = ["--datasets", "digits", "--splits", "0", "--variants", "ternary", "--no-emlearn", "--out", str(tmp_path)]
    assert main([*flags, "--rounds", "1", "--steps", "200", "--climbers", "1"]) == 0
    (model,) = json.loads((tmp_path / "c_export-digits-rounds1x200x1.json").read_text())
    assert model["network"] == "64-32-10" and model["rows"] == 450
    assert model["equal_to_predict"] == model["rows"]  # every test class as predict's
    assert model["weight_bytes"] <= 700  # ternary: 2 bits a weight
    assert (tmp_path / "c_export-digits-rounds1x200x1.md").read_text().count("ternary") >= 1
