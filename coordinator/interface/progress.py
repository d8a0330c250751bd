"""What a running search shows: a live line on a terminal, a line per round in a log, JSON lines for machines.

The driver hears of each climber as its result arrives (Ray actors report to it), so the display
lives here, in the driver: nothing needs drawing from inside the actors, and no progress-bar
library is needed for one line.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from coordinator.interface.labels import FigureNames
from coordinator.results.records import RoundRecord
from coordinator.rounds.best import Best

if TYPE_CHECKING:  # for annotations only: the stepper brings the executors and the workers with it
    from coordinator.rounds.stepper import Progress

REDRAW_SECONDS = 0.1  # a terminal's live line is redrawn at most this often
KEEP_LINE_SECONDS = 1.0  # on a terminal, a round's line is kept (scrolls up) at most this often


def _rate(value: float) -> str:
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.2f}{suffix}"
    return f"{value:.0f}"


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def mean_return(episodes: int) -> Callable[[float, float | None], str]:
    """How a round's best is shown for a policy: `return 187.40 on the round's 5 episodes`, minus the loss."""
    return FigureNames(episodes=episodes).training_figures


class LineProgress:
    """On a terminal: one live line, redrawn as climbers report, and a kept line about every second.

    Elsewhere (a pipe, a log file): exactly one line per round, nothing redrawn. Each figure is named by what it
    is (`names`, from `coordinator.interface.labels.figure_names`): the training rows' loss (with the L2 term where
    there is one) and score, the held-out rows' (without it), or a policy's return on the round's episodes.
    shown(loss, score), where given, says what the best is instead.
    """

    def __init__(
        self,
        time_budget: float | None,
        stream: TextIO | None = None,
        live: bool | None = None,
        notice: str | None = None,
        score_name: str = "accuracy",
        shown: Callable[[float, float | None], str] | None = None,
        names: FigureNames | None = None,
    ):
        """score_name: what a network's score is called ("accuracy", or a regressor's "R^2"), where names are not
        given (they name the loss too)."""
        self.names = names or FigureNames(score=score_name)
        self.shown = shown or self._best
        self.stream = stream or sys.stderr
        self.notice = notice  # printed once the search has checked its input and starts
        self.live = _is_terminal(self.stream) if live is None else live
        self.time_budget = time_budget
        self._clock = time.monotonic()  # when `_elapsed` was last known
        self._elapsed = 0.0  # the search's elapsed seconds at `_clock` (a resumed run starts above 0)
        self._last_draw = -math.inf
        self._last_kept = -math.inf
        self._open = False  # a live line is on screen without its newline

    def started(self) -> None:
        """The search passed its checks and its workers are up: say where results go."""
        if self.notice:
            self.stream.write(self.notice + "\n")
            self.stream.flush()

    def _best(self, loss: float, score: float | None) -> str:
        """The best on the training rows, named (a policy's return and an objective's value: as they are)."""
        shown = self.names.training_figures(loss, score)
        return shown if self.names.policy or self.names.score is None else f"training {shown}"

    def _elapsed_now(self) -> float:
        return self._elapsed + time.monotonic() - self._clock

    def _timing(self, elapsed_s: float) -> str:
        text = f"elapsed {elapsed_s:6.1f} s"
        if self.time_budget is not None:
            text += f"  left {max(0.0, self.time_budget - elapsed_s):6.1f} s"
        return text

    def _draw(self, line: str, keep: bool) -> None:
        width = shutil.get_terminal_size((120, 24)).columns - 1
        self.stream.write("\r" + line[:width] + "\x1b[K" + ("\n" if keep else ""))
        self.stream.flush()
        self._open = not keep

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Redraw the live line (terminals only, at most every REDRAW_SECONDS)."""
        now = time.monotonic()
        if not self.live or best is None or (now - self._last_draw < REDRAW_SECONDS and done < total):
            return
        self._last_draw = now
        self._draw(
            f"round {round_index:>5}  {self.names.parts} {done}/{total}  {self.shown(best.loss, _number(best.score))}  "
            f"{self._timing(self._elapsed_now())}",
            keep=False,
        )

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Show the round's line: printed in a log, drawn (and kept about every second) on a terminal."""
        now = time.monotonic()
        self._clock, self._elapsed = now, elapsed_s
        held_out = ""
        if record.validation_loss is not None:  # rows are held out: how the best does on them (no L2 term)
            held_out = f"held-out {self.names.held_out_figures(record.validation_loss, record.validation_score)}  "
        line = (
            f"round {record.round:>5}  {self.shown(record.best_loss, record.best_score)}  "
            f"{held_out}{_rate(record.evaluations_per_second)} evals/s  {self._timing(elapsed_s)}"
        )
        if not self.live:
            self.stream.write(line + "\n")
            self.stream.flush()
            return
        keep = now - self._last_kept >= KEEP_LINE_SECONDS
        if keep:
            self._last_kept = now
        self._last_draw = now
        self._draw(line, keep=keep)

    def close(self) -> None:
        """Keep the live line on screen and end it, so what is printed next starts on a line of its own."""
        if self._open:
            self.stream.write("\n")
            self.stream.flush()
            self._open = False


def _number(value: float) -> float | None:
    """A NaN score (an objective's climbers have none) as None."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _plain(value):
    """NaN and infinities become null: strict JSON has no words for them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class JsonProgress:
    """One JSON object per round on stdout: the round's record, elapsed_s, time_left_s (null without a budget), and
    `figures`: what each figure of the line is, in words (which rows, which loss, with or without the L2 term).

    returns: the run trains a policy; each line also gives best_return (minus best_loss). names: the words for the
    run's figures (`coordinator.interface.labels.figure_names`).
    """

    def __init__(
        self,
        stream: TextIO | None = None,
        time_budget: float | None = None,
        returns: bool = False,
        names: FigureNames | None = None,
    ):
        self.stream = stream or sys.stdout
        self.time_budget = time_budget
        self.returns = returns
        self.figures = (names or FigureNames()).descriptions()

    def started(self) -> None:
        """Nothing before the first round."""

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Nothing between rounds."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Write the round as one JSON line."""
        time_left = None if self.time_budget is None else max(0.0, self.time_budget - elapsed_s)
        fields = {**record.model_dump(mode="json"), "elapsed_s": elapsed_s, "time_left_s": time_left}
        if self.returns:
            fields["best_return"] = -record.best_loss
        fields["figures"] = {name: text for name, text in self.figures.items() if fields.get(name) is not None}
        self.stream.write(json.dumps({key: _plain(value) for key, value in fields.items()}, allow_nan=False) + "\n")
        self.stream.flush()

    def close(self) -> None:
        """Nothing to end."""


class ProgressGroup:
    """Several onlookers as one: each hears every event, in the order given."""

    def __init__(self, *progresses: Progress):
        self.progresses = progresses

    def started(self) -> None:
        """Tell each that rounds begin."""
        for progress in self.progresses:
            progress.started()

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Tell each that a climber reported."""
        for progress in self.progresses:
            progress.climber_done(round_index, done, total, best)

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Tell each that a round ended."""
        for progress in self.progresses:
            progress.round_done(record, elapsed_s)

    def close(self) -> None:
        """Tell each that the search ended."""
        for progress in self.progresses:
            progress.close()
