"""Holding rows out: stratified splits that are a function of the labels and a seed alone."""

from __future__ import annotations

import numpy as np

# Salts that make a split's stream its own: never a climber's (those are keyed by round and climber).
VALIDATION_SALT = 0x76616C69  # "vali"
TEST_SALT = 0x74657374  # "test"


def stratified_split(labels: np.ndarray, fraction: float, seed: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept rows, held-out rows), sorted; each class gives round(fraction * its rows) to the held-out part.

    A class with two or more rows keeps at least one and, for a fraction above 0, gives at least one.
    """
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, salt])))
    held = []
    for label in np.unique(labels):  # classes in sorted order: the stream's use is fixed by the labels
        rows = np.flatnonzero(labels == label)
        count = min(max(round(fraction * len(rows)), 1 if fraction > 0 and len(rows) > 1 else 0), len(rows) - 1)
        held.append(generator.permutation(rows)[:count])
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out
