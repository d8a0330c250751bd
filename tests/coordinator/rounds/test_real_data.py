"""Real data: held-out rows pick the network, scaling and labels travel with it, every result loads again."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, load_result, search
from coordinator.config import DEFAULT_L2
from coordinator.data.splits import VALIDATION_SALT, stratified_split
from coordinator.results.records import StopReason
from coordinator.rounds.best import Best, Selected, selection_of
from coordinator.rounds.checkpoint import load_checkpoint
from coordinator.rounds.prepare import prepare_run
from tests.coordinator.cli_runner import assert_one_line_error, run_cli
from workers import ClimbOutcome

TINY = {"climbers": 2, "steps": 200, "rounds": 3, "time_budget": None}


def _blobs(rows_per_class=20, seed=0, labels=("low", "mid", "high")):
    """Three well-apart clouds in 3 features, with text labels, the features on very different scales."""
    generator = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 0.0], [0.0, 3.0, 3.0]])
    X = np.concatenate([centre + generator.standard_normal((rows_per_class, 3)) * 0.4 for centre in centres])
    X = X * np.array([1.0, 100.0, 0.01])
    y = np.repeat(np.array(labels), rows_per_class)
    return X, y


def _write_csv(path, X, y, header=("a", "b", "c", "label")):
    lines = [",".join(header)] + [
        ",".join([*(repr(float(value)) for value in row), str(label)]) for row, label in zip(X, y, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_stratified_split_is_a_function_of_labels_and_seed():
    labels = np.repeat([0, 1, 2], [10, 20, 5])
    kept, held = stratified_split(labels, 0.2, 7, VALIDATION_SALT)
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(35))
    assert [int(np.sum(labels[held] == c)) for c in range(3)] == [2, 4, 1]
    again = stratified_split(labels, 0.2, 7, VALIDATION_SALT)
    assert np.array_equal(held, again[1])
    assert not np.array_equal(held, stratified_split(labels, 0.2, 8, VALIDATION_SALT)[1])


@pytest.mark.parametrize("fraction", [0.1, 0.2])
def test_many_small_classes_hold_out_the_fraction_asked_and_say_so(fraction):
    labels = np.repeat(np.arange(100), 3)  # one row from each class would be a third of the rows
    _kept, held = stratified_split(labels, fraction, 0, VALIDATION_SALT)
    assert len(held) == round(fraction * 300) and len(np.unique(labels[held])) == len(held)
    X = np.random.default_rng(0).standard_normal((300, 2))
    prepared = prepare_run(SearchConfig(validation_fraction=fraction, **TINY), X, labels)
    assert prepared.data.validation.rows == round(fraction * 300)
    note = f"validation_fraction: {fraction:g} of 300 rows holds out {round(fraction * 300)}, too few for one from each"
    assert [text for text in prepared.data.notes if text.startswith(note)]


def test_the_held_out_rows_and_the_notes_are_told_before_the_run(tmp_path):
    X = np.random.default_rng(0).standard_normal((300, 2))
    _write_csv(tmp_path / "many.csv", X, np.repeat(np.arange(100), 3), header=("a", "b", "label"))
    completed = run_cli("run", "--dataset", "many.csv", "--validation-fraction", "0.1", "--dry-run", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.startswith("note: validation_fraction: 0.1 of 300 rows holds out 30, too few for one")
    assert completed.stdout.startswith("would run: many.csv (270 training rows, 30 held out; 2 features, 100 classes)")


def test_one_row_from_each_class_is_held_out_when_that_is_near_the_fraction():
    labels = np.repeat([0, 1, 2, 3], [40, 40, 40, 2])  # the small class gives one: 25 held out, not 24
    _kept, held = stratified_split(labels, 0.2, 0, VALIDATION_SALT)
    assert [int(np.sum(labels[held] == c)) for c in range(4)] == [8, 8, 8, 1]


def test_a_result_on_arrays_saves_loads_predicts_and_plots_from_anywhere(tmp_path):
    X, y = _blobs()
    X = X[:, :2]  # two features: the plot would draw decision regions, if it had the data
    result = search(SearchConfig(hidden=(8,), **TINY), X, y, executor="inprocess", run_dir=tmp_path / "run")
    assert result.config.dataset == "arrays" and result.config.layers == (2, 8, 3)
    assert result.data.source == "arrays" and result.data.class_labels == ["high", "low", "mid"]
    moved = tmp_path / "moved"
    shutil.move(tmp_path / "run", moved)
    loaded = load_result(moved)
    assert np.array_equal(loaded.predict(X), result.predict(X))
    assert set(loaded.predict(X)) <= {"low", "mid", "high"}
    completed = run_cli("plot", str(moved), cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "learnt from arrays" in completed.stderr


def test_a_result_on_a_named_data_set_and_on_a_file_reload_from_another_directory(tmp_path):
    named = search(SearchConfig(dataset="vertical", **TINY), executor="inprocess", run_dir=tmp_path / "named")
    X, y = _blobs()
    data = _write_csv(tmp_path / "blobs.csv", X, y)
    on_file = search(
        SearchConfig(dataset=str(data), hidden=(6,), **TINY), executor="inprocess", run_dir=tmp_path / "file"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for run, result in (("named", named), ("file", on_file)):
        completed = run_cli("plot", str(tmp_path / run), cwd=elsewhere)
        assert completed.returncode == 0 and "decision regions" not in completed.stdout, completed.stderr
        assert load_result(tmp_path / run).best_loss == result.best_loss
    record = json.loads((tmp_path / "file" / "result.json").read_text())["data"]
    assert record["source"] == str(data.resolve()) and record["features"] == 3 and record["classes"] == 3
    assert record["class_labels"] == ["high", "low", "mid"] and len(record["sha256"]) == 64
    assert record["rows"] + record["validation"]["rows"] == 60


def test_scaling_is_fitted_on_the_training_rows_saved_and_applied_by_predict(tmp_path):
    X, y = _blobs()
    result = search(SearchConfig(hidden=(8,), **TINY), X, y, executor="inprocess", run_dir=tmp_path)
    assert result.config.scaling == "standard" and result.scaling.kind == "standard"
    assert result.config.l2 == DEFAULT_L2  # the measured default on data that is not the chapter's
    prepared = prepare_run(SearchConfig(hidden=(8,), **TINY), X, y)
    np.testing.assert_allclose(prepared.dataset.X.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(prepared.dataset.X.std(axis=0), 1, atol=1e-12)
    loaded = load_result(tmp_path)
    raw = loaded.predict_proba(X)
    np.testing.assert_allclose(raw, result.predict_proba(X))
    unscaled = loaded.model_copy(update={"scaling": type(loaded.scaling)(kind="none")}).predict_proba(X)
    assert not np.allclose(raw, unscaled)  # the saved scaling is what predict applies


def test_mostly_zero_data_is_scaled_keeping_its_zeros():
    """At least two thirds zeros (MNIST's pixels are 81%): 'auto' divides by the largest magnitude, shifting nothing."""
    X, y = _blobs(rows_per_class=30)
    X = np.where(np.random.default_rng(1).random(X.shape) < 0.75, 0.0, X - X.min(axis=0) + 1.0)
    prepared = prepare_run(SearchConfig(hidden=(8,), **TINY), X, y)
    assert prepared.config.scaling == "maxabs" and prepared.scaling.kind == "maxabs"
    np.testing.assert_array_equal(prepared.scaling.apply(X) == 0, X == 0)
    assert np.abs(prepared.dataset.X).max(axis=0).tolist() == [1.0, 1.0, 1.0]
    assert prepared.scaling.offset == [0.0, 0.0, 0.0]
    dense = prepare_run(SearchConfig(hidden=(8,), **TINY), X + 1.0, y)  # no zeros at all
    assert dense.config.scaling == "standard"
    assert prepare_run(SearchConfig(hidden=(8,), scaling="standard", **TINY), X, y).config.scaling == "standard"


def test_the_step_rule_is_resolved_for_the_network_and_saved(tmp_path):
    """max_mutations none means round(3000 / parameters): the chapter's 2-64-3 keeps its 8 a step."""
    assert prepare_run(SearchConfig(dataset="spiral")).config.max_mutations == 8
    assert prepare_run(SearchConfig(dataset="spiral", max_mutations=3)).config.max_mutations == 3
    X, y = _blobs()
    result = search(SearchConfig(hidden=(200,), **TINY), X, y, executor="inprocess", run_dir=tmp_path)
    assert result.config.max_mutations == 2  # 3-200-3: 1,403 parameters
    assert load_result(tmp_path).config.max_mutations == 2


def test_the_chapter_data_keeps_its_exact_semantics():
    prepared = prepare_run(SearchConfig(dataset="spiral"))
    assert prepared.config.scaling == "none" and prepared.config.validation_fraction == 0.0
    assert prepared.config.l2 == 0.0 and prepare_run(SearchConfig(dataset="spiral", l2=0.5)).config.l2 == 0.5
    # An executor built by hand from a config not yet prepared tells its climbers the same default.
    assert SearchConfig().climb_settings().l2 == 0.0 and SearchConfig(l2=0.5).climb_settings().l2 == 0.5
    assert SearchConfig(dataset="digits").climb_settings().l2 == DEFAULT_L2
    assert prepared.validation is None and len(prepared.dataset.X) == 300


def test_held_out_rows_pick_the_network_and_patience_stops_the_run():
    X, y = _blobs(rows_per_class=30)
    config = SearchConfig(hidden=(8,), climbers=2, steps=300, rounds=40, time_budget=None, patience=3)
    result = search(config, X, y, executor="inprocess")
    scores = [(record.validation_accuracy, -record.validation_loss) for record in result.history]
    assert all(score[0] is not None for score in scores)
    assert (result.validation_accuracy, -result.validation_loss) == max(scores)
    assert result.selected_round == scores.index(max(scores))  # the first round that reached it
    assert result.stopped_because is StopReason.PATIENCE
    assert result.rounds_completed == result.selected_round + 1 + 3
    kept = result.history[result.selected_round]
    assert (result.best_loss, result.best_accuracy) == (kept.best_loss, kept.best_accuracy)


def test_patience_without_held_out_rows_is_refused():
    with pytest.raises(ConfigError, match=r"^patience: needs held-out rows"):
        prepare_run(SearchConfig(dataset="vertical", patience=3))


def _kept(round_index, loss, accuracy):
    outcome = ClimbOutcome(np.zeros(1), np.ones(1), 0.5, 0.9, 0)
    return Selected(Best(round_index, 0, outcome), round_index, loss, accuracy)


def test_the_kept_network_is_the_best_held_out_accuracy_then_loss_then_the_earliest():
    # The case of a 5-class spiral: held-out loss rose while held-out accuracy rose too.
    early, later = _kept(0, 1.02, 0.34), _kept(40, 1.35, 0.59)
    assert selection_of(early, later) is later and selection_of(later, early) is later
    assert selection_of(_kept(3, 0.40, 0.90), _kept(4, 0.35, 0.90)).round_index == 4  # equal accuracy: lower loss
    assert selection_of(_kept(3, 0.40, 0.90), _kept(4, 0.40, 0.90)).round_index == 3  # a full tie: the earlier
    assert selection_of(_kept(3, 0.40, 0.90), _kept(4, math.nan, 0.90)).round_index == 3  # NaN never wins
    assert selection_of(_kept(3, math.nan, 0.0), _kept(4, 16.1, 0.0)).round_index == 4
    assert selection_of(None, early) is early


def test_validation_data_from_a_file_maps_its_labels_onto_the_training_classes(tmp_path):
    X, y = _blobs()
    train = _write_csv(tmp_path / "train.csv", X, y)
    held = _write_csv(tmp_path / "held.csv", X[::5], y[::5])
    prepared = prepare_run(SearchConfig(dataset=str(train), validation_data=str(held), hidden=(4,)))
    assert len(prepared.dataset.X) == 60 and len(prepared.validation.X) == 12
    assert prepared.data.validation.source == str(held.resolve())
    _write_csv(tmp_path / "other.csv", X[:3], ["low", "mid", "weird"])
    with pytest.raises(
        ConfigError, match=r"other\.csv: labels: row 2 has label 'weird', which the network never learnt"
    ):
        prepare_run(SearchConfig(dataset=str(train), validation_data=str(tmp_path / "other.csv")))


def test_validation_data_is_matched_to_the_training_columns_by_name(tmp_path):
    X, y = _blobs()
    train = _write_csv(tmp_path / "train.csv", X, y)
    held = _write_csv(tmp_path / "held.csv", X[::5][:, [2, 0, 1]], y[::5], header=("c", "a", "b", "label"))
    prepared = prepare_run(SearchConfig(dataset=str(train), validation_data=str(held), hidden=(4,)))
    assert np.array_equal(prepared.validation.X, prepared.scaling.apply(X[::5]))  # a, b, c again
    _write_csv(tmp_path / "renamed.csv", X[::5], y[::5], header=("a", "b", "d", "label"))
    with pytest.raises(ConfigError, match=r"renamed\.csv: the columns are not the features the network learnt "
                       r"\(missing c; not learnt from d\)"):  # fmt: skip
        prepare_run(SearchConfig(dataset=str(train), validation_data=str(tmp_path / "renamed.csv")))


def test_resuming_on_data_that_changed_is_refused(tmp_path):
    X, y = _blobs()
    data = _write_csv(tmp_path / "data.csv", X, y)
    search(SearchConfig(dataset=str(data), hidden=(4,), **TINY), executor="inprocess", run_dir=tmp_path / "run")
    assert load_checkpoint(tmp_path / "run").data.sha256
    _write_csv(data, X + 1.0, y)
    completed = run_cli("run", "--resume", str(tmp_path / "run"), "--rounds", "5", "--inprocess", cwd=tmp_path)
    assert_one_line_error(completed, "is not the data the run in", "SHA-256 differs")


def test_the_evaluate_command_scores_labelled_rows_and_draws_the_confusion_matrix(tmp_path):
    X, y = _blobs()
    search(SearchConfig(hidden=(8,), **TINY), X, y, executor="inprocess", run_dir=tmp_path / "run")
    test = _write_csv(tmp_path / "test.csv", X[::3], y[::3])
    completed = run_cli("evaluate", "run", "--input", "test.csv", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].startswith("rows 20, cross-entropy ") and "accuracy" in lines[0]
    assert any(line.split()[0] == "low" for line in lines[3:6])
    assert "confusion matrix" in completed.stdout
    picture = tmp_path / "run" / "confusion_test.png"
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = load_result(tmp_path / "run")
    evaluation = result.evaluate(X[::3], y[::3])
    assert f"accuracy {evaluation.accuracy:.4f}" in lines[0]
    assert evaluation.confusion.sum() == 20 and result.score(X[::3], y[::3]) == evaluation.accuracy
    _write_csv(test, X[:2], ["low", "nope"])
    assert_one_line_error(run_cli("evaluate", "run", "--input", "test.csv", cwd=tmp_path), "test.csv", "'nope'")


def test_a_scikit_learn_data_set_by_name_holds_out_test_rows():
    pytest.importorskip("sklearn")
    config = SearchConfig(dataset="iris", hidden=(8,), climbers=2, steps=300, rounds=2, time_budget=None)
    result = search(config, executor="inprocess")
    assert result.data.test.rows == 36 and result.data.rows + result.data.validation.rows == 114
    assert result.test_accuracy is not None and 0 <= result.test_accuracy <= 1
    assert result.config.layers == (4, 8, 3)


def test_budgets_on_resume_count_this_session(tmp_path):
    config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=200, rounds=2, time_budget=None)
    search(config, executor="inprocess", run_dir=tmp_path)
    completed = run_cli("run", "--resume", str(tmp_path), "--rounds", "4", "--time-budget", "20", "--inprocess",
                        "--quiet", cwd=tmp_path)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    resumed = load_result(tmp_path)
    assert resumed.rounds_completed == 4 and resumed.stopped_because is StopReason.ROUNDS
    assert [record.session for record in resumed.history] == [0, 0, 1, 1]
    completed = run_cli("run", "--resume", str(tmp_path), "--rounds", "4", "--inprocess", cwd=tmp_path)
    assert_one_line_error(completed, "rounds: the run in", "has done 4 of its 4 rounds; give --rounds above 4")


