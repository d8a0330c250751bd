"""Data sets: the chapter's by name, a .npz or .csv file, or the caller's arrays; all checked up front.

Labels of any kind (integers from any start, with gaps, or text) become classes 0..C-1 in sorted
order; the Dataset keeps the label each class stands for, and a result maps its predictions back.
A regressor's data keeps its targets, numbers (S, T), instead (its labels all 0, one "class").
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from coordinator.config import (
    ARRAYS,
    CHAPTER_SAMPLES,
    DATASET_NAMES,
    REGRESSION_DATASET_NAMES,
    SINE_SAMPLES,
    SKLEARN_DATASETS,
    ConfigError,
    SearchConfig,
    resolved_task,
)
from coordinator.data.columns import column_names
from coordinator.data.row_file import FileRows, label_index, open_npy
from coordinator.data.tables import Table, read_table

ClassLabel = int | str
# Numbers in a file's label column look like a quantity (a price, a count), not classes, when there are
# more than MANY_CLASSES of them and a third or more occur in one row only, or they are spread over a
# range more than twice their number: refused, unless --layers ends in that many classes. (Class codes
# come with rows enough to hold one out, and 0..C-1 or 1..C have no gaps.)
MANY_CLASSES = 20


@dataclass(frozen=True)
class Dataset:
    """Features (S, F) as float64, class indices (S,) in [0, C), and the label each class stands for.

    A regressor's: targets (S, T) float64, labels all 0 and no classes.
    """

    name: str
    X: np.ndarray
    labels: np.ndarray
    classes: tuple[ClassLabel, ...]
    feature_names: tuple[str, ...] | None = None
    notes: tuple[str, ...] = ()
    targets: np.ndarray | None = None  # (S, T) a regressor's targets
    target_names: tuple[str, ...] | None = None
    label_name: str | None = None  # the label column's header in the file it came from (None: not named)

    @property
    def regression(self) -> bool:
        """Whether the rows hold targets (numbers) rather than classes."""
        return self.targets is not None

    @property
    def num_outputs(self) -> int:
        """Outputs of a network for these rows: its classes, or its targets."""
        return self.targets.shape[1] if self.targets is not None else len(self.classes)

    @property
    def num_features(self) -> int:
        """Number of input features."""
        return self.X.shape[1]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    def take(self, rows: np.ndarray) -> Dataset:
        """The rows given (indices), the classes unchanged (rows of a file stay in the file: `FileRows`)."""
        targets = None if self.targets is None else np.ascontiguousarray(self.targets[rows])
        X = self.X[rows] if isinstance(self.X, FileRows) else np.ascontiguousarray(self.X[rows])
        return replace(self, X=X, labels=np.ascontiguousarray(self.labels[rows]), targets=targets)

    def sha256(self) -> str:
        """The SHA-256 of the rows: features as float64 bytes, then class indices as int64 bytes."""
        if isinstance(self.X, FileRows):  # read block by block, never whole
            return self.X.sha256(self.labels)
        digest = hashlib.sha256(np.ascontiguousarray(self.X, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(self.labels, dtype=np.int64).tobytes())
        if self.targets is not None:  # then the targets, as float64 bytes
            digest.update(np.ascontiguousarray(self.targets, dtype=np.float64).tobytes())
        return digest.hexdigest()


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


def sine_data(samples: int = SINE_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """nnfs's `sine_data` exactly: X = i / samples for i < samples (samples, 1), y = sin(2 pi X) (samples, 1)."""
    X = np.arange(samples).reshape(-1, 1) / samples
    y = np.sin(2 * np.pi * X).reshape(-1, 1)
    return X, y


