"""Holding rows out: stratified splits that are a function of the labels and a seed alone."""

from __future__ import annotations

import numpy as np

# Salts that make a split's stream its own: never a climber's (those are keyed by round and climber).
VALIDATION_SALT = 0x76616C69  # "vali"
TEST_SALT = 0x74657374  # "test"
# One row from each class may hold out more than the fraction asked (many classes of few rows); beyond
# this many times round(fraction * rows) (plus one row), the fraction wins and some classes give none.
OVERSHOOT = 1.25


def held_out_counts(class_sizes: np.ndarray, fraction: float) -> np.ndarray:
    """Rows each class gives to the held-out part: round(fraction * its rows), about fraction of all rows.

    A class with two or more rows keeps at least one and, for a fraction above 0, gives at least one,
    unless one from each class would hold out more than OVERSHOOT times the fraction asked: then
    round(fraction * rows) are held out in all, shared by largest remainder (ties: the earlier class).
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    least = 1 if fraction > 0 else 0
    counts = np.array([min(max(round(fraction * size), least if size > 1 else 0), size - 1) for size in sizes])
    target = round(fraction * sizes.sum())
    if counts.sum() <= OVERSHOOT * target + 1:
        return counts
    shares = fraction * sizes
    counts = np.minimum(np.floor(shares).astype(np.int64), np.maximum(sizes - 1, 0))
    for index in sorted(range(len(sizes)), key=lambda index: (counts[index] - shares[index], index)):
        if counts.sum() >= target:
            break
        if counts[index] < sizes[index] - 1:
            counts[index] += 1
    return counts


def stratified_split(labels: np.ndarray, fraction: float, seed: int, salt: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept rows, held-out rows), sorted; each class gives held_out_counts' share, drawn from the seed."""
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, salt])))
    classes = np.unique(labels)  # in sorted order: the stream's use is fixed by the labels
    counts = held_out_counts(np.array([np.count_nonzero(labels == label) for label in classes]), fraction)
    held = [
        generator.permutation(np.flatnonzero(labels == label))[:count]
        for label, count in zip(classes, counts, strict=True)
    ]
    held_out = np.sort(np.concatenate(held)) if held else np.zeros(0, dtype=np.int64)
    kept = np.setdiff1d(np.arange(len(labels)), held_out)
    return kept, held_out
