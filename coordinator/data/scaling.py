"""Feature scaling fitted on the training rows, saved with the result and applied to every input after.

A regressor's targets are scaled the same way (their own Scaling), and its outputs scaled back.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict


class Scaling(BaseModel):
    """x' = (x - offset) / scale per feature; kind 'none' leaves features as they are.

    'standard': mean 0 and variance 1; 'minmax': 0 to 1; 'maxabs': within -1 to 1 with no shift, so
    that a zero stays a zero (as scikit-learn's MaxAbsScaler, made for sparse data).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["standard", "minmax", "maxabs", "none"]
    offset: list[float] | None = None  # (features,)
    scale: list[float] | None = None  # (features,)

    @classmethod
    def fit(cls, kind: str, X: np.ndarray) -> Scaling:
        """The scaling of this kind for training rows X (samples, features)."""
        if kind == "none":
            return cls(kind="none")
        if kind == "standard":
            offset, spread = X.mean(axis=0), X.std(axis=0)
        elif kind == "minmax":
            offset, spread = X.min(axis=0), X.max(axis=0) - X.min(axis=0)
        elif kind == "maxabs":  # zeros stay zeros: the kernel skips the samples where an input is zero
            offset, spread = np.zeros(X.shape[1]), np.abs(X).max(axis=0, initial=0.0)
        else:
            raise ValueError(f"unknown scaling {kind!r}")
        # A feature that never varies in training is only moved, not stretched (it carries nothing).
        spread = np.where(spread > 0, spread, 1.0)
        return cls(kind=kind, offset=[float(value) for value in offset], scale=[float(value) for value in spread])

    @classmethod
    def from_statistics(cls, kind: str, statistics: dict) -> Scaling:
        """The scaling of this kind from streamed column statistics (`FileRows.statistics`): rows never gathered."""
        if kind == "none":
            return cls(kind="none")
        offset, spread = {
            "standard": (statistics["mean"], statistics["std"]),
            "minmax": (statistics["min"], statistics["max"] - statistics["min"]),
            "maxabs": (np.zeros_like(statistics["mean"]), statistics["absmax"]),
        }[kind]
        spread = np.where(spread > 0, spread, 1.0)
        return cls(kind=kind, offset=[float(value) for value in offset], scale=[float(value) for value in spread])

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Scaled features (samples, features) as float64."""
        X = np.asarray(X, dtype=np.float64)
        if self.kind == "none":
            return X
        return (X - np.asarray(self.offset)) / np.asarray(self.scale)

    def invert(self, values: np.ndarray) -> np.ndarray:
        """The scaling undone: values * scale + offset (a regressor's outputs back in its targets' units)."""
        values = np.asarray(values, dtype=np.float64)
        if self.kind == "none":
            return values
        return values * np.asarray(self.scale) + np.asarray(self.offset)
