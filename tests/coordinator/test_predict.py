"""Predictions from a finished run: the Python API, the file readers, and `python -m coordinator predict`."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator import ConfigError, load_result, nnfs_data
from coordinator.predict import predict_file, prediction_table, read_features
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
        ("points.txt", "1,2\n", "unknown input file type '.txt'; use a .csv or .npz file"),
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
