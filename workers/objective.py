"""The objective's definition shared by both engines: the seed's clip and the L2 term's factor.

Its own module so that the compiled kernel and the numpy reference (`workers.network`) both read
it without importing each other.
"""

from __future__ import annotations

# The seed's clip for categorical cross-entropy: log(0) never happens, and a perfect
# prediction is not rewarded beyond 1 - 1e-7.
CLIP = 1e-7

# The losses a network minimises, as the kernel reads them (Problem.loss_kind): a classifier's clipped
# cross-entropy over softmax, or a regressor's error between its linear outputs and the targets, per sample
# the mean over outputs of the squared (the book's mean squared error) or absolute (mean absolute) error.
CROSS_ENTROPY, SQUARED_ERROR, ABSOLUTE_ERROR = 0, 1, 2
LOSS_KINDS = {"cross_entropy": CROSS_ENTROPY, "mse": SQUARED_ERROR, "mae": ABSOLUTE_ERROR}


def l2_scale(l2: float, samples: int) -> float:
    """The factor of the sum of squared weights in the objective: scikit-learn MLPClassifier's alpha / (2 n)."""
    return l2 / (2.0 * samples)
