"""Predictions from a finished run: the Python API, the file readers, and `python -m coordinator predict`."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, load_result, nnfs_data, search
from coordinator.interface.predict import predict_file, prediction_table, read_features
from tests.coordinator.cli_runner import assert_one_line_error, make_run, run_cli

POINTS = np.array([[0.0, 0.5], [0.33, 0.5], [0.7, 0.5]])


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny run on the vertical data."""
    run_dir = tmp_path_factory.mktemp("predict") / "run"
    make_run(run_dir)
    return run_dir


def _table(text: str) -> tuple[list[str], np.ndarray]:
    lines = text.strip().splitlines()
    return lines[0].split(","), np.array([[float(cell) for cell in line.split(",")] for line in lines[1:]])


def test_the_python_api_agrees_with_the_search(finished_run):
    result = load_result(finished_run)
    X, y = nnfs_data("vertical", 100, 3)
    probabilities = result.predict_proba(X)
    assert probabilities.shape == (300, 3)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0)
    assert np.mean(result.predict(X) == y) == pytest.approx(result.best_accuracy)
    assert result.predict(POINTS).tolist() == [0, 1, 2]  # the three class centres
    with pytest.raises(ConfigError, match=r"expected \(samples, 2\) features, got shape \(3, 3\)"):
        result.predict_proba(np.zeros((3, 3)))


def test_csv_with_header_to_csv(finished_run, tmp_path):
    source = tmp_path / "points.csv"
    source.write_text("x,y\n" + "\n".join(f"{a},{b}" for a, b in POINTS) + "\n\n")
    classes = predict_file(finished_run, source, tmp_path / "out" / "classes.csv")
    header, rows = _table((tmp_path / "out" / "classes.csv").read_text())
    assert header == ["class", "p_0", "p_1", "p_2"]
    assert rows[:, 0].tolist() == classes.tolist() == [0, 1, 2]
    np.testing.assert_allclose(rows[:, 1:], load_result(finished_run).predict_proba(POINTS), rtol=1e-5)


def test_npz_and_csv_without_header_agree(finished_run, tmp_path, capsys):
    np.savez(tmp_path / "points.npz", X=POINTS)
    np.savetxt(tmp_path / "points.csv", POINTS, delimiter=",")
    predict_file(finished_run, tmp_path / "points.npz")
    from_npz = capsys.readouterr().out
    predict_file(finished_run, tmp_path / "points.csv")
    assert capsys.readouterr().out == from_npz
    assert from_npz.startswith("class,p_0,p_1,p_2\n0,")


def test_prediction_table_format():
    text = prediction_table(np.array([[0.25, 0.75], [0.9, 0.1]]), [0, 1])
    assert text == "class,p_0,p_1\n1,0.25,0.75\n0,0.9,0.1\n"
    text = prediction_table(np.array([[0.25, 0.75], [0.9, 0.1]]), ["cat", "dog"])
    assert text == "class,p_cat,p_dog\ndog,0.25,0.75\ncat,0.9,0.1\n"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("letters.csv", "x,y\n1,2\n3,four\n", "line 3, column y has 'four', not a number"),
        ("ragged.csv", "1,2\n3\n", "line 2 has 1 columns, expected 2"),
        ("empty.csv", "", "no data rows"),
        ("header-only.csv", "x,y\n", "no data rows"),
        ("nan.csv", "1,2\nnan,3\n", "line 2, column 0 has 'nan', not a finite number"),
        ("points.txt", "1,2\n", "unknown input file type '.txt'; use a .csv, .npz or .npy file"),
        ("broken.npz", "not a zip", "not a .npz archive (pickled files are never loaded)"),
    ],
)
def test_bad_input_files_are_named_with_the_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ConfigError) as caught:
        read_features(path)
    assert str(caught.value) == f"{path}: {message}" or str(caught.value).startswith(f"{path}: {message}")


def test_bad_npz_contents(tmp_path):
    np.savez(tmp_path / "no-x.npz", points=POINTS)
    with pytest.raises(ConfigError, match="missing array X \\(found: points\\)"):
        read_features(tmp_path / "no-x.npz")
    np.savez(tmp_path / "words.npz", X=np.array([["a", "b"]]))
    with pytest.raises(ConfigError, match="holds <U1 values; expected numbers"):
        read_features(tmp_path / "words.npz")
    np.savez(tmp_path / "objects.npz", X=np.array([{"a": 1}], dtype=object))
    with pytest.raises(ConfigError, match=r"not an array of plain numbers or text \(object arrays are never unpickled"):
        read_features(tmp_path / "objects.npz")
    with pytest.raises(ConfigError, match="no such input file"):
        read_features(tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match="is a directory"):
        read_features(tmp_path)


def test_wrong_number_of_features(finished_run, tmp_path):
    source = tmp_path / "labelled.csv"
    source.write_text("0.1,0.5,0\n0.7,0.5,2\n")
    with pytest.raises(ConfigError, match=r"rows have 3 features; the network takes 2 \(is the last column a label"):
        predict_file(finished_run, source, tmp_path / "classes.csv")
    assert not (tmp_path / "classes.csv").exists()


