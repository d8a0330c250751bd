"""Keeping the global best: a pure choice over (loss, rank), whatever order reports arrive in."""

from __future__ import annotations

import math
from dataclasses import dataclass

from workers import ClimbReport, Solution

# The best so far is the report that won: its climber's outcome, tagged with its round and climber.
Best = ClimbReport


def better_of(current: Best | None, candidate: Best) -> Best:
    """The lower loss wins; on a tie the incumbent, then the lower climber index; NaN never wins.

    Among reports that are all NaN, the lowest climber index wins, so that with no number to
    choose by, arrival order still decides nothing.
    """
    if current is None:
        return candidate
    if math.isnan(candidate.loss):
        if math.isnan(current.loss) and _same_round_and_earlier(candidate, current):
            return candidate
        return current
    if math.isnan(current.loss) or candidate.loss < current.loss:
        return candidate
    if candidate.loss == current.loss and _same_round_and_earlier(candidate, current):
        return candidate
    return current


def _same_round_and_earlier(candidate: Best, current: Best) -> bool:
    return candidate.round_index == current.round_index and candidate.climber_index < current.climber_index


def start_of(best: Best | None) -> Solution | None:
    """Where the next round's climbers start: the best's parameters and step sizes (None: their own start)."""
    return None if best is None else Solution(best.outcome.params, best.outcome.step_sizes)


# How the network kept for held-out rows is chosen, in words (the summary says it): a classifier's, a regressor's.
SELECTION_RULE = "the best held-out accuracy, ties to the lower held-out loss"
REGRESSION_SELECTION_RULE = "the lowest held-out loss"


@dataclass(frozen=True)
class Selected:
    """The network kept for held-out rows: the best after round `round_index`, with its validation figures."""

    best: Best
    round_index: int
    validation_loss: float
    validation_score: float  # a classifier's held-out accuracy, a regressor's R^2


def _selection_key(selected: Selected) -> tuple[float, float]:
    """Larger is better: held-out accuracy, then the held-out loss negated (a NaN loss is the worst)."""
    loss = selected.validation_loss
    return selected.validation_score, -math.inf if math.isnan(loss) else -loss


def _loss_key(selected: Selected) -> float:
    """Larger is better: the held-out loss negated (a NaN loss is the worst)."""
    loss = selected.validation_loss
    return -math.inf if math.isnan(loss) else -loss


def selection_of(current: Selected | None, candidate: Selected, by_loss: bool = False) -> Selected:
    """The higher held-out accuracy wins; at equal accuracy the lower held-out loss; on a full tie the earlier round.

    Accuracy first, as scikit-learn's early stopping scores a classifier: cross-entropy on held-out
    rows can rise while accuracy rises too (a few rows wrong with more confidence), and a rule on
    loss alone would then keep an early network that gets fewer rows right (measured in
    BENCHMARKS.md, "Which network a run keeps").

    A regressor's (by_loss): the lower held-out loss alone (its loss is what it is judged by); on a tie the
    earlier round.
    """
    if current is None:
        return candidate
    key = _loss_key if by_loss else _selection_key
    return candidate if key(candidate) > key(current) else current
