"""Regression end to end: data, target scaling, held-out selection, one answer, CLI, estimator, ONNX."""

from __future__ import annotations

import math
import warnings

import numpy as np
import onnxruntime
import pytest
from sklearn.datasets import load_diabetes
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from coordinator import ConfigError, HillClimbRegressor, SearchConfig, load_dataset, load_result, search
from coordinator.config import make_config
from coordinator.rounds.best import Selected, selection_of
from coordinator.rounds.prepare import prepare_run
from coordinator.rounds.stepper import training_evaluator
from tests.coordinator.cli_runner import assert_one_line_error, run_cli
from tests.coordinator.on_actors import ON_ACTORS, assert_ran_on_actors
from workers import ClimbOutcome, ClimbReport, Layout
from workers.network import evaluate

SMALL = {"executor": "inprocess", "max_iter": 2, "steps": 200, "time_budget": None}
TINY = {"climbers": 2, "steps": 400, "rounds": 3, "time_budget": None}


def _table(seed=0, rows=120):
    """Two features on very different scales, a target far from 0 and wide (so target scaling matters)."""
    generator = np.random.default_rng(seed)
    X = generator.standard_normal((rows, 2)) * np.array([1.0, 50.0])
    y = 300 + 40 * np.sin(X[:, 0]) + 0.5 * X[:, 1] + generator.standard_normal(rows)
    return X, y


def test_sine_is_nnfs_sine_data_exactly():
    from nnfs.datasets import sine_data

    dataset = load_dataset(SearchConfig(dataset="sine"))
    X, y = sine_data()
    assert dataset.regression and dataset.X.tobytes() == X.astype(np.float64).tobytes()
    assert dataset.targets.tobytes() == y.astype(np.float64).tobytes()
    assert load_dataset(SearchConfig(dataset="sine", samples=50)).X.shape == (50, 1)


def test_a_regression_search_fits_saves_and_predicts_in_the_targets_units(tmp_path):
    X, y = _table()
    config = SearchConfig(task="regression", hidden=(8,), **TINY)
    result = search(config, X, y, executor="inprocess", run_dir=tmp_path / "run")
    prepared = prepare_run(config, X, y)
    training_targets = y[np.isin(np.arange(len(y)), _training_rows(prepared, X))]
    # target scaling fitted on the training rows alone, and saved
    assert result.target_scaling.kind == "standard"
    assert result.target_scaling.offset[0] == pytest.approx(training_targets.mean(), rel=1e-12)
    assert result.config.task == "regression" and result.config.loss == "mse"
    loaded = load_result(tmp_path / "run")
    predicted = loaded.predict(X)
    assert predicted.shape == (len(X),) and predicted.tobytes() == result.predict(X).tobytes()
    assert abs(np.mean(predicted) - np.mean(y)) < 0.5 * np.std(y)  # scaled back: in the targets' units
    evaluation = loaded.evaluate(X, y)
    assert evaluation.mse == pytest.approx(np.mean((predicted - y) ** 2), rel=1e-12)
    assert evaluation.mae == pytest.approx(np.mean(np.abs(predicted - y)), rel=1e-12)
    assert evaluation.r2 == pytest.approx(r2_score(y, predicted), rel=1e-9)
    assert loaded.score(X, y) == evaluation.r2
    # the held-out rows picked the network by their loss: the lowest of every round's
    validation_losses = [record.validation_loss for record in result.history]
    assert result.validation_loss == min(validation_losses)
    assert result.selected_round == validation_losses.index(min(validation_losses))


def _training_rows(prepared, X):
    """Indices of X's rows that the prepared run trains on (found by their scaled features)."""
    scaled = prepared.scaling.apply(X)
    return [index for index, row in enumerate(scaled) if (row == prepared.dataset.X).all(axis=1).any()]


def test_held_out_rows_pick_a_regressor_by_loss_alone():
    def selected(round_index, loss, r2):
        outcome = ClimbOutcome(np.zeros(1), np.ones(1), 0.0, 0.0, 0)
        return Selected(ClimbReport(round_index, 0, outcome), round_index, loss, r2)

    first, lower_loss_lower_r2 = selected(0, 0.5, 0.9), selected(1, 0.4, 0.1)
    assert selection_of(first, lower_loss_lower_r2, by_loss=True) is lower_loss_lower_r2
    assert selection_of(first, selected(2, 0.5, 0.95), by_loss=True) is first  # a tie: the earlier round
    assert selection_of(first, selected(3, math.nan, 1.0), by_loss=True) is first


