"""The chapter's own figures: what its loops reached on its data, the reference every comparison names.

Each is one experiment of the chapter: nnfs data after `nnfs.init()` (100 samples x 3 classes,
seed 0), the 2-3-3 network, 10,000 iterations of its loop (`bench/seed_reference.py` runs the
chapter's code and tests/workers/test_seed.py checks that it reproduces these).
"""

from __future__ import annotations

from dataclasses import dataclass

from coordinator.config import CHAPTER_SAMPLES, SearchConfig


@dataclass(frozen=True)
class SeedFigure:
    """Loss and accuracy the chapter's loop reached in one experiment."""

    dataset: str
    strategy: str
    loss: float
    accuracy: float
    layers: tuple[int, ...] = (2, 3, 3)
    iterations: int = 10_000

    @property
    def name(self) -> str:
        """'vertical-adjust', as the chapter's experiments are told apart."""
        return f"{self.dataset}-{self.strategy}"

    def describe(self) -> str:
        """One line that says what the figure is."""
        network = "-".join(map(str, self.layers))
        return (
            f"the chapter's {self.strategy} loop on {self.dataset}, network {network}, {self.iterations:,} steps: "
            f"training cross-entropy {self.loss}, accuracy {self.accuracy}"
        )


SEED_FIGURES = (
    SeedFigure("vertical", "random", 1.0964, 0.333),
    SeedFigure("vertical", "adjust", 0.1728, 0.93),
    SeedFigure("spiral", "adjust", 1.0791, 0.39),
)


def seed_figure(config: SearchConfig) -> SeedFigure | None:
    """The chapter's figure for exactly this config's data, network and strategy, if the chapter ran it."""
    if (config.samples or CHAPTER_SAMPLES, config.classes, config.data_seed) != (CHAPTER_SAMPLES, 3, 0):
        return None
    for figure in SEED_FIGURES:
        if (figure.dataset, figure.layers, figure.strategy) == (config.dataset, config.layers, config.strategy):
            return figure
    return None
