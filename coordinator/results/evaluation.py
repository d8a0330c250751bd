"""How well a network does on labelled rows: loss, accuracy, per-class precision and recall, confusion."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from workers.network import r_squared


@dataclass(frozen=True)
class Evaluation:
    """A network's figures on labelled rows; confusion[i, j] counts rows of class i predicted as j."""

    rows: int
    loss: float
    accuracy: float
    classes: list[int | str]
    confusion: np.ndarray  # (classes, classes) int64

    @property
    def precision(self) -> np.ndarray:
        """Per class: of the rows predicted as it, the share that are it (NaN where none were predicted)."""
        predicted = self.confusion.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / predicted

    @property
    def recall(self) -> np.ndarray:
        """Per class: of its rows, the share predicted as it (NaN where it has none)."""
        actual = self.confusion.sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.diag(self.confusion) / actual

    @property
    def support(self) -> np.ndarray:
        """Rows of each class."""
        return self.confusion.sum(axis=1)

    def report(self) -> str:
        """The figures as text: loss and accuracy, a line per class, then the confusion matrix."""
        names = [str(label) for label in self.classes]
        width = max(8, *(len(name) for name in names))
        lines = [
            f"rows {self.rows}, cross-entropy {self.loss:.5f} (no L2 term), accuracy {self.accuracy:.4f}",
            "",
            f"{'class':>{width}}  precision  recall  rows",
        ]
        for name, precision, recall, support in zip(names, self.precision, self.recall, self.support, strict=True):
            lines.append(f"{name:>{width}}  {_share(precision):>9}  {_share(recall):>6}  {support:>4}")
        lines += ["", "confusion matrix (rows: true class, columns: predicted class)"]
        label = max(len(name) for name in names)
        cell = max(label, len(str(int(self.confusion.max(initial=0)))))
        lines.append(" " * label + "  " + "  ".join(f"{name:>{cell}}" for name in names))
        for name, row in zip(names, self.confusion, strict=True):
            lines.append(f"{name:>{label}}  " + "  ".join(f"{count:>{cell}}" for count in row))
        return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class RegressionEvaluation:
    """A regressor's figures on rows with targets, in the targets' own units (averaged over outputs)."""

    rows: int
    mse: float  # mean squared error
    mae: float  # mean absolute error
    r2: float  # coefficient of determination, as scikit-learn's r2_score
    outputs: int = 1

    def report(self) -> str:
        """The figures as one line of text."""
        several = f" (each the mean over {self.outputs} outputs)" if self.outputs > 1 else ""
        return f"rows {self.rows}, MSE {self.mse:.6g}, MAE {self.mae:.6g}, R^2 {self.r2:.4f}{several}\n"


def regression_evaluation_of(predicted: np.ndarray, targets: np.ndarray) -> RegressionEvaluation:
    """The RegressionEvaluation of predictions (S, T) against targets (S, T)."""
    errors = predicted - targets
    return RegressionEvaluation(
        rows=len(targets),
        mse=float(np.mean(errors * errors)),
        mae=float(np.mean(np.abs(errors))),
        r2=float(r_squared(predicted, targets)),
        outputs=targets.shape[1],
    )


def _share(value: float) -> str:
    return "-" if np.isnan(value) else f"{value:.3f}"


def evaluation_of(predicted: np.ndarray, labels: np.ndarray, classes: list[int | str], loss: float) -> Evaluation:
    """The Evaluation of predicted class indices (S,) against the true ones (S,), with the network's loss."""
    count = len(classes)
    confusion = np.zeros((count, count), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    return Evaluation(
        rows=len(labels),
        loss=float(loss),
        accuracy=float(np.trace(confusion) / max(len(labels), 1)),
        classes=list(classes),
        confusion=confusion,
    )
