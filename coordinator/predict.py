"""Classifying new points with a finished run's network: `python -m coordinator predict`."""

from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from coordinator.config import ConfigError
from coordinator.files import atomic_write_text
from coordinator.result import load_result


def read_features(path: str | Path) -> np.ndarray:
    """Features (S, F) as float64 from a .npz (array X) or a .csv (numbers only, optional header row)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; --input takes a .csv or .npz file")
    if not path.is_file():
        raise ConfigError(f"{path}: no such input file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        X = _read_npz(path)
    elif suffix == ".csv":
        X = _read_csv(path)
    else:
        raise ConfigError(f"{path}: unknown input type {suffix or '(none)'!r}; use a .csv or .npz file")
    if X.dtype.kind not in "biuf":
        raise ConfigError(f"{path}: array X holds {X.dtype} values; expected numbers")
    if X.ndim == 1:
        X = X[:, None]  # one feature per row
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ConfigError(f"{path}: expected rows of features, got an array of shape {X.shape}")
    if not np.all(np.isfinite(X)):
        row = int(np.argwhere(~np.isfinite(X))[0][0])
        raise ConfigError(f"{path}: row {row + 1} holds a NaN or infinite value")
    return X.astype(np.float64)


def _read_npz(path: Path) -> np.ndarray:
    try:
        with np.load(path, allow_pickle=False) as archive:
            if "X" not in archive.files:
                raise ConfigError(f"{path}: missing array X (found: {', '.join(archive.files) or 'nothing'})")
            return archive["X"]
    except ConfigError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError, ValueError):
        raise ConfigError(f"{path}: not a readable .npz file of plain numbers (arrays are never unpickled)") from None


def _read_csv(path: Path) -> np.ndarray:
    """Rows of numbers; a first row that is not all numbers is a header; blank lines are skipped."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            rows = [(number, row) for number, row in enumerate(csv.reader(handle), start=1) if _has_text(row)]
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) .csv file") from None
    except (OSError, csv.Error) as error:
        raise ConfigError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from None
    if rows and _numbers(rows[0][1]) is None:
        rows = rows[1:]  # a header
    if not rows:
        raise ConfigError(f"{path}: no data rows")
    width = len(rows[0][1])
    values = []
    for number, row in rows:
        if len(row) != width:
            raise ConfigError(f"{path}: line {number} has {len(row)} columns, the first data row has {width}")
        numbers = _numbers(row)
        if numbers is None:
            raise ConfigError(f"{path}: line {number} has a value that is not a number: {_first_bad(row)!r}")
        values.append(numbers)
    return np.array(values, dtype=np.float64)


def _has_text(row: list[str]) -> bool:
    return any(cell.strip() for cell in row)


def _numbers(row: list[str]) -> list[float] | None:
    try:
        return [float(cell) for cell in row]
    except ValueError:
        return None


def _first_bad(row: list[str]) -> str:
    return next(cell for cell in row if _numbers([cell]) is None)


def prediction_table(probabilities: np.ndarray) -> str:
    """CSV text: a header `class,p_0,...,p_{C-1}`, then each row's class and probabilities."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *(f"p_{c}" for c in range(probabilities.shape[1]))])
    for label, row in zip(np.argmax(probabilities, axis=1), probabilities, strict=True):
        writer.writerow([int(label), *(f"{p:.6g}" for p in row)])
    return buffer.getvalue()


def predict_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path | None = None) -> np.ndarray:
    """Write `class,p_0,...,p_{C-1}` for each input row to output_path (or stdout); return the classes.

    Example:
        >>> import shutil, tempfile
        >>> from coordinator import SearchConfig, search
        >>> folder = Path(tempfile.mkdtemp())
        >>> config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=300, rounds=1)
        >>> _ = search(config, executor="inprocess", run_dir=folder / "run")
        >>> _ = (folder / "points.csv").write_text("x,y\\n0.0,0.5\\n0.7,0.5\\n")
        >>> predict_file(folder / "run", folder / "points.csv", folder / "classes.csv")
        array([0, 2])
        >>> print((folder / "classes.csv").read_text().splitlines()[0])
        class,p_0,p_1,p_2
        >>> shutil.rmtree(folder)
    """
    result = load_result(run_dir)
    X = read_features(input_path)
    expected = result.layout.num_inputs
    if X.shape[1] != expected:
        hint = " (is the last column a label? leave it out)" if X.shape[1] == expected + 1 else ""
        raise ConfigError(
            f"{input_path}: rows have {X.shape[1]} feature{'s' if X.shape[1] != 1 else ''}; "
            f"the network takes {expected}{hint}"
        )
    if output_path is not None and Path(output_path).is_dir():
        raise ConfigError(f"{output_path}: is a directory; --output takes a file name such as classes.csv")
    probabilities = result.predict_proba(X)
    text = prediction_table(probabilities)
    if output_path is None:
        _write_stdout(text)
    else:
        try:
            atomic_write_text(output_path, text)
        except OSError as error:
            raise ConfigError(f"{output_path}: cannot write ({error.strerror or error})") from None
    return np.argmax(probabilities, axis=1)


def _write_stdout(text: str) -> None:
    """Print the table; a reader that stops early (`| head`) ends it quietly."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        # Python flushes stdout again at exit; point it at nothing so that flush cannot fail.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
