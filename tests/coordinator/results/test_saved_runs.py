"""Runs saved by an earlier version load, answer and resume: a classifier, a regressor, an objective's.

saved_runs/ holds run directories written by the project as it was before its rooms and names moved
(commit f4f8e4e: a regressor's R^2 then stood in fields named accuracy, a checkpoint's best in
`best_accuracy`). Their figures below are what that version printed when it wrote them.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest

from coordinator import SearchConfig, load_result, search
from coordinator.rounds.checkpoint import load_checkpoint

SAVED = Path(__file__).with_name("saved_runs")


def test_an_old_classifiers_result_loads_with_its_accuracy():
    result = load_result(SAVED / "classifier")
    assert result.best_accuracy == 0.8888888888888888 and result.best_r2 is None
    assert (result.validation_accuracy, result.test_accuracy) == (0.8333333333333334, 0.8055555555555556)
    assert result.best_score == result.best_accuracy and result.score_name == "accuracy"
    assert all(record.best_accuracy is not None and record.best_r2 is None for record in result.history)


def test_an_old_regressors_result_loads_with_its_r2_under_its_own_name():
    saved = json.loads((SAVED / "regressor" / "result.json").read_text())
    assert "best_r2" not in saved and saved["best_accuracy"] == 0.6960682686423532  # as it was written
    result = load_result(SAVED / "regressor")
    assert (result.best_r2, result.validation_r2, result.test_r2) == (0.6960682686423532, 0.6666613136270356, None)
    assert (result.best_accuracy, result.validation_accuracy, result.test_accuracy) == (None, None, None)
    assert result.best_score == result.best_r2 and result.score_name == "R^2"
    for record, written in zip(result.history, saved["history"], strict=True):
        assert (record.best_r2, record.best_accuracy) == (written["best_accuracy"], None)
        assert record.validation_r2 == written["validation_accuracy"]
    X = np.linspace(0.0, 1.0, 5)[:, None]
    assert result.predict(X).shape == (5,)


def test_an_old_objectives_result_loads_with_no_score():
    result = load_result(SAVED / "objective")
    assert result.best_accuracy is None and result.best_r2 is None and result.score_name is None
    assert math.isfinite(result.best_loss)


@pytest.mark.parametrize("name", ["classifier", "regressor", "objective"])
def test_an_old_checkpoint_loads_its_best_and_history(name):
    checkpoint = load_checkpoint(SAVED / name)
    result = load_result(SAVED / name)
    assert checkpoint.rounds_completed == result.rounds_completed == 3 - (name == "objective")
    assert len(checkpoint.history) == checkpoint.rounds_completed
    if name == "regressor":  # its rounds' R^2 under today's names
        assert [record.best_r2 for record in checkpoint.history] == [record.best_r2 for record in result.history]
        assert checkpoint.selected is not None and checkpoint.selected.validation_score == result.validation_r2
    if name == "classifier":
        assert checkpoint.best.score == result.history[-1].best_accuracy


def test_an_old_regressors_run_resumes(tmp_path):
    run_dir = tmp_path / "regressor"
    shutil.copytree(SAVED / "regressor", run_dir)
    result = search(SearchConfig(rounds=5), executor="inprocess", run_dir=run_dir, resume=True)
    assert result.rounds_completed == 5 and result.best_r2 is not None and result.best_accuracy is None
    assert [record.session for record in result.history] == [0, 0, 0, 1, 1]
    assert load_result(run_dir).best_r2 == result.best_r2
