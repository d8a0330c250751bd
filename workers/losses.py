"""The losses a network minimises, as both engines define them: the seed's clip, the losses, the L2 term's factor.

Its own module so that the compiled kernel and the numpy reference (`workers.network`) both read
it without importing each other.
"""

from __future__ import annotations

# The seed's clip for categorical cross-entropy: log(0) never happens, and a perfect
# prediction is not rewarded beyond 1 - 1e-7.
CLIP = 1e-7

# The losses a network minimises, as the kernel reads them (Problem.loss_kind). A classifier's: the clipped
# cross-entropy over softmax, or the error rate with the cross-entropy breaking its ties (ERROR_RATE: per sample
# 1 if the largest logit is not the label's, plus the sample's cross-entropy times error_tie(samples)). A
# regressor's: the error between its linear outputs and the targets, per sample the mean over outputs of the
# squared (the book's mean squared error) or absolute (mean absolute) error.
CROSS_ENTROPY, SQUARED_ERROR, ABSOLUTE_ERROR, ERROR_RATE = 0, 1, 2, 3
LOSS_KINDS = {"cross_entropy": CROSS_ENTROPY, "mse": SQUARED_ERROR, "mae": ABSOLUTE_ERROR, "error": ERROR_RATE}
# The loss names by task, the first of each its default (the `loss` setting, workers.settings).
CLASSIFIER_LOSSES = ("cross_entropy", "error")
REGRESSION_LOSSES = ("mse", "mae")
# Above the largest clipped cross-entropy of a sample, -log(1e-7) = 16.1: the tie-break's sum stays below one
# error, so a network with fewer errors always scores lower.
TIE_BOUND = 17.0
# Logits that differ by at most this times (1 + |the label's logit|) tie in the error count (the first class wins,
# as argmax picks it): exact ties are common (a sample whose last hidden units are all off has the biases for
# logits; units of 0/1 times weights of a power-of-two scale sum exactly), and an incremental step's sums, taken
# in another order, round them an ulp apart.
TIE_TOLERANCE = 1e-9
# A step of a network that can tie exactly (grid weights, or sign or step units) is kept only if it lowers the loss
# by more than this relative margin: the incremental state rounds an exact tie an ulp either way.
ACCEPT_MARGIN = 1e-12


def l2_scale(l2: float, samples: int) -> float:
    """The factor of the sum of squared weights in the objective: scikit-learn MLPClassifier's alpha / (2 n)."""
    return l2 / (2.0 * samples)


def error_tie(samples: int) -> float:
    """The weight of a sample's cross-entropy in the error loss: 1 / (samples * 17), so that the mean over
    samples of the cross-entropy part stays below one error's 1 / samples."""
    return 1.0 / (samples * TIE_BOUND)
