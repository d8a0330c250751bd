"""Classifying new points with a finished run's network: `python -m coordinator predict`."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import numpy as np

from cluster.atomic_files import atomic_write_text
from coordinator.config import ConfigError
from coordinator.data.columns import match_columns
from coordinator.data.tables import read_table
from coordinator.results.result import load_result


def read_features(path: str | Path) -> np.ndarray:
    """Features (S, F) as float64 from a .npz (array X) or a .csv (numbers only, optional header row)."""
    return read_table(path, labelled=False, kind="input file").X


def prediction_table(probabilities: np.ndarray, classes: list[int | str]) -> str:
    """CSV text: a header `class,p_<label>,...`, then each row's predicted label and the probabilities."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["class", *(f"p_{label}" for label in classes)])
    for index, row in zip(np.argmax(probabilities, axis=1), probabilities, strict=True):
        writer.writerow([classes[index], *(f"{p:.6g}" for p in row)])
    return buffer.getvalue()


def value_table(values: np.ndarray, names: list[str] | None) -> str:
    """CSV text of a regressor's predictions (S, T): a header (the targets' names, else prediction...), then rows."""
    outputs = values.shape[1]
    if names is None or len(names) != outputs:
        names = ["prediction"] if outputs == 1 else [f"prediction_{index}" for index in range(outputs)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(names)
    for row in values:
        writer.writerow([f"{value:.10g}" for value in row])
    return buffer.getvalue()


def predict_file(run_dir: str | Path, input_path: str | Path, output_path: str | Path | None = None) -> np.ndarray:
    """Write `class,p_<label>,...` for each input row to output_path (or stdout); return the predicted labels.

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
    if result.objective is not None and result.policy is None:
        raise ConfigError(f"{run_dir}: the run minimised {result.objective.name}; it has no classes to predict")
    table = read_table(input_path, labelled=False, kind="input file")
    for note in table.notes:
        print(f"note: {note}", file=sys.stderr)
    if result.policy is not None:
        return _write_actions(result, table.X, input_path, output_path)
    X = match_columns(table.X, table.feature_names, result.data.feature_names if result.data else None, input_path)
    expected = result.layout.num_inputs
    if X.shape[1] != expected:
        hint = " (is the last column a label? leave it out)" if X.shape[1] == expected + 1 else ""
        raise ConfigError(
            f"{input_path}: rows have {X.shape[1]} feature{'s' if X.shape[1] != 1 else ''}; "
            f"the network takes {expected}{hint}"
        )
    if output_path is not None and Path(output_path).is_dir():
        raise ConfigError(f"{output_path}: is a directory; --output takes a file name such as classes.csv")
    if result.regression:
        values = result.predict_values(X)
        _write(value_table(values, result.data.target_names if result.data is not None else None), output_path)
        return values[:, 0] if values.shape[1] == 1 else values
    probabilities = result.predict_proba(X)
    _write(prediction_table(probabilities, result.classes), output_path)
    return np.asarray(result.classes)[np.argmax(probabilities, axis=1)]


def _write(text: str, output_path: str | Path | None) -> None:
    """The table to output_path (atomically) or stdout."""
    if output_path is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        atomic_write_text(output_path, text)
    except OSError as error:
        raise ConfigError(f"{output_path}: cannot write ({error.strerror or error})") from None


def _write_actions(result, observations: np.ndarray, input_path, output_path) -> np.ndarray:
    """A policy's actions for each row of observations: `action` (discrete) or `action_0,...` (any other space's,
    flattened); a row is one observation, flattened (a state, a state per component, or a box's numbers)."""
    expected = result.policy.observation_length
    if observations.shape[1] != expected:
        raise ConfigError(
            f"{input_path}: rows have {observations.shape[1]} numbers; observations of {result.config.env} have "
            f"{expected}"
        )
    if output_path is not None and Path(output_path).is_dir():
        raise ConfigError(f"{output_path}: is a directory; --output takes a file name such as actions.csv")
    actions = result.predict(observations)
    flat = actions.reshape(len(observations), -1)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["action"] if actions.ndim == 1 else [f"action_{index}" for index in range(flat.shape[1])])
    for row in flat:
        writer.writerow([f"{value:.9g}" if isinstance(value, float) else value for value in row.tolist()])
    _write(buffer.getvalue(), output_path)
    return actions
