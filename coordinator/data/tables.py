"""Reading data files: the one reader for training, prediction and evaluation.

A .csv file: UTF-8 with or without a byte-order mark, any line ending, blank lines skipped, an
optional header row (told apart by its words above numbers); columns separated by commas, or by
semicolons or tabs where no comma separates them (with a note). Every column is a feature but the
label column, when one is read: the last by default, or one named by its header or its 0-based
index. An unnamed first column of whole numbers, a different one in every row, is the row index
pandas' `to_csv()` writes (shuffled or not): it is dropped, with a note, and never learnt from;
any other column like it (a row number, an ID) is named in a note. Labels may be numbers or text;
a label pandas would read as missing (NA, NaN, null, ...) is refused, never made a class.

A .npz file: an array X (rows, features) and, when labels are read, an array y (numbers or
text; one-hot rows are accepted too). Nothing in it is ever unpickled.
"""

from __future__ import annotations

import csv
import io
import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coordinator.config import ConfigError
from coordinator.data.row_file import label_index, open_npy

# Header cells pandas writes above its row index.
INDEX_HEADERS = ("", "Unnamed: 0")
# Column separators, the first that splits every row alike winning; a comma where it does.
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
SNIFF_LINES = 50
# What pandas' read_csv reads as a missing value (its default na_values): never a class.
MISSING_VALUES = frozenset(
    {"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA"}
    | {"NULL", "NaN", "None", "n/a", "nan", "null"}
)
# A column of whole numbers, a different one in every row, over a span of at most this many per row,
# is a row number or an ID (named in a note once the file has at least ID_NOTE_ROWS rows).
ID_SPAN_PER_ROW = 10
ID_NOTE_ROWS = 10


@dataclass(frozen=True)
class Table:
    """What a data file holds: features, the label column when asked for, and what the reader did."""

    source: Path
    X: np.ndarray  # (rows, features) float64
    y: np.ndarray | None  # (rows,) as written: numbers (float64) or text (str); (rows, classes) one-hot from .npz
    feature_names: tuple[str, ...] | None  # from a header row
    notes: tuple[str, ...] = ()  # what the reader did that a person should know
    label_name: str | None = None  # the label column's header, or its 0-based index as text
    label_header: str | None = None  # the label column's header, where the file names it (None: no header row)


