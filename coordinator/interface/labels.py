"""What each figure of a run is, in words: on which rows, which loss, with or without the L2 term.

The one place for the names that the summary, the progress lines, the plots' titles and `--log-json` give a
run's figures. The climbs minimise the training loss (`best_loss`): a classifier's cross-entropy or error
rate, a regressor's MSE or MAE, with the L2 term where l2 > 0. Held-out and test rows are scored without
the L2 term: a classifier's by its cross-entropy whatever it climbed, a regressor's by its own loss. A
run without rows minimises its objective, or minus a policy's mean return over a round's episodes.
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.config import CHAPTER_DATASETS, OBJECTIVE, SearchConfig, default_l2, resolved_task
from coordinator.results.records import DataRecord
from workers.population import POPULATION_SEARCHES
from workers.settings import resolved_loss

LOSS_WORDS = {"cross_entropy": "cross-entropy", "error": "error rate", "mse": "MSE", "mae": "MAE"}


@dataclass(frozen=True)
class FigureNames:
    """The words for a run's figures (`figure_names`); the defaults say no more than a record's field names."""

    loss: str = "loss"  # the training loss as the climbs minimise it: "cross-entropy + L2", "MSE", "the objective"
    held_out_loss: str = "loss"  # the held-out and test rows' loss, never with the L2 term: "cross-entropy"
    score: str | None = "accuracy"  # "accuracy", "R^2", or None (an objective, a policy)
    penalised: bool | None = None  # the training loss has the L2 term (None: not known)
    training_rows: int | None = None
    held_out_rows: int | None = None
    test_rows: int | None = None
    episodes: int | None = None  # a policy's: the episodes a round scores it on (its loss is minus their mean return)
    parts: str = "climbers"  # what reports in a round: climbers, or a population's groups of candidates

    @property
    def policy(self) -> bool:
        """Whether the loss is minus a policy's mean return."""
        return self.episodes is not None

    def training(self) -> str:
        """ "training rows (240)" or "training rows"."""
        return "training rows" + (f" ({self.training_rows:,})" if self.training_rows is not None else "")

    def held_out(self) -> str:
        """ "held-out rows (60)" or "held-out rows"."""
        return "held-out rows" + (f" ({self.held_out_rows:,})" if self.held_out_rows is not None else "")

    def training_figures(self, loss: float, score: float | None, digits: int = 5) -> str:
        """ "cross-entropy + L2 0.07950, accuracy 0.963" (a policy: "return 187.40 on this round's 5 episodes")."""
        if self.policy:
            return f"return {-loss:.2f} on the round's {self.episodes} episodes"
        if self.score is None or score is None:
            return f"{self.loss} {loss:.6g}"
        return f"{self.loss} {loss:.{digits}f}, {self.score} {score:.3f}"

    def held_out_figures(self, loss: float, score: float | None, digits: int = 5) -> str:
        """ "cross-entropy 0.65800, accuracy 0.950" (without the L2 term)."""
        shown = f"{self.held_out_loss} {loss:.{digits}f}"
        return shown if score is None or self.score is None else f"{shown}, {self.score} {score:.3f}"

    def descriptions(self) -> dict[str, str]:
        """What each figure of a round's record is, by its field name, as `--log-json` gives it."""
        if self.policy:
            return {
                "best_loss": f"minus the mean return of the kept policy on the round's {self.episodes} training "
                "episodes (scored again each round, on new episodes)",
                "best_return": f"the kept policy's mean return on the round's {self.episodes} training episodes",
            }
        if self.score is None:
            return {"best_loss": "the objective's value at the kept parameters (measured under the round's seed)"}
        score_field = "r2" if self.score == "R^2" else "accuracy"
        penalty = {True: "with the L2 term", False: "no L2 term (l2 is 0)", None: "with the L2 term where l2 > 0"}[
            self.penalised
        ]
        described = {
            "best_loss": f"{self.training()}: {self.loss.removesuffix(' + L2')}, {penalty}; what the climbs minimise",
            f"best_{score_field}": f"{self.training()}: {self.score}",
        }
        described["winning_share"] = (
            "row shares: the share of the training rows the round's leading climber climbed on (the one whose share's "
            "loss fell most); absent without shares"
        )
        if self.held_out_rows is not None:
            described["validation_loss"] = (
                f"{self.held_out()}: {self.held_out_loss}, without the L2 term, of the round's best network"
            )
            described[f"validation_{score_field}"] = f"{self.held_out()}: {self.score} of the round's best network"
        return described


def figure_names(config: SearchConfig, data: DataRecord | None = None) -> FigureNames:
    """The words for the figures of a run of this (resolved) config, on the rows data records."""
    parts = "candidate groups" if config.search in POPULATION_SEARCHES else "climbers"
    if config.env is not None:
        return FigureNames(
            loss="minus the mean return", held_out_loss="", score=None, episodes=config.episodes, parts=parts
        )
    if config.dataset == OBJECTIVE:
        return FigureNames(loss="objective", held_out_loss="", score=None, parts=parts)
    regression = resolved_task(config) == "regression"
    loss = resolved_loss(config.loss, regression)
    penalised = bool(config.l2 if config.l2 is not None else default_l2(config.dataset in CHAPTER_DATASETS))
    return FigureNames(
        loss=LOSS_WORDS[loss] + (" + L2" if penalised else ""),
        held_out_loss=LOSS_WORDS[loss if regression else "cross_entropy"],
        score="R^2" if regression else "accuracy",
        penalised=penalised,
        training_rows=data.rows if data is not None else None,
        held_out_rows=data.validation.rows if data is not None and data.validation is not None else None,
        test_rows=data.test.rows if data is not None and data.test is not None else None,
    )
