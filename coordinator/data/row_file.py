"""Training rows that stay in their .npy file: read where they are needed, never gathered in this process.

A run on row shares whose data is a .npy file (a 2-D array of numbers, the label in one column, the
last by default) reads in this process its label column, its held-out rows and, a block of rows at a
time, what scaling and the data's SHA-256 need; each worker reads its own shares' rows from the file
(`workers.shares.ShareFile`), which every node must be able to read at the same path. `FileRows` stands
for the features of such rows where the code would hold an array: its length and shape are the rows',
a selection of it is another `FileRows`, and only turning it into an array reads it (`reads` counts
the rows read that way, so that a test can tell that the training rows never were).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from coordinator.config import ConfigError

BLOCK_ROWS = 4096  # rows read at a time when streaming: a few MB of a 784-wide file


def open_npy(path: str | Path) -> np.ndarray:
    """The .npy file as a read-only memory map of a 2-D array of numbers, or a ConfigError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such data file")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:
        raise ConfigError(f"{path}: not a .npy array of numbers (pickled files are never loaded)") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    if array.ndim != 2 or array.shape[1] < 2 or array.dtype.kind not in "iuf":
        raise ConfigError(
            f"{path}: expected a 2-D array of numbers, features and a label column, got {array.dtype} {array.shape}"
        )
    return array


def label_index(path: str | Path, columns: int, label_column: str | None) -> int:
    """The label column's index in a .npy file of `columns` columns (the last unless given as a 0-based index)."""
    if label_column is None:
        return columns - 1
    try:
        index = int(label_column)
    except ValueError:
        raise ConfigError(
            f"label_column: a .npy file has no header; give a 0-based index, got {label_column!r}"
        ) from None
    if not -columns <= index < columns:
        raise ConfigError(f"label_column: {index} is not a column of {path} ({columns} columns)")
    return index % columns


class FileRows:
    """The features of some rows of a .npy file, read only when an array of them is asked for."""

    reads = 0  # rows read into arrays by `__array__`, in this process: a test's witness

    def __init__(
        self,
        path: str | Path,
        rows: np.ndarray,
        label_column: int,
        columns: int,
        offset: np.ndarray | None = None,
        scale: np.ndarray | None = None,
    ):
        """offset, scale: the features as they are read are (x - offset) / scale (none: the file's own values)."""
        self.path = str(Path(path).resolve())
        self.rows = np.asarray(rows, dtype=np.int64)  # (S,) the file's rows, in this order
        self.label_column = label_column
        self.columns = columns  # of the file, the label's included
        self.offset, self.scale = offset, scale

    def scaled(self, offset: np.ndarray | None, scale: np.ndarray | None) -> FileRows:
        """The same rows, read as (x - offset) / scale."""
        return FileRows(self.path, self.rows, self.label_column, self.columns, offset, scale)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, features)."""
        return len(self.rows), self.columns - 1

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, positions) -> FileRows:
        """The rows at these positions (indices into this selection), still in the file."""
        return FileRows(self.path, self.rows[positions], self.label_column, self.columns, self.offset, self.scale)

    def blocks(self, raw: bool = False) -> Iterator[np.ndarray]:
        """The features, BLOCK_ROWS rows at a time, float64 (rows, features), in order; scaled unless raw."""
        array = np.load(self.path, mmap_mode="r", allow_pickle=False)
        features = [column for column in range(self.columns) if column != self.label_column]
        for low in range(0, len(self.rows), BLOCK_ROWS):
            block = np.asarray(array[self.rows[low : low + BLOCK_ROWS]][:, features], dtype=np.float64)
            yield block if raw or self.scale is None else (block - self.offset) / self.scale

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """Every row read (what a run on every row, or one on held-out rows, needs)."""
        FileRows.reads += len(self.rows)
        values = np.concatenate(list(self.blocks())) if len(self.rows) else np.zeros(self.shape)
        return values if dtype is None else values.astype(dtype)

    def statistics(self) -> dict[str, np.ndarray | int]:
        """Per feature of the file's values: count, mean, standard deviation (population), min, max, max |x|, and the
        nonzeros of all features, streamed block by block in row order (a ConfigError names a value that is not
        finite)."""
        count = 0
        total = np.zeros(self.shape[1])
        low, high, largest = np.full(self.shape[1], np.inf), np.full(self.shape[1], -np.inf), np.zeros(self.shape[1])
        nonzeros = 0
        for start, block in zip(range(0, len(self.rows), BLOCK_ROWS), self.blocks(raw=True), strict=True):
            if not np.all(np.isfinite(block)):
                row, column = (int(index) for index in np.argwhere(~np.isfinite(block))[0])
                raise ConfigError(f"{self.path}: row {self.rows[start + row]}, column {column} is {block[row, column]}")
            count += len(block)
            total += block.sum(axis=0)
            low, high = np.minimum(low, block.min(axis=0)), np.maximum(high, block.max(axis=0))
            largest = np.maximum(largest, np.abs(block).max(axis=0))
            nonzeros += int(np.count_nonzero(block))
        mean = total / max(count, 1)
        squares = np.zeros(self.shape[1])
        for block in self.blocks(raw=True):  # a second pass: deviations from the mean, as numpy's std takes them
            squares += ((block - mean) ** 2).sum(axis=0)
        return {
            "count": count, "mean": mean, "std": np.sqrt(squares / max(count, 1)), "min": low, "max": high,
            "absmax": largest, "nonzeros": nonzeros,
        }  # fmt: skip

    def sha256(self, labels: np.ndarray) -> str:
        """`Dataset.sha256` of these rows (as the file has them) and their class indices, streamed: the same digest
        as of the rows in memory."""
        digest = hashlib.sha256()
        for block in self.blocks(raw=True):
            digest.update(np.ascontiguousarray(block, dtype=np.float64).tobytes())
        digest.update(np.ascontiguousarray(labels, dtype=np.int64).tobytes())
        return digest.hexdigest()