def read_table(
    path: str | Path,
    *,
    labelled: bool,
    label_column: str | int | None = None,
    kind: str = "data file",
    targets: bool = False,
    label_header: str | None = None,
) -> Table:
    """The table in a .csv, .npz or .npy file; a ConfigError names the file, the line and the problem.

    targets: the label column holds a regressor's targets (any numbers) rather than classes. label_header: the
    label column's name as a run recorded it: where this file's header has it, that column is the label, wherever
    it stands (label_column is for a file that does not name it).
    """
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; expected a .csv, .npz or .npy {kind}")
    if not path.is_file():
        raise ConfigError(f"{path}: no such {kind}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        if label_column is not None:
            raise ConfigError(f"{path}: a .npz file keeps its labels in array y; --label-column is for .csv files")
        return _read_npz(path, labelled)
    if suffix == ".csv":
        return _read_csv(path, labelled, label_column, targets, label_header)
    if suffix == ".npy":
        return _read_npy(path, labelled, label_column)
    raise ConfigError(f"{path}: unknown {kind} type {suffix or '(none)'!r}; use a .csv, .npz or .npy file")


def _read_npy(path: Path, labelled: bool, label_column: str | int | None) -> Table:
    """A 2-D .npy array of numbers: features, and (labelled) the label in label_column or the last column."""
    array = open_npy(path) if labelled else _features_npy(path)
    if not labelled:
        return Table(path, np.asarray(array, dtype=np.float64), None, None)
    column = label_index(path, array.shape[1], None if label_column is None else str(label_column))
    features = [index for index in range(array.shape[1]) if index != column]
    X, y = np.asarray(array[:, features], dtype=np.float64), np.asarray(array[:, column], dtype=np.float64)
    return Table(path, X, y, None, label_name=str(column))


def _features_npy(path: Path) -> np.ndarray:
    """An unlabelled .npy array of features (rows, features), or a ConfigError naming the file."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError):
        raise ConfigError(f"{path}: not a .npy array of numbers (pickled files are never loaded)") from None
    if array.ndim != 2 or array.dtype.kind not in "iuf":
        raise ConfigError(f"{path}: expected a 2-D array of numbers (rows, features), got {array.dtype} {array.shape}")
    return array


def _read_npz(path: Path, labelled: bool) -> Table:
    """Arrays X (and y) of a .npz archive."""
    try:
        archive = np.load(path, allow_pickle=False)
    except ValueError:  # neither .npz nor .npy: np.load would have to unpickle it, and never does
        raise ConfigError(f"{path}: not a .npz archive (pickled files are never loaded)") from None
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ConfigError(f"{path}: not a readable .npz file (truncated or corrupt)") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ConfigError(f"{path}: holds one .npy array; save X and y with np.savez")
    with archive:
        wanted = ("X", "y") if labelled else ("X",)
        missing = [key for key in wanted if key not in archive.files]
        if missing:
            found = ", ".join(archive.files) or "nothing"
            raise ConfigError(f"{path}: missing array {' and '.join(missing)} (found: {found})")
        try:
            X, y = archive["X"], archive["y"] if labelled else None
        except ValueError:
            raise ConfigError(
                f"{path}: X or y is not an array of plain numbers or text (object arrays are never unpickled) "
                "or is corrupt"
            ) from None
        except (zipfile.BadZipFile, OSError, EOFError):
            raise ConfigError(f"{path}: not a readable .npz file (truncated or corrupt)") from None
    if X.dtype.kind not in "biuf":
        raise ConfigError(f"{path}: array X holds {X.dtype} values; expected numbers")
    if X.ndim == 1:
        X = X[:, None]  # one feature per row
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ConfigError(f"{path}: expected X of (rows, features), got an array of shape {X.shape}")
    if y is not None:
        if y.dtype.kind == "S":
            y = np.char.decode(y, "utf-8")
        if y.dtype.kind not in "biufU":
            raise ConfigError(f"{path}: array y holds {y.dtype} values; expected numbers or text")
    X = X.astype(np.float64)
    if not np.all(np.isfinite(X)):
        row, column = (int(index) for index in np.argwhere(~np.isfinite(X))[0])
        raise ConfigError(f"{path}: X must be finite numbers, got {X[row, column]} (row {row}, column {column})")
    return Table(path, X, y, None)


def _read_csv(
    path: Path, labelled: bool, label_column: str | int | None, targets: bool = False, label_header: str | None = None
) -> Table:
    """The rows of a .csv file (see the module's docstring)."""
    rows, delimiter = _csv_rows(path)
    notes = []
    if delimiter != ",":
        notes.append(f"{path}: read as {DELIMITERS[delimiter]}-separated (no commas between its columns)")
    header = None
    if len(rows) >= 1 and _is_header(rows):
        header = [cell.strip() for cell in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise ConfigError(f"{path}: no data rows")
    width = len(header) if header is not None else len(rows[0][1])
    for number, cells in rows:
        if len(cells) != width:
            raise ConfigError(f"{path}: line {number} has {len(cells)} columns, expected {width}")
    columns = list(range(width))
    if labelled and header is not None and label_header is not None and label_header in header:
        label_column = label_header  # the run's label by its name, wherever this file puts it
    label = _label_index(path, header, width, label_column) if labelled else None

    def name(column: int) -> str:
        return header[column] if header is not None and header[column] else str(column)

    def texts(column: int) -> list[str]:
        return [cells[column].strip() for _number, cells in rows]

    if header is not None and header[0] in INDEX_HEADERS and label != 0 and _looks_like_ids(texts(0)):
        columns.remove(0)
        notes.append(
            f"{path}: dropped the first column, an unnamed row index (a different whole number in every row, "
            "as pandas' to_csv() writes it)"
        )
    feature_columns = [column for column in columns if column != label]
    if not feature_columns:
        raise ConfigError(
            f"{path}: each row needs at least one feature besides the label"
            + ("" if width > 1 else " (one column: are its columns separated by something other than , ; or tab?)")
        )
    if len(rows) >= ID_NOTE_ROWS:
        for column in feature_columns:
            if _looks_like_ids(texts(column)):
                notes.append(
                    f"{path}: column {name(column)} holds a different whole number in every row, like a row number "
                    "or an ID; it is learnt from as a feature (remove it from the file if it is an ID)"
                )
    choose_label = labelled and label_column is None

    X = np.empty((len(rows), len(feature_columns)))
    for row, (number, cells) in enumerate(rows):
        for position, column in enumerate(feature_columns):
            text = cells[column].strip()
            try:
                value = float(text)
            except ValueError:
                shown = "is empty" if not text else f"has {text!r}, not a number"
                if re.fullmatch(r"[-+]?\d+,\d+", text):
                    shown += " (decimal commas are not read: write 1.5, not 1,5)"
                elif text and choose_label:
                    shown += f"; if it is the label, give --label-column {_flag_value(name(column))}"
                raise ConfigError(f"{path}: line {number}, column {name(column)} {shown}") from None
            if not math.isfinite(value):
                raise ConfigError(f"{path}: line {number}, column {name(column)} has {text!r}, not a finite number")
            X[row, position] = value
    y = None
    if label is not None:
        cells = texts(label)
        for (number, _cells), cell in zip(rows, cells, strict=True):
            if not cell:
                raise ConfigError(f"{path}: line {number} has no label (column {name(label)} is empty)")
            if cell in MISSING_VALUES:
                raise ConfigError(
                    f"{path}: line {number} has no label (column {name(label)} holds {cell!r}, a missing value); "
                    "remove the row, or give it its class"
                )
        numbers = _numbers(cells)
        if targets and numbers is None:
            row = next(row for row, cell in enumerate(cells) if _numbers([cell]) is None)
            raise ConfigError(
                f"{path}: line {rows[row][0]}, column {name(label)} has {cells[row]!r}; a regressor's targets must be "
                "numbers (for classes, leave out --task regression)"
            )
        if numbers is not None and not targets:
            fractional = next((row for row, value in enumerate(numbers) if not float(value).is_integer()), None)
            if fractional is not None:
                hint = " (the label is the last column; give --label-column if it is another)" if choose_label else ""
                raise ConfigError(
                    f"{path}: line {rows[fractional][0]}, column {name(label)} has {cells[fractional]!r}; "
                    f"labels must be whole numbers or text{hint}; to predict numbers, give --task regression"
                )
        y = np.asarray(numbers, dtype=np.float64) if numbers is not None else np.asarray(cells, dtype=str)
    names = tuple(name(column) for column in feature_columns) if header is not None else None
    label_name = name(label) if label is not None else None
    header_name = header[label] if label is not None and header is not None and header[label] else None
    return Table(path, X, y, names, tuple(notes), label_name, header_name)


def _flag_value(name: str) -> str:
    """A column name as it is typed after a flag: quoted when the shell would split it."""
    return name if re.fullmatch(r"[\w.-]+", name) else repr(name)


def _csv_rows(path: Path) -> tuple[list[tuple[int, list[str]]], str]:
    """(line number, cells) of every row that is not blank, and the column separator found."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text (UTF-8) .csv file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror or error})") from None
    delimiter = _delimiter(text)
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        rows = []
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as error:
        raise ConfigError(f"{path}: not a readable .csv file ({error})") from None
    return rows, delimiter


def _delimiter(text: str) -> str:
    """The separator of a file's columns: the first of , ; tab that splits its first lines alike, into two or more."""
    sample = "\n".join([line for line in text.splitlines() if line.strip()][:SNIFF_LINES])
    for delimiter in DELIMITERS:
        try:
            widths = {len(cells) for cells in csv.reader(io.StringIO(sample), delimiter=delimiter) if cells}
        except csv.Error:
            continue
        if len(widths) == 1 and widths.pop() > 1:
            return delimiter
    return ","


def _looks_like_ids(cells: list[str]) -> bool:
    """Whether the cells are whole numbers >= 0, a different one in every row, close together (an index, an ID)."""
    if not all(cell.isdigit() for cell in cells):
        return False
    numbers = [int(cell) for cell in cells]
    return len(set(numbers)) == len(numbers) and max(numbers) - min(numbers) < ID_SPAN_PER_ROW * len(numbers)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _numbers(cells: list[str]) -> list[float] | None:
    """The cells as numbers, or None if any is not one."""
    try:
        return [float(cell) for cell in cells]
    except ValueError:
        return None


def _is_header(rows: list[tuple[int, list[str]]]) -> bool:
    """Whether the first row names the columns: words where the next row has numbers (or nothing but words)."""
    first = rows[0][1]
    if all(_is_number(cell) for cell in first):
        return False
    if len(rows) == 1 or not any(_is_number(cell) for cell in first):
        return True
    second = rows[1][1]
    return any(not _is_number(a) and _is_number(b) for a, b in zip(first, second, strict=False))


def _label_index(path: Path, header: list[str] | None, width: int, label_column: str | int | None) -> int:
    """The 0-based index of the label column: the last, or the one named by header name or index."""
    if label_column is None:
        return width - 1
    if isinstance(label_column, str):
        if header is not None and label_column.strip() in header:
            return header.index(label_column.strip())
        try:
            label_column = int(label_column)
        except ValueError:
            names = ", ".join(header) if header is not None else "the file has no header row; give the index"
            raise ConfigError(f"label_column: no column named {label_column!r} in {path} ({names})") from None
    if not -width <= label_column < width:
        raise ConfigError(f"label_column: {path} has {width} columns (0..{width - 1}), got index {label_column}")
    return label_column % width
