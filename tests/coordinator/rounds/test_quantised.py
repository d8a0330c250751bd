"""Networks on a grid, with sign or step units: one answer, saved as integers, predicted and exported as trained."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
import pytest

from coordinator import ConfigError, HillClimbClassifier, SearchConfig, load_result, search
from coordinator.interface.export import export_onnx
from coordinator.rounds.combine import round_best
from tests.coordinator.on_actors import ON_ACTORS, assert_ran_on_actors
from workers import ClimbOutcome, ClimbReport, Layout
from workers.network import logits, softmax

QUANTISED = SearchConfig(
    climbers=3,
    steps=600,
    rounds=3,
    time_budget=None,
    layers=(2, 16, 3),
    weights="ternary",
    activation="sign",
    loss="error",
)


@pytest.fixture(scope="module")
def in_process_result():
    """The reference: every climb in this process."""
    return search(QUANTISED, executor="inprocess")


def test_ray_gives_the_same_bits_as_one_process(ray_local, in_process_result):
    result = search(QUANTISED.model_copy(update={"workers": 2, **ON_ACTORS}))
    assert_ran_on_actors(result, actors=2)
    assert result.params.tobytes() == in_process_result.params.tobytes()
    assert [record.best_loss for record in result.history] == [record.best_loss for record in in_process_result.history]


def test_the_search_climbs_on_the_grid(in_process_result):
    losses = [record.best_loss for record in in_process_result.history]
    assert losses == sorted(losses, reverse=True) and losses[-1] < losses[0]
    levels = in_process_result.layout.levels(in_process_result.params)  # raises if a weight is off the grid
    assert {int(value) for level in levels for value in np.unique(level)} <= {-1, 0, 1}
    # the loss is the error rate plus a tie-break worth less than one error
    errors = 1 - in_process_result.best_accuracy
    assert errors <= in_process_result.best_loss < errors + 1 / 300


def test_a_result_saves_integer_weights_with_their_scales_exactly(tmp_path, in_process_result):
    in_process_result.save(tmp_path / "run")
    with np.load(tmp_path / "run" / "weights.npz") as archive:
        stored = {name: archive[name] for name in archive.files}
    result = load_result(tmp_path / "run")
    assert result.params.tobytes() == in_process_result.params.tobytes()
    for index, (weights, biases) in enumerate(result.layers):
        assert stored[f"weights_{index}"].dtype == np.int8
        assert stored[f"scale_{index}"] == result.layout.scales[index]
        assert np.array_equal(stored[f"weights_{index}"] * stored[f"scale_{index}"], weights)
        assert np.array_equal(stored[f"biases_{index}"], biases)
    X = np.random.default_rng(0).standard_normal((50, 2))
    (w1, b1), (w2, b2) = result.layers
    hidden = np.where(X @ w1 + b1 >= 0, 1.0, -1.0)  # sign units
    np.testing.assert_allclose(result.predict_proba(X), softmax(hidden @ w2 + b2), rtol=1e-12)
    assert np.array_equal(result.predict_proba(X), softmax(logits(result.params, X, result.layout)))
    # weights moved off the grid are refused, in one line
    params = stored["params"].copy()
    params[0] += 1e-3
    np.savez(tmp_path / "run" / "weights.npz", **{**stored, "params": params})
    with pytest.raises(ConfigError, match=r"weights.npz: weights off the ternary grid of scale 1.0"):
        load_result(tmp_path / "run")


@pytest.mark.parametrize(
    ("weights", "activation"), [("int8", "step"), ("binary", "tanh"), ("ternary", "sign"), ("float", "step")]
)
def test_the_onnx_graph_runs_the_quantised_network(tmp_path, weights, activation):
    generator = np.random.default_rng(1)
    X = np.concatenate([generator.standard_normal((40, 3)) + shift for shift in (0.0, 2.0, 4.0)])
    y = np.repeat([0, 1, 2], 40)
    config = SearchConfig(
        climbers=2, steps=300, rounds=2, time_budget=None, hidden=(6,), weights=weights, activation=activation
    )
    result = search(config, X, y, executor="inprocess", run_dir=tmp_path / "run")
    path = export_onnx(result, tmp_path / "model.onnx", dtype="float64")
    model = onnx.load(str(path))
    initialisers = {tensor.name: tensor.data_type for tensor in model.graph.initializer}
    if weights != "float":
        assert initialisers["levels_0"] == onnx.TensorProto.INT8 and "weights_0" not in initialisers
    rows = generator.standard_normal((200, 3)) * 3
    probabilities, labels = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"X": rows}
    )
    assert np.abs(probabilities - result.predict_proba(rows)).max() < 1e-12
    assert labels.tolist() == result.predict(rows).tolist()


def test_the_estimator_takes_weights_activation_and_loss():
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    model = HillClimbClassifier(
        hidden_layer_sizes=(8,), steps=300, max_iter=3, weights="binary", activation="step", loss="error"
    ).fit(X, y)
    assert model.get_params()["weights"] == "binary"
    assert model.result_.config.weights == "binary" and model.result_.config.activation == "step"
    levels = model.result_.layout.levels(model.result_.params)
    assert {int(value) for level in levels for value in np.unique(level)} == {-1, 1}
    assert model.score(X, y) > 0.6
    with pytest.raises(ValueError, match=r"^weights: Input should be 'float', 'int8', 'ternary' or 'binary'"):
        HillClimbClassifier(weights="int4").fit(X, y)
    with pytest.raises(ValueError, match=r"^loss: 'mse' is a regressor's loss; a classifier minimises"):
        HillClimbClassifier(loss="mse").fit(X, y)


def test_a_recombination_on_a_grid_is_put_on_the_grid():
    layout = Layout((2, 4, 3), weights="ternary")
    scale = layout.scales[0]
    start = np.zeros(layout.num_params)

    def report(climber, params, loss):
        outcome = ClimbOutcome(params, np.full_like(params, 0.05), loss, 0.5, 10)
        return ClimbReport(round_index=1, climber_index=climber, outcome=outcome)

    previous = round_best(None, [report(0, start, 1.0)], "recombine", lambda p: (1.0, 0.5), 0).best
    moved = [start.copy(), start.copy()]
    moved[0][:3], moved[1][:3] = scale, [scale, -scale, scale]
    scored = []

    def scorer(params):
        scored.append(params)
        return 0.1, 0.9

    kept = round_best(previous, [report(0, moved[0], 0.5), report(1, moved[1], 0.6)], "recombine", scorer, 1,
                      snap=layout.snap)  # fmt: skip
    assert kept.combined and len(scored) == 3
    for params in scored:
        layout.levels(params)  # on the grid: raises otherwise
