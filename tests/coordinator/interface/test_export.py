"""`python -m coordinator export RUN --onnx FILE`: the network as ONNX, checked with onnxruntime."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

from coordinator import ConfigError, HillClimbClassifier, SearchConfig, load_result, search
from coordinator.interface.cli import main
from coordinator.interface.export import IR_VERSION, OPSET, export_onnx
from tests.coordinator.cli_runner import assert_one_line_error, run_cli

TINY = {"climbers": 2, "steps": 300, "rounds": 2, "time_budget": None}


def _data(seed=0):
    """Three clouds in 3 features on very different scales (so scaling matters), 90 rows."""
    generator = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 3.0, 0.0], [0.0, 3.0, 3.0]])
    X = np.concatenate([centre + generator.standard_normal((30, 3)) for centre in centres])
    return X * np.array([1.0, 100.0, 0.01]) + np.array([0.0, -50.0, 7.0]), np.repeat([0, 1, 2], 30)


def _session(path):
    return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize(
    ("settings", "labels"),
    [
        ({"hidden": (8,), "scaling": "standard"}, np.array(["cat", "dog", "eel"])),
        ({"hidden": (6, 5), "scaling": "minmax"}, np.array([-3, 7, 40])),
        ({"hidden": (4,), "scaling": "none"}, np.array([0, 1, 2])),
    ],
    ids=["standard-scaling-text-labels", "two-hidden-layers-int-labels", "no-scaling"],
)
def test_the_graph_gives_the_runs_probabilities_and_labels(tmp_path, settings, labels):
    X, y = _data()
    search(SearchConfig(**TINY, **settings), X, labels[y], executor="inprocess", run_dir=tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "model.onnx")]) == 0
    assert main(["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "wide.onnx"), "--dtype", "float64"]) == 0
    result = load_result(tmp_path / "run")
    new_rows = _data(seed=1)[0]  # rows the run never saw
    # float32 by default, as deployments and skl2onnx feed a graph: the float64 answer, rounded to float32.
    rows32 = new_rows.astype(np.float32)
    probabilities, predicted = _session(tmp_path / "model.onnx").run(None, {"X": rows32})
    assert probabilities.dtype == np.float32 and probabilities.shape == (90, 3)
    expected = result.predict_proba(rows32)
    assert np.abs(probabilities - expected).max() <= 1e-7 and np.array_equal(probabilities, expected.astype(np.float32))
    assert predicted.tolist() == result.predict(rows32).tolist()
    with pytest.raises(onnxruntime.capi.onnxruntime_pybind11_state.InvalidArgument):
        _session(tmp_path / "model.onnx").run(None, {"X": new_rows})  # float64 rows: not this graph's type
    # float64 on request: predict_proba's own figures.
    probabilities, predicted = _session(tmp_path / "wide.onnx").run(None, {"X": new_rows})
    assert probabilities.dtype == np.float64 and np.abs(probabilities - result.predict_proba(new_rows)).max() < 1e-12
    assert predicted.tolist() == result.predict(new_rows).tolist()
    model = onnx.load(str(tmp_path / "model.onnx"))
    assert (model.opset_import[0].version, model.ir_version) == (OPSET, IR_VERSION)
    assert [node.op_type for node in model.graph.node if node.op_type in ("Sub", "Div")] == (
        [] if settings["scaling"] == "none" else ["Sub", "Div"]
    )
    assert [output.name for output in model.graph.output] == ["probabilities", "label"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["model.onnx", "run", "wide.onnx"]  # no temporary left


def test_the_estimator_exports_its_own_labels(tmp_path):
    X, y = _data()
    labels = np.array([-1.0, 2.0, 5.0])[y]  # labels a run's result cannot hold; the estimator's classes_ can
    model = HillClimbClassifier(executor="inprocess", max_iter=2, steps=300).fit(X, labels)
    model.to_onnx(tmp_path / "model.onnx")
    probabilities, predicted = _session(tmp_path / "model.onnx").run(None, {"X": X.astype(np.float32)})
    assert np.abs(probabilities - model.predict_proba(X.astype(np.float32))).max() <= 1e-7
    assert predicted.dtype == np.float64 and predicted.tolist() == model.predict(X.astype(np.float32)).tolist()
    model.to_onnx(tmp_path / "wide.onnx", dtype="float64")
    probabilities, _ = _session(tmp_path / "wide.onnx").run(None, {"X": X})
    assert np.abs(probabilities - model.predict_proba(X)).max() < 1e-12


def test_the_graph_answers_a_row_with_nan_as_its_docs_say(tmp_path):
    X, y = _data()
    result = search(SearchConfig(**TINY, hidden=(4,)), X, np.array([7, 8, 9])[y], executor="inprocess")
    export_onnx(result, tmp_path / "model.onnx")
    rows = X[:2].astype(np.float32)
    rows[1, 0] = np.nan
    probabilities, predicted = _session(tmp_path / "model.onnx").run(None, {"X": rows})
    assert np.all(np.isnan(probabilities[1])) and predicted[1] == 7  # NaN, and the first class: never checked
    with pytest.raises(ConfigError, match="row 1, column 0 is nan"):  # where predict refuses it
        result.predict(rows)
    with pytest.raises(ConfigError, match=r"^dtype: must be float32 or float64, got 'float16'$"):
        export_onnx(result, tmp_path / "half.onnx", dtype="float16")


def test_bad_run_or_output_paths_are_one_line_errors(tmp_path):
    X, y = _data()
    search(SearchConfig(**TINY, hidden=(4,)), X, y, executor="inprocess", run_dir=tmp_path / "run")
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "folder").mkdir()
    cases = [
        (["export", str(tmp_path / "nothing"), "--onnx", "m.onnx"], "result.json: missing"),
        (["export", str(tmp_path / "run"), "--onnx", str(tmp_path / "folder")], "is a directory"),
        (
            ["export", str(tmp_path / "run"), "--onnx", "a-file/m.onnx"],
            "cannot write (a-file is a file, not a directory)",
        ),
        (["export", str(tmp_path / "run")], "--onnx"),
    ]
    for arguments, fragment in cases:
        assert_one_line_error(run_cli(*arguments, cwd=tmp_path), fragment)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "folder", "run"]
    assert list((tmp_path / "folder").iterdir()) == []


def test_a_run_without_a_graph_is_refused_in_words_that_name_what_exports(tmp_path):
    objective = search(SearchConfig(layers=(2, 2), rounds=1, time_budget=None),
                       executor="inprocess", objective=lambda params: float(params @ params))  # fmt: skip
    with pytest.raises(ConfigError, match=r"a function of the parameters; an ONNX graph is written for classifiers "
                       r"and regressors$"):  # fmt: skip
        export_onnx(objective, tmp_path / "f.onnx")
    pytest.importorskip("gymnasium")
    config = SearchConfig(env="CartPole-v1", hidden=(2,), rounds=1, episodes=1, time_budget=None)
    policy = search(config, executor="inprocess")
    with pytest.raises(ConfigError, match=r"policy for CartPole-v1; an ONNX graph is written for classifiers and "
                       r"regressors \(a policy with discrete actions exports as a C header: --c\)"):  # fmt: skip
        export_onnx(policy, tmp_path / "p.onnx")
    assert not list(tmp_path.iterdir())