def encode_targets(y, name: str = "arrays") -> np.ndarray:
    """A regressor's targets (S, T) float64 from numbers (S,) or (S, T), or a ConfigError saying what is wrong."""
    try:
        y = np.asarray(y)
        if y.dtype.kind not in "biuf":
            raise ValueError
        y = y.astype(np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: a regressor's targets must be numbers") from None
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[1] == 0:
        raise ConfigError(f"{name}: targets must be a (samples,) or (samples, outputs) array, got shape {y.shape}")
    if not np.all(np.isfinite(y)):
        row, column = (int(index) for index in np.argwhere(~np.isfinite(y))[0])
        raise ConfigError(f"{name}: targets must be finite numbers, got {y[row, column]} (row {row})")
    return np.ascontiguousarray(y)


def encode_labels(y, name: str = "arrays") -> tuple[np.ndarray, tuple[ClassLabel, ...]]:
    """Class indices (S,) and the sorted labels they stand for, from labels (S,) of any kind or one-hot (S, C)."""
    try:
        y = np.asarray(y)
    except ValueError:
        raise ConfigError(f"{name}: y must be a (samples,) array of labels, got ragged rows") from None
    if y.ndim == 2:  # one-hot labels, as the seed's loss accepts
        if y.dtype.kind not in "biuf" or not np.all((y == 0) | (y == 1)) or not np.all(y.sum(axis=1) == 1):
            raise ConfigError(f"{name}: 2-D labels must be one-hot rows")
        return np.argmax(y, axis=1).astype(np.int64), tuple(range(y.shape[1]))
    if y.ndim != 1:
        raise ConfigError(f"{name}: y must be a (samples,) array of labels, got shape {y.shape}")
    if y.dtype.kind == "O":
        y = _plain_labels(y, name)
    if y.dtype.kind == "f":
        whole = np.isfinite(y) & (y == np.round(y))
        if not np.all(whole):
            raise ConfigError(
                f"{name}: labels must be whole numbers or text, got {y[~whole][0]} (row {int(np.argmin(whole))}); "
                "to predict numbers, give --task regression (task='regression', or HillClimbRegressor)"
            )
        y = y.astype(np.int64) if np.all(np.abs(y) < 2**53) else y
    elif y.dtype.kind == "S":
        y = np.char.decode(y, "utf-8")
    elif y.dtype.kind not in "biuU":
        raise ConfigError(f"{name}: labels must be whole numbers or text, got {y.dtype}")
    values, labels = np.unique(y, return_inverse=True)
    classes = tuple(str(value) if y.dtype.kind == "U" else int(value) for value in values)
    return labels.reshape(-1).astype(np.int64), classes


def _plain_labels(y: np.ndarray, name: str) -> np.ndarray:
    """An object array of labels as text or integers (all of one kind)."""
    if all(isinstance(value, str) for value in y):
        return y.astype(str)
    if all(isinstance(value, (int, np.integer)) and not isinstance(value, bool) for value in y):
        return y.astype(np.int64)
    raise ConfigError(f"{name}: labels must be all whole numbers or all text")


def from_arrays(
    X, y, name: str = "arrays", feature_names=None, notes=(), regression: bool = False, target_names=None
) -> Dataset:
    """A Dataset from caller arrays (a regressor's: regression, y numbers), or a ConfigError saying what is wrong."""
    try:
        X = np.asarray(X)
        if np.iscomplexobj(X):
            raise ConfigError(f"{name}: X must be real numbers, got complex values")
        X = X.astype(np.float64)
    except ConfigError:
        raise
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: X must be a rectangular array of numbers") from None
    if X.ndim == 1:
        X = X[:, None]
    if X.ndim != 2:
        raise ConfigError(f"{name}: X must be a (samples, features) array, got shape {X.shape}")
    targets = None
    if regression:
        targets = encode_targets(y, name)
        labels, classes = np.zeros(targets.shape[0], dtype=np.int64), ()
    else:
        labels, classes = encode_labels(y, name)
    if X.shape[0] == 0:
        raise ConfigError(f"{name}: no samples")
    if X.shape[0] != labels.shape[0]:
        raise ConfigError(f"{name}: X has {X.shape[0]} rows but y has {labels.shape[0]} labels")
    if X.shape[1] == 0:
        raise ConfigError(f"{name}: X has no features")
    if not np.all(np.isfinite(X)):
        row, column = (int(index) for index in np.argwhere(~np.isfinite(X))[0])
        raise ConfigError(f"{name}: X must be finite numbers, got {X[row, column]} (row {row}, column {column})")
    if not regression and len(np.unique(labels)) < 2:
        raise ConfigError(f"{name}: needs at least two classes, found one")
    names = None if target_names is None or targets is None else tuple(target_names)
    if names is not None and len(names) != targets.shape[1]:
        names = None
    return Dataset(
        name,
        np.ascontiguousarray(X),
        np.ascontiguousarray(labels),
        classes,
        feature_names,
        tuple(notes),
        targets,
        names,
    )


def from_table(table: Table, regression: bool = False) -> Dataset:
    """A Dataset from a labelled table read from a file (a regressor's: its label column holds the targets)."""
    names = (table.label_name,) if regression and table.label_name is not None else None
    dataset = from_arrays(
        table.X, table.y, name=str(table.source), feature_names=table.feature_names, notes=table.notes,
        regression=regression, target_names=names,
    )  # fmt: skip
    return replace(dataset, label_name=table.label_header)


def read_dataset_file(path: str | Path, label_column: str | int | None = None, regression: bool = False) -> Dataset:
    """A labelled .npz (arrays X and y) or .csv (features, the label last or in label_column) file."""
    return from_table(read_table(path, labelled=True, label_column=label_column, targets=regression), regression)


def sklearn_data(name: str, regression: bool = False) -> Dataset:
    """One of scikit-learn's small real data sets, whole (prepare_run holds out its test rows)."""
    try:
        from sklearn import datasets
    except ImportError:
        raise ConfigError(
            f"dataset: {name!r} is one of scikit-learn's data sets; install it with pip install 'hillclimb[sklearn]'"
        ) from None
    bunch = getattr(datasets, f"load_{name}")()
    names = tuple(str(feature) for feature in bunch.feature_names)
    return from_arrays(bunch.data, bunch.target, name=name, feature_names=names, regression=regression)


def load_dataset(config: SearchConfig, X=None, y=None) -> Dataset:
    """The data set a config names (or the caller's arrays), whole, checked against the layers if they are given."""
    regression = resolved_task(config) == "regression"
    if X is not None or y is not None:
        if X is None or y is None:
            raise ConfigError("arrays: pass both X and y")
        dataset = from_arrays(X, y, feature_names=column_names(X), regression=regression)
    elif config.dataset == ARRAYS:
        raise ConfigError("dataset: 'arrays' stands for arrays given to search(config, X, y); pass them")
    elif config.dataset in DATASET_NAMES:
        X, y = nnfs_data(config.dataset, config.samples or CHAPTER_SAMPLES, config.classes, config.data_seed)
        dataset = Dataset(config.dataset, X.astype(np.float64), y.astype(np.int64), tuple(range(config.classes)))
    elif config.dataset in REGRESSION_DATASET_NAMES:
        X, y = sine_data(config.samples or SINE_SAMPLES)
        dataset = from_arrays(X, y, name=config.dataset, regression=True)
    elif config.dataset in SKLEARN_DATASETS:
        dataset = sklearn_data(config.dataset, regression)
    elif Path(config.dataset).suffix.lower() == ".npy":
        dataset = npy_dataset(config.dataset, config.label_column, regression)
    else:
        table = read_table(config.dataset, labelled=True, label_column=config.label_column, targets=regression)
        if not regression and (config.layers is None or not _declares_classes(config.layers, table.y)):
            _refuse_quantities(table, label_given=config.label_column is not None)
        dataset = from_table(table, regression)
    if config.layers is not None:
        check_layers(config.layers, dataset)
    return dataset


def _declares_classes(layers: tuple[int, ...], y: np.ndarray) -> bool:
    """Whether the layers end in as many outputs as y has different labels (the user counted them as classes)."""
    return layers[-1] == len(np.unique(y))


def _refuse_quantities(table: Table, label_given: bool) -> None:
    """A ConfigError, with what to do, if a file's label column looks like a quantity rather than classes."""
    if table.y is None or table.y.ndim != 1 or table.y.dtype.kind != "f":
        return
    values, counts = np.unique(table.y, return_counts=True)
    single = int(np.count_nonzero(counts == 1))
    spread = values[-1] - values[0] + 1 > 2 * len(values)
    if len(values) <= MANY_CLASSES or not (3 * single >= len(values) or spread):
        return
    other = "" if label_given else "if the label is another column, give --label-column; "
    raise ConfigError(
        f"{table.source}: the label column {table.label_name} holds {len(values)} different numbers from "
        f"{values[0]:g} to {values[-1]:g}, {single} of them in one row only: it looks like a quantity to predict, "
        f"not classes: to predict it, give --task regression; {other}if they are {len(values)} classes, say so "
        f"with --layers ending in {len(values)}"
    )


def check_layers(layers: tuple[int, ...], dataset: Dataset) -> None:
    """A ConfigError unless the layers take the data's features and end with its classes."""
    if layers[0] != dataset.num_features:
        raise ConfigError(f"layers: the data has {dataset.num_features} features, but layers start with {layers[0]}")
    if dataset.regression:
        if layers[-1] != dataset.num_outputs:
            count = dataset.num_outputs
            raise ConfigError(
                f"layers: the data has {count} target{'s' if count != 1 else ''}, but layers end with {layers[-1]}"
            )
        return
    if layers[-1] != dataset.num_classes:
        shown = ", ".join(str(label) for label in dataset.classes[:10]) + (", ..." if dataset.num_classes > 10 else "")
        raise ConfigError(
            f"layers: the data has {dataset.num_classes} classes ({shown}), but layers end with {layers[-1]}"
        )


def class_indices(classes: list[int | str], y) -> np.ndarray:
    """The class index (S,) of each label in y, labels as the run saw them; ConfigError for one it never saw."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ConfigError(f"labels: expected a (rows,) array of labels, got shape {y.shape}")
    index = {label: position for position, label in enumerate(classes)}
    text = bool(classes) and isinstance(classes[0], str)
    indices = np.empty(len(y), dtype=np.int64)
    for row, value in enumerate(y.tolist()):
        key = str(value) if text else _whole(value)
        if key not in index:
            shown = ", ".join(str(label) for label in classes)
            raise ConfigError(
                f"labels: row {row} has label {value!r}, which the network never learnt (classes: {shown})"
            )
        indices[row] = index[key]
    return indices


def _whole(value) -> int | None:
    """value as an int if it is a whole number, else None (which matches no class)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if float(value).is_integer() else None


def npy_dataset(path: str | Path, label_column: str | None = None, regression: bool = False) -> Dataset:
    """A .npy file's rows (features, the label in label_column or the last column): the labels read here, the
    features left in the file (`FileRows`) until something reads them."""
    array = open_npy(path)
    column = label_index(path, array.shape[1], label_column)
    y = np.asarray(array[:, column])
    if regression:
        targets = encode_targets(y, str(path))
        labels, classes = np.zeros(len(y), dtype=np.int64), ()
    else:
        targets = None
        labels, classes = encode_labels(y, str(path))
        if len(classes) < 2:
            raise ConfigError(f"{path}: needs at least two classes, found one")
    X = FileRows(path, np.arange(array.shape[0]), column, array.shape[1])
    return Dataset(str(Path(path)), X, labels, classes, targets=targets)
