"""Classifying new points with a finished run's network."""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from coordinator.config import ConfigError
from coordinator.files import atomic_write_text
from coordinator.result import load_result


def read_features(path: str | Path) -> np.ndarray:
    """Features (S, F) from a .npz (array X) or a .csv (numbers only, optional header row)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such input file")
    if path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                if "X" not in archive.files:
                    raise ConfigError(f"{path}: missing array X (found: {', '.join(archive.files)})")
                X = archive["X"]
        except (zipfile.BadZipFile, OSError, EOFError, ValueError):
            raise ConfigError(f"{path}: not a readable .npz file of plain numbers") from None
    elif path.suffix.lower() == ".csv":
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
        try:
            [float(cell) for cell in rows[0]] if rows else None
        except ValueError:
            rows = rows[1:]  # a header
        try:
            X = np.array([[float(cell) for cell in row] for row in rows])
        except ValueError:
            raise ConfigError(f"{path}: rows must be numbers of equal length") from None
    else:
        raise ConfigError(f"{path}: unknown input type {path.suffix!r}; use .csv or .npz")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ConfigError(f"{path}: expected rows of features, got shape {X.shape}")
    if not np.all(np.isfinite(X)):
        raise ConfigError(f"{path}: holds NaN or infinite values")
    return X.astype(np.float64)


def predict_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path | None = None) -> np.ndarray:
    """Write `class,p_0,...,p_{C-1}` for each input row to output_path (or stdout); return the classes."""
    result = load_result(run_dir)
    X = read_features(input_path)
    if X.shape[1] != result.layout.num_inputs:
        raise ConfigError(
            f"{input_path}: rows have {X.shape[1]} features; the network takes {result.layout.num_inputs}"
        )
    probabilities = result.predict_proba(X)
    classes = np.argmax(probabilities, axis=1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *(f"p_{c}" for c in range(probabilities.shape[1]))])
    for label, row in zip(classes, probabilities, strict=True):
        writer.writerow([int(label), *(f"{p:.6g}" for p in row)])
    if output_path is None:
        sys.stdout.write(buffer.getvalue())
    else:
        atomic_write_text(output_path, buffer.getvalue())
    return classes
