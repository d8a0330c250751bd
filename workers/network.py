"""The seed's network as plain functions of arrays: dense layers, ReLU (or another hidden activation), softmax,
cross-entropy (or the error rate, cross-entropy breaking its ties).

A regressor is the same network read another way: its last layer's values are its outputs (linear),
scored by the mean squared or mean absolute error against targets (the book's regression chapter).

Parameters live in one flat float64 vector per climber: for each layer its weights, shape
(n_in, n_out) in row-major order, then its biases (n_out). `Layout` knows where each piece is.
The functions here are the plain-numpy reference (`evaluate`), except `evaluate_compiled`, which
hands the same question to the compiled code (`workers.from_scratch`), whose arithmetic does not
depend on BLAS or on the CPU, and whose figures are the ones climbs and the coordinator report.
What a network is judged by: its loss (lower is better, what a climb minimises) and its score
(higher is better: a classifier's accuracy, a regressor's R^2, as scikit-learn's `score`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from workers import activations, grid
from workers.losses import (
    ACCEPT_MARGIN,
    CLIP,
    ERROR_RATE,
    LOSS_KINDS,
    REGRESSION_LOSSES,
    TIE_TOLERANCE,
    error_tie,
    l2_scale,
)


class LayoutArrays(NamedTuple):
    """A layout as the compiled kernel reads it: int64 arrays, built once per `Layout`."""

    sizes: np.ndarray  # (L + 1,) widths, inputs first
    # (L, 6) per weight layer: weights start, biases start, end; then its grid (in the same array: every array
    # of the tuple costs a reference count each time a compiled function is handed it): the scale's exponent of
    # two (the scale is 2 ** it), the top level, the stride of levels; the top is 0 for float weights.
    offsets: np.ndarray
    unit_start: np.ndarray  # (L + 1,) first row of each weight layer's units in (units, S) state arrays
    where: np.ndarray  # (P, 3) per parameter: weight layer, input unit (-1 for a bias), output unit
    activation: int  # the hidden layers' activation, activations.ACTIVATION_CODES (0: ReLU)
    margin: float  # how much lower a step's loss must be, relative (losses.ACCEPT_MARGIN; 0.0: strictly lower)


@dataclass(frozen=True)
class Layout:
    """Where each layer's weights and biases sit in a flat parameter vector; the hidden activation and the
    weights' grid (`workers.grid`)."""

    sizes: tuple[int, ...]
    activation: str = "relu"
    weights: str = "float"

    def __post_init__(self) -> None:
        if len(self.sizes) < 2 or any(int(size) < 1 for size in self.sizes):
            raise ValueError(f"layer sizes must be at least two positive integers, got {list(self.sizes)}")
        if self.activation not in activations.ACTIVATIONS:
            raise ValueError(f"activation must be one of {', '.join(activations.ACTIVATIONS)}, got {self.activation!r}")
        if self.weights not in grid.WEIGHT_KINDS:
            raise ValueError(f"weights must be one of {', '.join(grid.WEIGHT_KINDS)}, got {self.weights!r}")
        object.__setattr__(self, "sizes", tuple(int(size) for size in self.sizes))

    @property
    def on_grid(self) -> bool:
        """Whether the weights are integers times a scale (int8, ternary, binary), not float."""
        return self.weights != "float"

    @cached_property
    def scales(self) -> tuple[float, ...]:
        """Each weight layer's scale: its weights are scale * an integer level (0.0 for float weights)."""
        return tuple(grid.layer_scale(self.weights, n_in) for n_in in self.sizes[:-1])

    @cached_property
    def weight_scales(self) -> np.ndarray:
        """(P,) each parameter's grid scale: its layer's for a weight, 0.0 for a bias or a float weight."""
        result = np.zeros(self.num_params)
        for (start, biases_start, _end), scale in zip(self.offsets, self.scales, strict=True):
            result[start:biases_start] = scale
        return result

    def levels(self, params: np.ndarray) -> list[np.ndarray]:
        """Each layer's weights as their integer levels, int8 (n_in, n_out); a ValueError if one is off the grid."""
        if not self.on_grid:
            raise ValueError("float weights have no levels")
        result = []
        for (weights, _), scale in zip(self.unpack(np.asarray(params, dtype=np.float64)), self.scales, strict=True):
            levels = np.rint(weights / scale)
            top, stride = grid.LEVELS[self.weights]
            on_grid = (scale * levels == weights) & (np.abs(levels) <= top) & ((levels + top) % stride == 0)
            if not on_grid.all():
                raise ValueError(f"weights off the {self.weights} grid of scale {scale!r}")
            result.append(levels.astype(np.int8))
        return result

    def snap(self, params: np.ndarray) -> np.ndarray:
        """params (..., P) with every weight moved to its nearest level (biases as they are); float: unchanged."""
        params = np.array(params, dtype=np.float64)
        if not self.on_grid:
            return params
        top, stride = grid.LEVELS[self.weights]
        for (start, biases_start, _end), scale in zip(self.offsets, self.scales, strict=True):
            weights = params[..., start:biases_start]
            params[..., start:biases_start] = scale * grid.nearest_level_array(weights / scale, top, stride)
        return params

    @cached_property
    def offsets(self) -> tuple[tuple[int, int, int], ...]:
        """(weights start, biases start, layer end) for each layer."""
        result = []
        start = 0
        for n_in, n_out in zip(self.sizes[:-1], self.sizes[1:], strict=True):
            biases_start = start + n_in * n_out
            end = biases_start + n_out
            result.append((start, biases_start, end))
            start = end
        return tuple(result)

    @cached_property
    def arrays(self) -> LayoutArrays:
        """The layout as int64 arrays for the compiled kernel."""
        where = np.empty((self.num_params, 3), dtype=np.int64)
        for layer, ((start, biases_start, end), n_out) in enumerate(zip(self.offsets, self.sizes[1:], strict=True)):
            weights = np.arange(biases_start - start)
            where[start:biases_start] = np.stack([np.full_like(weights, layer), weights // n_out, weights % n_out], 1)
            where[biases_start:end] = np.stack([np.full(n_out, layer), np.full(n_out, -1), np.arange(n_out)], 1)
        top, stride = grid.LEVELS.get(self.weights, (0, 1))
        exponents = [round(math.log2(scale)) if scale > 0 else 0 for scale in self.scales]
        offsets = [(*offset, exponent, top, stride) for offset, exponent in zip(self.offsets, exponents, strict=True)]
        return LayoutArrays(
            np.asarray(self.sizes, dtype=np.int64),
            np.array(offsets, dtype=np.int64),
            np.concatenate([[0], np.cumsum(self.sizes[1:])]).astype(np.int64),
            where,
            activations.ACTIVATION_CODES[self.activation],
            self.margin,
        )

    @property
    def margin(self) -> float:
        """How much lower (relative) a step's loss must be to be kept: ACCEPT_MARGIN where exact ties are common
        (grid weights, sign or step units), else 0.0 (strictly lower, the chapter's rule)."""
        return ACCEPT_MARGIN if self.on_grid or self.activation in ("sign", "step") else 0.0

    @property
    def num_params(self) -> int:
        """Total number of weights and biases."""
        return self.offsets[-1][2]

    @property
    def num_inputs(self) -> int:
        """Number of input features."""
        return self.sizes[0]

    @property
    def num_classes(self) -> int:
        """Number of output classes."""
        return self.sizes[-1]

    def unpack(self, params: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Views (weights (..., n_in, n_out), biases (..., 1, n_out)) into params of shape (..., P)."""
        if params.shape[-1] != self.num_params:
            raise ValueError(
                f"expected {self.num_params} parameters for layers {list(self.sizes)}, got {params.shape[-1]}"
            )
        lead = params.shape[:-1]
        layers = []
        for (start, biases_start, end), n_in, n_out in zip(self.offsets, self.sizes[:-1], self.sizes[1:], strict=True):
            weights = params[..., start:biases_start].reshape(*lead, n_in, n_out)
            biases = params[..., biases_start:end].reshape(*lead, 1, n_out)
            layers.append((weights, biases))
        return layers

    def pack(self, layers: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """Inverse of `unpack` for a single network: one flat float64 vector."""
        pieces = []
        for weights, biases in layers:
            pieces.append(np.asarray(weights, dtype=np.float64).ravel())
            pieces.append(np.asarray(biases, dtype=np.float64).ravel())
        params = np.concatenate(pieces)
        if params.size != self.num_params:
            raise ValueError(f"expected {self.num_params} parameters for layers {list(self.sizes)}, got {params.size}")
        return params


def init_params(layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """nnfs `Layer_Dense` initialisation: weights 0.01 * randn(n_in, n_out), biases zero; on a grid, levels
    from the same draws (`grid.start_levels`)."""
    params = np.zeros(layout.num_params)
    for (start, biases_start, _end), n_in, n_out, scale in zip(
        layout.offsets, layout.sizes[:-1], layout.sizes[1:], layout.scales, strict=True
    ):
        normals = rng.standard_normal(n_in * n_out)
        if layout.on_grid:
            params[start:biases_start] = scale * grid.start_levels(layout.weights, normals)
        else:
            params[start:biases_start] = 0.01 * normals
    return params


def logits(params: np.ndarray, X: np.ndarray, layout: Layout) -> np.ndarray:
    """Output-layer values before softmax: (S, C) for params (P,), (B, S, C) for params (B, P)."""
    layers = layout.unpack(np.asarray(params, dtype=np.float64))
    values = np.asarray(X, dtype=np.float64)
    for index, (weights, biases) in enumerate(layers):
        values = np.matmul(values, weights) + biases
        if index < len(layers) - 1:
            values = activations.activate(values, layout.activation)
    return values


def softmax(values: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, with the row maximum subtracted first (as in the seed)."""
    exponentials = np.exp(values - np.max(values, axis=-1, keepdims=True))
    return exponentials / np.sum(exponentials, axis=-1, keepdims=True)


def sparse_labels(y: np.ndarray) -> np.ndarray:
    """Class indices from sparse labels (S,) or one-hot labels (S, C)."""
    y = np.asarray(y)
    if y.ndim == 2:
        return np.argmax(y, axis=1).astype(np.int64)
    return y.astype(np.int64)


def cross_entropy(probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mean categorical cross-entropy over samples, clipped at 1e-7; batch axes are kept."""
    clipped = np.clip(probabilities, CLIP, 1 - CLIP)
    y = np.asarray(y)
    if y.ndim == 2:  # one-hot (S, C)
        confidences = np.sum(clipped * y, axis=-1)
    else:  # sparse (S,)
        index = np.broadcast_to(y.astype(np.int64)[:, None], (*clipped.shape[:-1], 1))
        confidences = np.take_along_axis(clipped, index, axis=-1)[..., 0]
    return np.mean(-np.log(confidences), axis=-1)


def accuracy(probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Fraction of samples whose arg-max class is the label; batch axes are kept."""
    correct = np.argmax(probabilities, axis=-1) == sparse_labels(y)
    correct &= ~np.isnan(probabilities[..., 0])  # a NaN row (a NaN or +inf logit) predicts nothing
    return np.mean(correct, axis=-1)


def regression_loss(outputs: np.ndarray, targets: np.ndarray, loss: str = "mse") -> np.ndarray:
    """Mean over samples of the per-sample mean over outputs of the squared ("mse") or absolute ("mae") error.

    outputs (..., S, T), targets (S, T); batch axes are kept. The book's MeanSquaredError / MeanAbsoluteError.
    """
    errors = outputs - targets
    per_sample = np.mean(errors * errors if loss == "mse" else np.abs(errors), axis=-1)
    return np.mean(per_sample, axis=-1)


def r_squared(outputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """R^2 of outputs (..., S, T) for targets (S, T), averaged over outputs (scikit-learn's r2_score)."""
    residual = np.sum((targets - outputs) ** 2, axis=-2)
    spread = np.sum((targets - targets.mean(axis=0)) ** 2, axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_output = np.where(spread > 0, 1 - residual / np.where(spread > 0, spread, 1), (residual == 0) * 1.0)
    return np.mean(per_output, axis=-1)


def l2_penalty(params: np.ndarray, layout: Layout, l2: float, samples: int) -> np.ndarray:
    """l2 / (2 * samples) * the sum of squared weights (biases excluded), per network: (,) or (B,)."""
    squares = sum(np.sum(weights * weights, axis=(-2, -1)) for weights, _ in layout.unpack(np.asarray(params)))
    return l2_scale(l2, samples) * squares


def error_terms(values: np.ndarray, probabilities: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The error loss's per-sample terms: 1 where the largest logit (the first of equal ones, equal within
    `losses.TIE_TOLERANCE`) is not the label's, plus the clipped cross-entropy times `losses.error_tie`:
    (S,) or (B, S)."""
    labels = sparse_labels(y)
    own = np.take_along_axis(values, np.broadcast_to(labels[:, None], (*values.shape[:-1], 1)), axis=-1)  # (..., S, 1)
    gaps, tolerance = values - own, TIE_TOLERANCE * (1.0 + np.abs(own))
    lower = np.arange(values.shape[-1]) < labels[:, None]  # (S, C): the classes before the label's
    wrong = np.any((gaps > tolerance) | ((gaps >= -tolerance) & lower), axis=-1)
    clipped = np.clip(probabilities, CLIP, 1 - CLIP)
    index = np.broadcast_to(labels[:, None], (*clipped.shape[:-1], 1))
    entropy = -np.log(np.take_along_axis(clipped, index, axis=-1)[..., 0])
    return wrong + entropy * error_tie(labels.shape[0])


def evaluate(
    params: np.ndarray, X: np.ndarray, y: np.ndarray, layout: Layout, l2: float = 0.0, loss: str = "cross_entropy"
) -> tuple[np.ndarray, np.ndarray]:
    """(loss, score) for params (P,) or a batch (B, P); a network that overflows has a NaN loss.

    The loss is the mean cross-entropy (loss "error": the error rate, cross-entropy breaking
    ties, `error_terms`), plus `l2_penalty` when l2 > 0 (when l2 == 0 nothing is added: not even
    0 * an infinite sum). The plain-numpy reference: BLAS and numpy's exp and log may differ in the
    last bits from one CPU to another; `evaluate_compiled` does not. A regressor's (loss "mse" or "mae", y
    its targets (S, T) or (S,)): `regression_loss`, and R^2 for the score.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is expected there, and a NaN never wins
        outputs = logits(params, X, layout)
        if loss in REGRESSION_LOSSES:
            targets = np.asarray(y, dtype=np.float64).reshape(np.shape(X)[0], -1)
            mean, score = regression_loss(outputs, targets, loss), r_squared(outputs, targets)
        else:
            probabilities = softmax(outputs)
            if LOSS_KINDS[loss] == ERROR_RATE:
                mean = np.mean(error_terms(outputs, probabilities, y), axis=-1)
            else:
                mean = cross_entropy(probabilities, y)
            score = accuracy(probabilities, y)
        if l2 > 0:
            mean = mean + l2_penalty(params, layout, l2, np.shape(X)[0])
        return mean, score


def evaluate_compiled(
    params: np.ndarray, X: np.ndarray, y: np.ndarray, layout: Layout, l2: float = 0.0, loss: str = "cross_entropy"
):
    """(loss, score) like `evaluate` (a regressor's: loss "mse" or "mae", R^2), compiled, the same bits on every CPU.

    Floats for params (P,), arrays (B,) for a batch (B, P). The loss is the compiled code's own
    from-scratch loss (no BLAS, no CPU-dispatched exp or log, no fused multiply-adds); it agrees
    with `evaluate` to about 1e-15 relative on ordinary networks.
    """
    from workers import from_scratch  # here, not at the top: only this needs the compiled code loaded
    from workers.rows import pack_rows

    params = np.asarray(params, dtype=np.float64)
    batch = np.ascontiguousarray(np.atleast_2d(params))
    layout.unpack(batch)  # checks the number of parameters
    if loss in REGRESSION_LOSSES:
        rows = pack_rows(X, None, targets=y, loss=loss, l2=l2)
    else:
        rows = pack_rows(X, sparse_labels(y), loss=loss, l2=l2)
    losses, scores = from_scratch.evaluate_batch(batch, rows, layout.arrays)
    if params.ndim == 1:
        return float(losses[0]), float(scores[0])
    return losses, scores