def test_out_naming_a_file_is_refused_before_work_starts(tmp_path):
    (tmp_path / "taken").write_text("mine")
    completed = run_cli("run", "--out", "taken", "--inprocess", "--dataset", "vertical", "--layers", "2,3,3",
                        cwd=tmp_path)  # fmt: skip
    assert_one_line_error(completed, "taken: is a file")
    assert (tmp_path / "taken").read_text() == "mine"


def test_evaluate_finds_the_label_by_the_name_the_run_recorded_wherever_the_file_puts_it(tmp_path, capsys):
    from coordinator.interface.cli import main

    X, y = _blobs()
    header = ("label", "a", "b", "c")  # trained with the label first, given by its index
    rows = [f"{label},{row[0]:.17g},{row[1]:.17g},{row[2]:.17g}" for row, label in zip(X, y, strict=True)]
    lines = [",".join(header), *rows]
    (tmp_path / "train.csv").write_text("\n".join(lines) + "\n")
    config = SearchConfig(dataset=str(tmp_path / "train.csv"), label_column="0", hidden=(4,), **TINY)
    result = search(config, executor="inprocess", run_dir=tmp_path / "run")
    test = _write_csv(tmp_path / "test.csv", X[::3], y[::3])  # a, b, c, label: the label last
    assert main(["evaluate", str(tmp_path / "run"), "--input", str(test), "--output", str(tmp_path / "m.png")]) == 0
    expected = f"rows 20, cross-entropy {result.evaluate(X[::3], y[::3]).loss:.5f} (no L2 term), "
    assert capsys.readouterr().out.startswith(expected)
    assert result.data.label_name == "label" and result.data.feature_names == ["a", "b", "c"]
    held = _write_csv(tmp_path / "held.csv", X[::4], y[::4])  # --validation-data finds it by name too
    prepared = prepare_run(config.model_copy(update={"validation_data": str(held), "validation_fraction": 0.0}))
    assert len(prepared.validation.X) == 15
    # A file without a header has no names: the run's label column stands, by position.
    (tmp_path / "plain.csv").write_text("\n".join(line for line in lines[1::3]) + "\n")
    assert main(["evaluate", str(tmp_path / "run"), "--input", str(tmp_path / "plain.csv"), "--output",
                 str(tmp_path / "p.png")]) == 0  # fmt: skip
    assert capsys.readouterr().out.startswith("rows 20, cross-entropy ")