def test_the_coordinator_scores_recombinations_with_the_regression_loss():
    X, y = _table()
    prepared = prepare_run(SearchConfig(task="regression", hidden=(4,), loss="mae", **TINY), X, y)
    layout = Layout(prepared.config.layers)
    params = np.random.default_rng(0).standard_normal(layout.num_params) * 0.3
    loss, r2 = training_evaluator(prepared.dataset, layout, 0.01, prepared.loss_name)(params)
    expected = evaluate(params, prepared.dataset.X, prepared.dataset.targets, layout, 0.01, "mae")
    assert (loss, r2) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("workers", [1, 2])
def test_ray_gives_the_same_bits_for_any_number_of_workers(ray_local, workers):
    X, y = _table()
    config = SearchConfig(task="regression", hidden=(8,), climbers=3, steps=600, rounds=3, time_budget=None)
    reference = search(config, X, y, executor="inprocess")
    result = search(config.model_copy(update={"workers": workers, **ON_ACTORS}), X, y)
    assert_ran_on_actors(result, actors=workers)  # a regressor's climbs on the actors, every round
    assert result.params.tobytes() == reference.params.tobytes()
    assert [record.best_loss for record in result.history] == [record.best_loss for record in reference.history]
    assert result.selected_round == reference.selected_round


