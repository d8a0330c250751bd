"""Matching input columns to the features a network learnt: by name when both sides have names.

A data frame or a .csv with a header names its columns; a run on such data records its feature
names. Where both are known, columns are taken by name, in any order; a name missing or unknown is
an error in one line. Where either is unknown, columns are taken as they come, by position.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from coordinator.config import ConfigError

SHOWN_NAMES = 8  # a message lists at most this many names


def column_names(X) -> tuple[str, ...] | None:
    """The column names of a data frame (anything with text `columns`), or None for a plain array."""
    columns = getattr(X, "columns", None)
    if columns is None:
        return None
    names = tuple(columns)
    return names if names and all(isinstance(name, str) for name in names) else None


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(names[:SHOWN_NAMES])
    return shown + (f", ... ({len(names)} in all)" if len(names) > SHOWN_NAMES else "")


def match_columns(
    X: np.ndarray, given: Sequence[str] | None, expected: Sequence[str] | None, source: str
) -> np.ndarray:
    """X (rows, columns) with its columns in the order of the expected names; a ConfigError if they differ."""
    if given is None or expected is None:
        return X
    given, expected = list(given), list(expected)
    if given == expected:
        return X
    missing = [name for name in expected if name not in given]
    unknown = [name for name in given if name not in expected]
    repeated = sorted({name for name in given if given.count(name) > 1})
    if missing or unknown or repeated:
        problems = [
            *([f"missing {_listed(missing)}"] if missing else []),
            *([f"not learnt from {_listed(unknown)}"] if unknown else []),
            *([f"named twice {_listed(repeated)}"] if repeated else []),
        ]
        raise ConfigError(
            f"{source}: the columns are not the features the network learnt ({'; '.join(problems)}); "
            f"it learnt {_listed(expected)}"
        )
    return np.ascontiguousarray(X[:, [given.index(name) for name in expected]])
