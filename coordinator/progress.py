"""What a running search shows: a live line per round on a terminal, JSON lines for machines."""

from __future__ import annotations

import json
import sys
from typing import TextIO

from coordinator.best import Best
from coordinator.result import RoundRecord


def _rate(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


class LineProgress:
    """One line per round; on a terminal the line also moves while a round's climbers report."""

    def __init__(self, time_budget_s: float | None, stream: TextIO | None = None):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.time_budget_s = time_budget_s

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Redraw the live line (terminals only)."""
        if self.live and best is not None:
            self.stream.write(f"\rround {round_index:>5}  climbers {done}/{total}  best loss {best.loss:.5f}\x1b[K")
            self.stream.flush()

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Print the round's line."""
        left = ""
        if self.time_budget_s is not None:
            left = f"  left {max(0.0, self.time_budget_s - elapsed_s):5.1f} s"
        line = (
            f"round {record.round:>5}  best loss {record.best_loss:.5f}  accuracy {record.best_accuracy:.3f}  "
            f"{_rate(record.evaluations_per_second)} evals/s  elapsed {elapsed_s:6.1f} s{left}"
        )
        self.stream.write(("\r" + line + "\x1b[K\n") if self.live else line + "\n")
        self.stream.flush()


class JsonProgress:
    """One JSON object per round on stdout."""

    def __init__(self, stream: TextIO | None = None):
        self.stream = stream or sys.stdout

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Nothing between rounds."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Write the round as one JSON line."""
        self.stream.write(json.dumps({**record.model_dump(mode="json"), "elapsed_s": elapsed_s}) + "\n")
        self.stream.flush()
