"""A finished run's network as a standard ONNX graph: `python -m coordinator export RUN --onnx model.onnx`.

The graph computes what `SearchResult.predict_proba` and `predict` do, in the same float64
arithmetic: input `X` (N, features), float32 by default (what deployments and skl2onnx's graphs
feed) or float64 on request, cast to float64 first; the run's feature scaling (Sub, Div); each
dense layer (MatMul, Add) with its hidden activation between (Relu, Tanh, or a GreaterOrEqual for sign
and step units); Softmax. A network on a grid (int8, ternary, binary) keeps its weights as int8
initialisers, dequantised in the graph (Cast to float64, Mul by the layer's float64 scale): the same
float64 weights the run scored. Outputs `probabilities` (N, classes), of the
input's type, and `label` (N,): the run's class labels (int64 or string; a Gather on a constant by
the ArgMax of the float64 probabilities, so a float32 input gets the label predict gives that row).

Inside, the graph stays in float64: the network was trained and is scored in float64, so a
probability near a tie picks the same label as predict; a float32 graph's probabilities are the
float64 ones rounded to float32 (about 1e-7), a float64 graph's agree to about 1e-15.
onnxruntime's CPU kernels take double for every op used here.

A regressor's graph ends in its linear outputs, scaled back to the targets' units (Mul, Add), as the
output `prediction` (N, targets) of the input's type: `SearchResult.predict_values`.

The graph does not check its input (ONNX has no way to refuse a row): a row holding NaN gets NaN
probabilities and the first class as its label. predict, evaluate and the estimator refuse such rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cluster.atomic_files import atomic_write_bytes
from coordinator.config import ConfigError
from coordinator.results.result import SearchResult, load_result
from workers import activations

# Opset 17 (ONNX 1.12, 2022) and its IR version 8: read by every onnxruntime since 1.12, and by
# converters and runtimes that lag the newest ONNX; nothing here needs a later operator.
OPSET = 17
IR_VERSION = 8
INPUT = "X"
OUTPUTS = ("probabilities", "label")
REGRESSION_OUTPUT = "prediction"
# The input types a graph can take, by name: float32 (the default), float64.
DTYPES = ("float32", "float64")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("export: needs the onnx package; install it with pip install 'hillclimb[onnx]'") from None
    return onnx


def onnx_model(result: SearchResult, classes=None, dtype: str = "float32"):
    """The ONNX ModelProto of a result's network; classes: labels for the `label` output (default the run's).

    dtype: the type of the input X and of the probabilities, "float32" or "float64"; inside, float64.
    """
    if dtype not in DTYPES:
        raise ConfigError(f"dtype: must be float32 or float64, got {dtype!r}")
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    regression = result.regression
    labels = None if regression else _label_tensor(result.classes if classes is None else classes)
    if not regression and labels.shape != (result.layout.num_classes,):
        raise ConfigError(f"classes: {labels.shape[0]} labels for a network with {result.layout.num_classes} outputs")
    features = result.layout.num_inputs
    nodes, constants = [], []

    def constant(name: str, values) -> str:
        constants.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    outside = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    current = INPUT
    if dtype == "float32":
        nodes.append(helper.make_node("Cast", [INPUT], ["X_float64"], to=TensorProto.DOUBLE))
        current = "X_float64"
    if result.scaling.kind != "none":
        offset = constant("scaling_offset", np.asarray(result.scaling.offset, dtype=np.float64))
        scale = constant("scaling_scale", np.asarray(result.scaling.scale, dtype=np.float64))
        nodes += [
            helper.make_node("Sub", [current, offset], ["centred"]),
            helper.make_node("Div", ["centred", scale], ["scaled"]),
        ]
        current = "scaled"
    layers, layout = result.layers, result.layout
    levels = layout.levels(result.params) if layout.on_grid else None
    for index, (weights, biases) in enumerate(layers):
        if levels is None:
            weight_name = constant(f"weights_{index}", np.ascontiguousarray(weights, dtype=np.float64))
        else:  # int8 levels times the layer's scale, dequantised in float64: exactly the weights the run scored
            nodes += [
                helper.make_node(
                    "Cast", [constant(f"levels_{index}", levels[index])], [f"levels_f_{index}"], to=TensorProto.DOUBLE
                ),
                helper.make_node(
                    "Mul", [f"levels_f_{index}", constant(f"scale_{index}", np.float64(layout.scales[index]))],
                    [f"weights_{index}"],
                ),
            ]  # fmt: skip
            weight_name = f"weights_{index}"
        bias_name = constant(f"biases_{index}", np.ascontiguousarray(biases, dtype=np.float64).reshape(-1))
        nodes += [
            helper.make_node("MatMul", [current, weight_name], [f"product_{index}"]),
            helper.make_node("Add", [f"product_{index}", bias_name], [f"dense_{index}"]),
        ]
        current = f"dense_{index}"
        if index < len(layers) - 1:
            nodes += _activation(helper, layout.activation, current, f"hidden_{index}", constant)
            current = f"hidden_{index}"
    if regression:
        outputs = [_regression_output(result, current, nodes, constant, dtype)]
    else:
        outputs = _classifier_outputs(result, current, nodes, constant, dtype, labels)
    graph = helper.make_graph(
        nodes,
        "hillclimb",
        [helper.make_tensor_value_info(INPUT, outside, ["N", features])],
        outputs,
        initializer=constants,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="hillclimb",
        doc_string=f"network {'-'.join(map(str, result.layout.sizes))} ({result.layout.weights} weights, "
        f"{result.layout.activation}), scaling {result.scaling.kind}; "
        f"input X {dtype} (N, features), computed in float64",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


def _activation(helper, name: str, source: str, target: str, constant) -> list:
    """The nodes of a hidden activation from source to target: Relu, Tanh, or sign / step as the network has
    them (the upper value from -STEP_TOLERANCE up: GreaterOrEqual, Cast, and for sign 2 x - 1)."""
    from onnx import TensorProto

    if name in ("relu", "tanh"):
        return [helper.make_node("Relu" if name == "relu" else "Tanh", [source], [target])]
    threshold = constant(f"{target}_threshold", np.float64(-activations.STEP_TOLERANCE))
    nodes = [
        helper.make_node("GreaterOrEqual", [source, threshold], [f"{target}_on"]),
        helper.make_node(
            "Cast", [f"{target}_on"], [target if name == "step" else f"{target}_step"], to=TensorProto.DOUBLE
        ),
    ]
    if name == "sign":
        two, one = constant(f"{target}_two", np.float64(2.0)), constant(f"{target}_one", np.float64(1.0))
        nodes += [
            helper.make_node("Mul", [f"{target}_step", two], [f"{target}_double"]),
            helper.make_node("Sub", [f"{target}_double", one], [target]),
        ]
    return nodes


def _regression_output(result: SearchResult, current: str, nodes: list, constant, dtype: str):
    """A regressor's outputs scaled back to its targets' units: the `prediction` output (N, targets)."""
    from onnx import TensorProto, helper

    target_scaling = result.target_scaling
    if target_scaling is not None and target_scaling.kind != "none":
        scale = constant("target_scale", np.asarray(target_scaling.scale, dtype=np.float64))
        offset = constant("target_offset", np.asarray(target_scaling.offset, dtype=np.float64))
        nodes += [
            helper.make_node("Mul", [current, scale], ["unscaled"]),
            helper.make_node("Add", ["unscaled", offset], ["targets"]),
        ]
        current = "targets"
    if dtype == "float32":
        nodes.append(helper.make_node("Cast", [current], [REGRESSION_OUTPUT], to=TensorProto.FLOAT))
    else:
        nodes.append(helper.make_node("Identity", [current], [REGRESSION_OUTPUT]))
    outside = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    return helper.make_tensor_value_info(REGRESSION_OUTPUT, outside, ["N", result.layout.num_classes])


def _classifier_outputs(result: SearchResult, current: str, nodes: list, constant, dtype: str, labels: np.ndarray):
    """Softmax and the label chosen from it: the `probabilities` (N, classes) and `label` (N,) outputs."""
    from onnx import TensorProto, helper

    outside = TensorProto.FLOAT if dtype == "float32" else TensorProto.DOUBLE
    probabilities, label = OUTPUTS
    softmax = probabilities if dtype == "float64" else "probabilities_float64"
    nodes.append(helper.make_node("Softmax", [current], [softmax], axis=1))
    if dtype == "float32":
        nodes.append(helper.make_node("Cast", [softmax], [probabilities], to=TensorProto.FLOAT))
    nodes += [
        # The first of equal probabilities wins, as numpy's argmax picks it in predict.
        helper.make_node("ArgMax", [softmax], ["class_index"], axis=1, keepdims=0, select_last_index=0),
        helper.make_node("Gather", [constant("class_labels", labels), "class_index"], [label], axis=0),
    ]
    label_type = TensorProto.STRING if labels.dtype.kind in "OU" else helper.np_dtype_to_tensor_dtype(labels.dtype)
    return [
        helper.make_tensor_value_info(probabilities, outside, ["N", result.layout.num_classes]),
        helper.make_tensor_value_info(label, label_type, ["N"]),
    ]


def _label_tensor(classes) -> np.ndarray:
    """The class labels as an array ONNX holds: int64, float64, bool or text (as an object array of str)."""
    labels = np.asarray(classes)
    if labels.dtype.kind in "iu":
        if labels.dtype.kind == "u" and labels.size and labels.max() > np.iinfo(np.int64).max:
            raise ConfigError("classes: labels above 2**63 - 1 do not fit ONNX's int64")
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        return labels.astype(np.float64)
    if labels.dtype.kind == "b":
        return labels
    if labels.dtype.kind == "U" or all(isinstance(label, str) for label in labels.tolist()):
        return np.array([str(label) for label in labels.tolist()], dtype=object)
    if all(isinstance(label, int) and not isinstance(label, bool) for label in labels.tolist()):
        return labels.astype(np.int64)
    raise ConfigError(f"classes: ONNX holds labels that are numbers, booleans or text, not {labels.dtype} values")


def export_onnx(result: SearchResult, path: str | Path, classes=None, dtype: str = "float32") -> Path:
    """Write the result's network as an ONNX file, atomically; a ConfigError in one line names what is wrong."""
    path = Path(path)
    if result.policy is not None:
        raise ConfigError(
            f"export: the run learnt a policy for {result.config.env}; an ONNX graph is written for classifiers and "
            "regressors (a policy with discrete actions exports as a C header: --c)"
        )
    if result.objective is not None:  # the graph is a classifier's or a regressor's
        raise ConfigError(
            f"export: the run minimised {result.objective.name}, a function of the parameters; an ONNX graph is "
            "written for classifiers and regressors"
        )
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; --onnx takes a file name such as model.onnx")
    data = onnx_model(result, classes, dtype).SerializeToString()
    try:
        return atomic_write_bytes(path, data)
    except OSError as error:
        # A file where a folder of the path should be reads as "File exists" from mkdir: name it.
        blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
        reason = f"{blocking} is a file, not a directory" if blocking else error.strerror or error
        raise ConfigError(f"{path}: cannot write ({reason})") from None


def export_run(run_dir: str | Path, path: str | Path, dtype: str = "float32") -> Path:
    """Write a finished run's network (from its run directory) as an ONNX file taking dtype input."""
    return export_onnx(load_result(run_dir), path, dtype=dtype)
