"""A finished run's network as a standard ONNX graph: `python -m coordinator export RUN --onnx model.onnx`.

The graph computes what `SearchResult.predict_proba` and `predict` do, in the same float64
arithmetic: input `X` (N, features) float64; the run's feature scaling (Sub, Div); each dense layer
(MatMul, Add) with ReLU between; Softmax. Outputs `probabilities` (N, classes) float64 and `label`
(N,): the run's class labels (int64 or string; a Gather on a constant by the ArgMax).

float64 rather than float32: the network was trained and is scored in float64, so the graph agrees
with predict_proba to about 1e-15 rather than 1e-7, and a probability near a tie picks the same
label. onnxruntime's CPU kernels take double for every op used here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from coordinator.config import ConfigError
from coordinator.files import atomic_write_bytes
from coordinator.result import SearchResult, load_result

# Opset 17 (ONNX 1.12, 2022) and its IR version 8: read by every onnxruntime since 1.12, and by
# converters and runtimes that lag the newest ONNX; nothing here needs a later operator.
OPSET = 17
IR_VERSION = 8
INPUT = "X"
OUTPUTS = ("probabilities", "label")


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ConfigError("export: needs the onnx package; install it with pip install 'hillclimb[onnx]'") from None
    return onnx


def onnx_model(result: SearchResult, classes=None):
    """The ONNX ModelProto of a result's network; classes: labels for the `label` output (default the run's)."""
    onnx = _onnx()
    from onnx import TensorProto, helper, numpy_helper

    labels = _label_tensor(result.classes if classes is None else classes)
    if labels.shape != (result.layout.num_classes,):
        raise ConfigError(f"classes: {labels.shape[0]} labels for a network with {result.layout.num_classes} outputs")
    features = result.layout.num_inputs
    nodes, constants = [], []

    def constant(name: str, values) -> str:
        constants.append(numpy_helper.from_array(np.asarray(values), name))
        return name

    current = INPUT
    if result.scaling.kind != "none":
        offset = constant("scaling_offset", np.asarray(result.scaling.offset, dtype=np.float64))
        scale = constant("scaling_scale", np.asarray(result.scaling.scale, dtype=np.float64))
        nodes += [
            helper.make_node("Sub", [current, offset], ["centred"]),
            helper.make_node("Div", ["centred", scale], ["scaled"]),
        ]
        current = "scaled"
    layers = result.layers
    for index, (weights, biases) in enumerate(layers):
        weight_name = constant(f"weights_{index}", np.ascontiguousarray(weights, dtype=np.float64))
        bias_name = constant(f"biases_{index}", np.ascontiguousarray(biases, dtype=np.float64).reshape(-1))
        nodes += [
            helper.make_node("MatMul", [current, weight_name], [f"product_{index}"]),
            helper.make_node("Add", [f"product_{index}", bias_name], [f"dense_{index}"]),
        ]
        current = f"dense_{index}"
        if index < len(layers) - 1:
            nodes.append(helper.make_node("Relu", [current], [f"hidden_{index}"]))
            current = f"hidden_{index}"
    probabilities, label = OUTPUTS
    nodes += [
        helper.make_node("Softmax", [current], [probabilities], axis=1),
        # The first of equal probabilities wins, as numpy's argmax picks it in predict.
        helper.make_node("ArgMax", [probabilities], ["class_index"], axis=1, keepdims=0, select_last_index=0),
        helper.make_node("Gather", [constant("class_labels", labels), "class_index"], [label], axis=0),
    ]
    label_type = TensorProto.STRING if labels.dtype.kind in "OU" else helper.np_dtype_to_tensor_dtype(labels.dtype)
    graph = helper.make_graph(
        nodes,
        "hillclimb",
        [helper.make_tensor_value_info(INPUT, TensorProto.DOUBLE, ["N", features])],
        [
            helper.make_tensor_value_info(probabilities, TensorProto.DOUBLE, ["N", result.layout.num_classes]),
            helper.make_tensor_value_info(label, label_type, ["N"]),
        ],
        initializer=constants,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        ir_version=IR_VERSION,
        producer_name="hillclimb",
        doc_string=f"network {'-'.join(map(str, result.layout.sizes))}, scaling {result.scaling.kind}; "
        "input X float64 (N, features)",
    )
    onnx.checker.check_model(model, full_check=True)
    return model


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


def export_onnx(result: SearchResult, path: str | Path, classes=None) -> Path:
    """Write the result's network as an ONNX file, atomically; a ConfigError in one line names what is wrong."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; --onnx takes a file name such as model.onnx")
    data = onnx_model(result, classes).SerializeToString()
    try:
        return atomic_write_bytes(path, data)
    except OSError as error:
        # A file where a folder of the path should be reads as "File exists" from mkdir: name it.
        blocking = next((parent for parent in path.parents if parent.exists() and not parent.is_dir()), None)
        reason = f"{blocking} is a file, not a directory" if blocking else error.strerror or error
        raise ConfigError(f"{path}: cannot write ({reason})") from None


def export_run(run_dir: str | Path, path: str | Path) -> Path:
    """Write a finished run's network (from its run directory) as an ONNX file."""
    return export_onnx(load_result(run_dir), path)
