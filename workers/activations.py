"""Hidden activations: what a hidden unit outputs from its pre-activation.

ReLU (the chapter's), tanh, and the step units a microcontroller computes without multiplying: sign
(-1 or +1) and step (0 or 1). The compiled code has its own copy of each, the same arithmetic
(`workers.from_scratch.activate`); this is the numpy reference's.
"""

from __future__ import annotations

import numpy as np

ACTIVATIONS = ("relu", "tanh", "sign", "step")
# The compiled code's codes of the activations (LayoutArrays.activation).
ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
# Sign and step units switch at -STEP_TOLERANCE, not at 0: on a grid a unit's pre-activation is often exactly 0 (its
# weights all 0, its bias unmoved, or its inputs 0 where its weights are not), and a sum taken in another order (an
# incremental step, BLAS) rounds that 0 to +-1e-18: both engines must see the same side.
STEP_TOLERANCE = 1e-12


def activate(values: np.ndarray, name: str) -> np.ndarray:
    """A hidden layer's outputs from its pre-activations, in numpy: relu max(x, 0), tanh, sign (-1 below
    -STEP_TOLERANCE, else +1) or step (0 below -STEP_TOLERANCE, else 1); NaN stays NaN."""
    if name == "relu":
        return np.maximum(0.0, values)
    if name == "tanh":
        return np.tanh(values)
    low = -1.0 if name == "sign" else 0.0
    return np.where(values >= -STEP_TOLERANCE, 1.0, np.where(values < -STEP_TOLERANCE, low, values))
