"""Data sets: nnfs's by name, a .npz or .csv file, or the caller's arrays; all checked up front."""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coordinator.config import DATASET_NAMES, ConfigError, SearchConfig

# The largest class number a label may hold (far beyond any output layer; it keeps int64 casts exact).
MAX_LABEL = 2**31 - 1


@dataclass(frozen=True)
class Dataset:
    """Features (S, F) as float64 and integer labels (S,) in [0, classes)."""

    name: str
    X: np.ndarray
    labels: np.ndarray
    num_classes: int

    @property
    def num_features(self) -> int:
        """Number of input features."""
        return self.X.shape[1]


def nnfs_data(name: str, samples: int, classes: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """nnfs's `spiral_data` / `vertical_data` exactly as after `nnfs.init(random_seed=seed)`.

    nnfs draws from the global numpy state and `nnfs.init` patches numpy functions for the whole
    process; this draws the same numbers (float32, as `nnfs.init` makes them) from a private
    RandomState, so nothing global is touched.
    """
    random = np.random.RandomState(seed)
    X = np.zeros((samples * classes, 2), dtype=np.float32)
    y = np.zeros(samples * classes, dtype=np.uint8)
    for class_number in range(classes):
        rows = slice(samples * class_number, samples * (class_number + 1))
        if name == "spiral":
            radius = np.linspace(0.0, 1, samples)
            noise = random.randn(samples).astype(np.float32) * 0.2
            angle = np.linspace(class_number * 4, (class_number + 1) * 4, samples) + noise
            X[rows] = np.c_[radius * np.sin(angle * 2.5), radius * np.cos(angle * 2.5)]
        elif name == "vertical":
            first = random.randn(samples).astype(np.float32) * 0.1 + class_number / 3
            second = random.randn(samples).astype(np.float32) * 0.1 + 0.5
            X[rows] = np.c_[first, second]
        else:
            raise ConfigError(f"dataset: unknown data set {name!r}; choose one of {', '.join(DATASET_NAMES)}")
        y[rows] = class_number
    return X, y


def from_arrays(X, y, name: str = "arrays") -> Dataset:
    """A Dataset from caller arrays, or a ConfigError saying what is wrong with them."""
    try:
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise ConfigError(f"{name}: X must be real numbers, got complex values")
        X = X.astype(np.float64)
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: X must be a rectangular array of numbers") from None
    try:
        y = np.asarray(y)
    except ValueError:
        raise ConfigError(f"{name}: y must be a (samples,) array of integer labels, got ragged rows") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ConfigError(f"{name}: X must be a (samples, features) array, got shape {X.shape}")
    if y.ndim == 2:  # one-hot labels, as the seed's loss accepts
        if not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise ConfigError(f"{name}: 2-D labels must be one-hot rows")
        y = np.argmax(y, axis=1)
    if y.ndim != 1:
        raise ConfigError(f"{name}: y must be a (samples,) array of integer labels, got shape {y.shape}")
    if X.shape[0] == 0:
        raise ConfigError(f"{name}: no samples")
    if X.shape[0] != y.shape[0]:
        raise ConfigError(f"{name}: X has {X.shape[0]} rows but y has {y.shape[0]} labels")
    if X.shape[1] == 0:
        raise ConfigError(f"{name}: X has no features")
    if not np.all(np.isfinite(X)):
        row, column = (int(index) for index in np.argwhere(~np.isfinite(X))[0])
        raise ConfigError(f"{name}: X must be finite numbers, got {X[row, column]} (row {row}, column {column})")
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not np.all(whole):
            raise ConfigError(f"{name}: labels must be integers, got {y[~whole][0]} (row {int(np.argmin(whole))})")
    elif y.dtype.kind not in "iub":
        raise ConfigError(f"{name}: labels must be integers, got {y.dtype}")
    lowest, highest = int(y.min()), int(y.max())  # exact, before a cast could wrap them round
    if lowest < 0:
        raise ConfigError(f"{name}: labels must be >= 0, got {lowest}")
    if highest > MAX_LABEL:
        raise ConfigError(f"{name}: labels must be class numbers 0, 1, ... up to {MAX_LABEL}, got {y.max()}")
    labels = y.astype(np.int64)
    num_classes = highest + 1
    if len(np.unique(labels)) < 2:
        raise ConfigError(f"{name}: needs at least two classes, found one")
    return Dataset(name, np.ascontiguousarray(X), np.ascontiguousarray(labels), num_classes)


def read_dataset_file(path: str | Path) -> Dataset:
    """A .npz (arrays X and y) or .csv (features, integer label last, optional header) file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        return from_arrays(*_read_npz(path), name=str(path))
    if suffix == ".csv":
        return from_arrays(*_read_csv(path), name=str(path))
    raise ConfigError(f"{path}: unknown data file type {suffix!r}; use .npz or .csv")


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Arrays X and y of a .npz archive; nothing in it is ever unpickled."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:  # neither .npz nor .npy: np.load would have to unpickle it, and never does
        raise ConfigError(f"{path}: not a .npz archive (pickled files are never loaded)") from None
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ConfigError(f"{path}: not a readable .npz file (truncated or corrupt)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ConfigError(f"{path}: holds one .npy array; save X and y with np.savez")
    with archive:
        missing = [key for key in ("X", "y") if key not in archive.files]
        if missing:
            found = ", ".join(archive.files) or "nothing"
            raise ConfigError(f"{path}: missing array {' and '.join(missing)} (found: {found})")
        try:
            return archive["X"], archive["y"]
        except ValueError:
            raise ConfigError(
                f"{path}: X or y is not an array of plain numbers (object arrays are never unpickled) or is corrupt"
            ) from None
        except (zipfile.BadZipFile, OSError, EOFError):
            raise ConfigError(f"{path}: not a readable .npz file (truncated or corrupt)") from None


def _read_csv(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Rows of numbers, the label last; a first row that is not numeric is a header."""
    try:
        with path.open(newline="") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except (UnicodeDecodeError, csv.Error):
        raise ConfigError(f"{path}: not a text .csv file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    if rows and not _numeric(rows[0]):
        rows = rows[1:]
    if not rows:
        raise ConfigError(f"{path}: no data rows")
    width = len(rows[0])
    if width < 2:
        raise ConfigError(f"{path}: each row needs at least one feature and a label")
    values = []
    for number, row in enumerate(rows, start=1):
        if len(row) != width:
            raise ConfigError(f"{path}: data row {number} has {len(row)} columns, expected {width}")
        try:
            values.append([float(cell) for cell in row])
        except ValueError:
            raise ConfigError(f"{path}: data row {number} has a value that is not a number") from None
    table = np.asarray(values)
    return table[:, :-1], table[:, -1]


def _numeric(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def load_dataset(config: SearchConfig, X=None, y=None) -> Dataset:
    """The data set a config names (or the caller's arrays), checked against the layer sizes."""
    if X is not None or y is not None:
        if X is None or y is None:
            raise ConfigError("arrays: pass both X and y")
        dataset = from_arrays(X, y)
    elif config.dataset in DATASET_NAMES:
        X, y = nnfs_data(config.dataset, config.samples, config.classes, config.data_seed)
        dataset = Dataset(config.dataset, X.astype(np.float64), y.astype(np.int64), config.classes)
    else:
        dataset = read_dataset_file(config.dataset)
    if config.layers[0] != dataset.num_features:
        raise ConfigError(
            f"layers: the data has {dataset.num_features} features, but layers start with {config.layers[0]}"
        )
    if config.layers[-1] != dataset.num_classes:
        raise ConfigError(
            f"layers: the data has {dataset.num_classes} classes (labels 0..{dataset.num_classes - 1}), "
            f"but layers end with {config.layers[-1]}"
        )
    return dataset
