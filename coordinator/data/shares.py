"""The training rows split into shares: which rows each share holds, how many shares "auto" makes, what is refused.

A split is a function of the labels, the number of shares and the run's seed alone (stratified by class,
drawn from a stream of its own): never of how many workers there are, nor of which worker holds what.
"""

from __future__ import annotations

import math

import numpy as np

# A split's stream is its own: never a climber's (keyed by round and climber) nor a held-out split's.
SHARE_SALT = 0x73686172  # "shar"
# "auto": at most this many steps per row of its share in a round of one climber that holds every share. Runs that
# made more stalled (bench/results/row_shares.md: 95 and 180 steps a row ended at 0.57 and 0.55 on 60,000 MNIST
# rows); runs with about 12 went on (60,000 rows in 16 shares, 4,000 in 4).
STEPS_PER_ROW = 16.0
# "auto" climbs on all rows (one share) unless every share keeps at least this many: shares were measured on
# MNIST-5k's 3,000-4,000 training rows and on 60,000 (bench/results/row_shares.md), never on the chapter's
# 300 rows nor scikit-learn's small sets, whose defaults were chosen on all rows.
MIN_SHARE_ROWS = 750
MAX_SHARES = 64
# A round is sized so that it climbs at least 4 times the work of its full passes (`coordinator.rounds.length`);
# one climber on shares makes 4 of them (3 candidates and its own network) over all rows: 16 passes' worth of steps.
ROUND_PASSES = 16.0


def assign_shares(labels: np.ndarray | None, rows: int, shares: int, seed: int) -> np.ndarray:
    """The share of each training row (rows,) int64: stratified by class, drawn from the seed.

    Each class's rows, in a seeded order, are dealt to the shares in turn, the deal going on from
    class to class (classes in sorted order): every share gets within one row of rows / shares, and
    within one row of its class's rows / shares of each class. labels None (a regressor's rows):
    every row is one class.
    """
    if not 1 <= shares <= rows:
        raise ValueError(f"shares: {shares} is not between 1 and the {rows:,} training rows")
    labels = np.zeros(rows, dtype=np.int64) if labels is None else np.asarray(labels)
    generator = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, SHARE_SALT])))
    assignment = np.empty(rows, dtype=np.int64)
    dealt = 0
    for label in np.unique(labels):
        members = generator.permutation(np.flatnonzero(labels == label))
        assignment[members] = (dealt + np.arange(len(members))) % shares
        dealt += len(members)
    return assignment


def share_rows(assignment: np.ndarray, shares: int) -> list[np.ndarray]:
    """Each share's rows (indices into the training rows), ascending: the order they are packed in."""
    return [np.flatnonzero(assignment == share) for share in range(shares)]


def auto_shares(rows: int, pass_steps: float, smallest_class: int | None = None) -> int:
    """The number of shares "auto" makes of `rows` training rows: a function of the data and the net, never of workers.

    pass_steps: a full pass's work in steps (`coordinator.rounds.length.pass_work / step_work`, the same for any
    rows: 230 on 784-32-10). One climber holding all S shares makes about ROUND_PASSES * pass_steps * S steps a
    round on a share of rows / S rows; S is the most shares that keep that at or below STEPS_PER_ROW steps a row,
    sqrt(rows * STEPS_PER_ROW / (ROUND_PASSES * pass_steps)), each share keeping MIN_SHARE_ROWS rows, within 1 and
    MAX_SHARES, and no more than the smallest class's rows: 3 for MNIST-5k's 3,000 training rows, 14 for 48,000;
    1 (no shares) on fewer than 1,500 rows.
    """
    shares = math.floor(math.sqrt(rows * STEPS_PER_ROW / (ROUND_PASSES * pass_steps)))
    shares = min(shares, rows // MIN_SHARE_ROWS, MAX_SHARES)
    if smallest_class is not None:
        shares = min(shares, smallest_class)
    return max(1, shares)


def share_problem(labels: np.ndarray | None, rows: int, shares: int) -> str | None:
    """What is wrong with this number of shares for these rows, in one line naming `shares`; None if nothing.

    More shares than rows leaves a share empty; a class with fewer rows than there are shares leaves
    some share without a row of it, so a climber there would never see that class.
    """
    if shares > rows:
        return f"shares: {shares} shares of {rows:,} training rows would leave a share empty"
    if labels is not None and shares > 1:
        classes, counts = np.unique(np.asarray(labels), return_counts=True)
        if counts.min() < shares:
            smallest = int(np.argmin(counts))
            return (
                f"shares: class {classes[smallest]} has {counts[smallest]} training rows, fewer than the {shares} "
                "shares: some share would have none of it"
            )
    return None