def test_the_command_line_runs_predicts_and_evaluates_a_regressor(tmp_path):
    X, y = _table()
    lines = ["a,b,price"] + [f"{a:.17g},{b:.17g},{value:.17g}" for (a, b), value in zip(X, y, strict=True)]
    (tmp_path / "prices.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "points.csv").write_text("b,a\n" + "\n".join(f"{b:.17g},{a:.17g}" for a, b in X[:5]) + "\n")
    refused = run_cli("run", "--dataset", "prices.csv", "--out", "run", "--inprocess", cwd=tmp_path)
    assert_one_line_error(refused, "prices.csv", "labels must be whole numbers or text", "--task regression")
    assert not (tmp_path / "run").exists()
    flags = ["--climbers", "2", "--steps", "300", "--rounds", "2", "--hidden", "6", "--inprocess", "--quiet"]
    done = run_cli("run", "--dataset", "prices.csv", "--task", "regression", "--loss", "mae", "--out", "run", *flags,
                   "--plot", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "run" / "fit.png").is_file() and (tmp_path / "run" / "history.png").is_file()
    predicted = run_cli("predict", "run", "--input", "points.csv", cwd=tmp_path)
    assert predicted.returncode == 0, predicted.stderr
    header, *rows = predicted.stdout.splitlines()
    result = load_result(tmp_path / "run")
    assert header == "price" and result.config.loss == "mae"
    np.testing.assert_allclose([float(row) for row in rows], result.predict(X[:5]), rtol=1e-9)
    evaluated = run_cli("evaluate", "run", "--input", "prices.csv", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    evaluation = result.evaluate(X, y)
    assert f"MSE {evaluation.mse:.6g}, MAE {evaluation.mae:.6g}, R^2 {evaluation.r2:.4f}" in evaluated.stdout
    (tmp_path / "words.csv").write_text("a,b,price\n1,2,cheap\n3,4,dear\n")
    words = run_cli("run", "--dataset", "words.csv", "--task", "regression", "--out", "w", *flags, cwd=tmp_path)
    assert_one_line_error(words, "words.csv", "a regressor's targets must be numbers")
    wrong = run_cli("run", "--dataset", "sine", "--task", "classification", "--out", "s", *flags, cwd=tmp_path)
    assert_one_line_error(wrong, "task: sine is a regression data set", "--task regression")


def test_the_book_sine_runs_from_the_command_line_without_scaling(tmp_path):
    done = run_cli("run", "--dataset", "sine", "--hidden", "16", "--climbers", "2", "--steps", "2000", "--rounds", "3",
                   "--inprocess", "--out", "sine", cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "1000 rows, 1 features, 1 target, regression, loss mse" in done.stderr or "R^2" in done.stdout
    result = load_result(tmp_path / "sine")
    assert result.scaling.kind == "none" and result.target_scaling.kind == "none" and result.config.l2 == 0.0
    assert result.config.samples == 1000 and result.data.validation is None


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_passes_scikit_learns_estimator_checks():
    check_estimator(HillClimbRegressor(**SMALL))


def test_the_regressor_in_a_pipeline_cross_validation_and_grid_search():
    X, y = load_diabetes(return_X_y=True)
    pipeline = make_pipeline(StandardScaler(), HillClimbRegressor(**SMALL, scaling="none", random_state=0))
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,) and np.all(np.isfinite(scores))
    grid = GridSearchCV(HillClimbRegressor(**SMALL), {"hidden_layer_sizes": [(4,), (8,)], "loss": ["mse", "mae"]}, cv=2)
    grid.fit(X[:200], y[:200])
    assert grid.best_params_["loss"] in ("mse", "mae")
    model = HillClimbRegressor(**SMALL).fit(X, y)
    assert model.score(X, y) == pytest.approx(r2_score(y, model.predict(X)))
    several = HillClimbRegressor(**SMALL).fit(X, np.c_[y, -2 * y])
    assert several.predict(X[:3]).shape == (3, 2)
    with pytest.raises(ValueError, match=r"^loss: "):
        HillClimbRegressor(**SMALL, loss="huber").fit(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_onnx_graph_of_a_regressor_gives_its_predictions(tmp_path, dtype):
    X, y = _table()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = HillClimbRegressor(**SMALL, hidden_layer_sizes=(6, 5)).fit(X, np.c_[y, y / 3])
    path = model.to_onnx(tmp_path / "model.onnx", dtype=dtype)
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (predicted,) = session.run(None, {"X": X.astype(dtype)})
    assert predicted.dtype == np.dtype(dtype) and predicted.shape == (len(X), 2)
    expected = model.predict(X.astype(dtype).astype(np.float64))
    np.testing.assert_allclose(predicted, expected, rtol=1e-6 if dtype == "float32" else 1e-12)


def test_bad_regression_input_is_refused_in_one_line():
    X, y = _table()
    with pytest.raises(ConfigError, match=r"^arrays: targets must be finite numbers, got nan \(row 3\)$"):
        search(SearchConfig(task="regression", **TINY), X, np.where(np.arange(len(y)) == 3, np.nan, y))
    with pytest.raises(ConfigError, match=r"^layers: the data has 1 target, but layers end with 3$"):
        search(SearchConfig(task="regression", layers=(2, 4, 3), **TINY), X, y)
    with pytest.raises(ConfigError, match=r"^loss: 'mae' is a regressor's loss"):
        make_config({"task": "classification", "loss": "mae"})


def test_a_resumed_regression_run_is_the_uninterrupted_one(tmp_path):
    X, y = _table()
    lines = ["a,b,price"] + [f"{a:.17g},{b:.17g},{value:.17g}" for (a, b), value in zip(X, y, strict=True)]
    (tmp_path / "prices.csv").write_text("\n".join(lines) + "\n")
    config = SearchConfig(dataset=str(tmp_path / "prices.csv"), task="regression", hidden=(6,), **TINY)
    whole = search(config.model_copy(update={"rounds": 4}), executor="inprocess")
    search(config.model_copy(update={"rounds": 2}), executor="inprocess", run_dir=tmp_path / "run")
    resumed = search(SearchConfig(rounds=4), executor="inprocess", run_dir=tmp_path / "run", resume=True)
    assert resumed.params.tobytes() == whole.params.tobytes()
    assert resumed.target_scaling == whole.target_scaling and resumed.selected_round == whole.selected_round


def test_a_regression_runs_own_loss_given_on_resume_is_read_beside_its_saved_task(tmp_path, capsys):
    from coordinator.interface.cli import main

    X, y = _table()
    lines = ["a,b,price"] + [f"{a:.17g},{b:.17g},{value:.17g}" for (a, b), value in zip(X, y, strict=True)]
    (tmp_path / "prices.csv").write_text("\n".join(lines) + "\n")
    flags = ["--dataset", str(tmp_path / "prices.csv"), "--task", "regression", "--hidden", "4", "--steps", "50"]
    run = str(tmp_path / "run")
    assert main(["run", *flags, "--climbers", "2", "--rounds", "1", "--inprocess", "--quiet", "--out", run]) == 0
    # --loss mse is the run's own loss: read with the checkpoint's task, not --task's default (classification)
    assert main(["run", "--resume", run, "--loss", "mse", "--rounds", "2", "--inprocess", "--quiet"]) == 0
    assert load_result(run).rounds_completed == 2
    capsys.readouterr()
    assert main(["run", "--resume", run, "--loss", "mae", "--rounds", "3", "--inprocess", "--quiet"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: loss: cannot change on resume (checkpoint has 'mse', got 'mae'); only rounds, time_budget, "
        "target_loss, patience, workers, climb_while_starting can"
    )
    assert main(["run", "--resume", run, "--loss", "error", "--rounds", "3", "--inprocess", "--quiet"]) == 2
    assert "loss: 'error' is a classifier's loss" in capsys.readouterr().err  # beside the saved task, regression
    assert load_result(run).rounds_completed == 2
