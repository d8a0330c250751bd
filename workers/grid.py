"""Weight grids: what a layer's weights may be.

A grid layer's weights are `scale * q` with q an integer of the grid's levels: int8 -127..127,
ternary -1, 0, 1, binary -1, 1 (levels `stride` apart, at most `top` from zero). The scale is one
power of two per layer, fixed by the layer's width (`layer_scale`), so it is saved with the result,
every weight is exactly `scale * q`, a microcontroller applies it as a shift, and sums of weights
times 0/1/-1 units are exact in any order (a tie between two classes is a tie in every engine).
Biases stay float64: a unit's threshold. With ReLU or a step unit (`workers.activations`)
the scale of a hidden layer is absorbed by the biases and the next layer; the output layer's scale
sets how confident its probabilities can be, and int8's sets the range its 255 levels cover.

A step on a grid (`move_on_grid`) goes to the level nearest the float step would land on, and at
least one level, in the direction of the step (back from the edge where the grid ends): a step of
a grid weight always changes it. The scalar functions here are plain arithmetic (floor, min, max),
compiled as they are by the kernel (`workers.kernel`), and called by the numpy reference; both
give the same bits.
"""

from __future__ import annotations

import math

import numpy as np

WEIGHT_KINDS = ("float", "int8", "ternary", "binary")
# Per grid: (top, stride): levels q with |q| <= top, stride apart (binary's are -1 and 1).
LEVELS = {"int8": (127, 1), "ternary": (1, 1), "binary": (1, 2)}
# int8's levels cover about +-INT8_RANGE / sqrt(inputs) of a layer (the power of two nearest): the float climb's
# weights on digits 64-32-10 (60 s) reach 1.0 and 1.8 in its two layers; these levels cover 2 and 4.
INT8_RANGE = 16.0
# A grid start: standard normal draws z (the float start's, 0.01 * z) put on levels round(spread * z): ternary 40%
# nonzero, int8 about 2 levels either way. Not the float start rounded: that is all zeros on a grid, and a network
# of zeros cannot climb (no single weight changes the output while every other weight is zero).
START_SPREAD = {"int8": 2.0, "ternary": 0.6, "binary": 1.0}


def layer_scale(kind: str, inputs: int) -> float:
    """The scale of a layer with `inputs` inputs on grid `kind`: ternary and binary, the smallest power of two
    at or above 1 / sqrt(inputs) (64 inputs: 1/8, 32: 1/4); int8, the power of two nearest (in log) to
    INT8_RANGE / sqrt(inputs) / 127; 0.0 for float weights (no grid)."""
    if kind == "float":
        return 0.0
    if kind == "int8":
        return 2.0 ** math.floor(math.log2(INT8_RANGE / LEVELS["int8"][0] / math.sqrt(inputs)) + 0.5)
    return 2.0 ** -math.floor(math.log2(inputs) / 2)  # exact where inputs is a power of two


def nearest_level(x: float, top: float, stride: float) -> float:
    """The level nearest x (in units of the scale): round half up, within +-top; binary: the sign, 0 to +1."""
    if stride == 2.0:
        return 1.0 if x >= 0.0 else -1.0
    return min(max(float(math.floor(x + 0.5)), -top), top)


def move_on_grid(old: float, change: float, scale: float, top: float, stride: float) -> float:
    """A grid weight `old` (scale * a level) after a step of `change`: the level nearest old + change, and
    at least one level in the direction of the change (away from the edge where the grid ends)."""
    # nearest_level written out twice: the kernel compiles this function as it is, calling nothing of Python's
    if stride == 2.0:
        level = 1.0 if old >= 0.0 else -1.0
        moved = 1.0 if old + change >= 0.0 else -1.0
    else:
        level = min(max(float(math.floor(old / scale + 0.5)), -top), top)
        moved = min(max(float(math.floor((old + change) / scale + 0.5)), -top), top)
    if moved == level:
        direction = stride if change >= 0.0 else -stride
        moved = level + direction
        if moved > top or moved < -top:
            moved = level - direction
    return scale * moved


def move_on_grid_array(old: np.ndarray, change: np.ndarray, scale: float, top: float, stride: float) -> np.ndarray:
    """`move_on_grid` elementwise, as numpy arithmetic (the same operations, so the same bits)."""
    level = nearest_level_array(old / scale, top, stride)
    moved = nearest_level_array((old + change) / scale, top, stride)
    direction = np.where(change >= 0.0, stride, -stride)
    forced = level + direction
    forced = np.where((forced > top) | (forced < -top), level - direction, forced)
    return scale * np.where(moved == level, forced, moved)


def nearest_level_array(x: np.ndarray, top: float, stride: float) -> np.ndarray:
    """`nearest_level` elementwise."""
    if stride == 2.0:
        return np.where(x >= 0.0, 1.0, -1.0)
    return np.minimum(np.maximum(np.floor(x + 0.5), -top), top)


def start_levels(kind: str, normals: np.ndarray) -> np.ndarray:
    """A grid layer's starting levels from standard normal draws: the level nearest START_SPREAD[kind] * z."""
    return nearest_level_array(START_SPREAD[kind] * normals, *LEVELS[kind])