def test_predict_command(finished_run, tmp_path):
    np.savetxt(tmp_path / "points.csv", POINTS, delimiter=",", header="x,y", comments="")
    completed = run_cli("predict", str(finished_run), "--input", "points.csv", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    header, rows = _table(completed.stdout)
    assert header == ["class", "p_0", "p_1", "p_2"] and rows[:, 0].tolist() == [0, 1, 2]

    completed = run_cli("predict", str(finished_run), "--input", "points.csv", "--output", "classes.csv", cwd=tmp_path)
    assert completed.returncode == 0 and completed.stdout == "", completed.stderr
    assert _table((tmp_path / "classes.csv").read_text())[1][:, 0].tolist() == [0, 1, 2]


def test_predict_command_bad_input(finished_run, tmp_path):
    (tmp_path / "three.csv").write_text("1,2,3\n")
    (tmp_path / "words.csv").write_text("1,2\none,two\n")
    cases = [
        (["--input", "three.csv"], ["three.csv", "rows have 3 features; the network takes 2"]),
        (["--input", "words.csv"], ["words.csv", "line 2, column 0 has 'one', not a number"]),
        (["--input", "missing.csv"], ["missing.csv", "no such input file"]),
    ]
    for arguments, fragments in cases:
        completed = run_cli("predict", str(finished_run), *arguments, "--output", "classes.csv", cwd=tmp_path)
        assert_one_line_error(completed, *fragments)
    assert not (tmp_path / "classes.csv").exists()  # nothing half-written
    assert_one_line_error(run_cli("predict", "no-run", "--input", "three.csv", cwd=tmp_path), "no-run", "missing")
    completed = run_cli("predict", str(finished_run), cwd=tmp_path)
    assert_one_line_error(completed, "--input", "--help")


@pytest.fixture(scope="module")
def named_run(tmp_path_factory):
    """A finished tiny run on a headed .csv, features named a, b, c (so it records their names)."""
    folder = tmp_path_factory.mktemp("named")
    generator = np.random.default_rng(0)
    X = np.concatenate([generator.normal(centre, 0.3, (20, 3)) for centre in (0.0, 2.0, 4.0)])
    y = np.repeat(["low", "mid", "high"], 20)
    lines = ["a,b,c,label", *(f"{a},{b},{c},{label}" for (a, b, c), label in zip(X, y, strict=True))]
    (folder / "train.csv").write_text("\n".join(lines) + "\n")
    config = SearchConfig(dataset=str(folder / "train.csv"), hidden=(4,), climbers=2, steps=200, rounds=2)
    search(config.model_copy(update={"time_budget": None}), executor="inprocess", run_dir=folder / "run")
    return folder / "run", X


def test_a_row_that_is_not_all_finite_numbers_is_refused_never_answered(named_run):
    result = load_result(named_run[0])
    for value in (np.nan, np.inf, -np.inf):
        X = named_run[1][:4].copy()
        X[2, 1] = value
        answers = (
            result.predict,
            result.predict_proba,
            result.predict_log_proba,
            lambda X: result.score(X, ["low"] * 4),
        )
        for answer in answers:
            with pytest.raises(ConfigError, match=rf"^input: row 2, column 1 is {value}; the network answers finite"):
                answer(X)


def test_a_data_frame_is_matched_by_column_name(named_run):
    pandas = pytest.importorskip("pandas")
    result = load_result(named_run[0])
    assert result.data.feature_names == ["a", "b", "c"]
    frame = pandas.DataFrame(named_run[1], columns=["a", "b", "c"])
    expected = result.predict_proba(named_run[1])
    assert np.array_equal(result.predict_proba(frame[["c", "a", "b"]]), expected)
    with pytest.raises(ConfigError, match=r"^input: the columns are not the features the network learnt \(missing c; "
                       r"not learnt from d\); it learnt a, b, c$"):  # fmt: skip
        result.predict(frame.rename(columns={"c": "d"}))


def test_a_headed_csv_is_matched_by_column_name_in_predict_and_evaluate(named_run, tmp_path):
    run_dir, X = named_run
    rows = "".join(f"{c},{a},{b}\n" for a, b, c in X)
    (tmp_path / "reordered.csv").write_text("c,a,b\n" + rows)
    (tmp_path / "plain.csv").write_text("".join(f"{a},{b},{c}\n" for a, b, c in X))  # no names: by position
    completed = run_cli("predict", str(run_dir), "--input", "reordered.csv", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == run_cli("predict", str(run_dir), "--input", "plain.csv", cwd=tmp_path).stdout
    (tmp_path / "renamed.csv").write_text("c,a,z\n" + rows)
    assert_one_line_error(
        run_cli("predict", str(run_dir), "--input", "renamed.csv", cwd=tmp_path),
        "renamed.csv: the columns are not the features the network learnt (missing b; not learnt from z)",
    )
    labels = np.repeat(["low", "mid", "high"], 20)
    labelled = "".join(f"{label},{c},{a},{b}\n" for (a, b, c), label in zip(X, labels, strict=True))
    (tmp_path / "test.csv").write_text("label,c,a,b\n" + labelled)
    completed = run_cli("evaluate", str(run_dir), "--input", "test.csv", "--label-column", "label", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    accuracy = load_result(run_dir).score(X, labels)
    assert completed.stdout.startswith("rows 60, cross-entropy ") and f"accuracy {accuracy:.4f}" in completed.stdout
