"""Pictures of a run: the data with the best network's decision regions, and the best loss and accuracy per round.

Rendered with matplotlib's Agg canvas on a private Figure: no window, no screen, and the caller's
pyplot state and backend are left alone. Each PNG is rendered to bytes, then written atomically.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from coordinator.checkpoint import CHECKPOINT_FILE, Checkpoint, load_checkpoint
from coordinator.config import ConfigError, SearchConfig
from coordinator.data import Dataset, load_dataset
from coordinator.files import atomic_write_bytes
from coordinator.reference import SeedFigure, seed_figure
from coordinator.result import RESULT_FILE, RoundRecord, load_result
from workers.network import Layout, logits, softmax

REGIONS_FILE = "decision_regions.png"
HISTORY_FILE = "history.png"
COLOR_MAP = "brg"  # the seed's colour map
DPI = 100
GRID_POINTS = 300  # per side of the decision-region grid


@dataclass(frozen=True)
class RunView:
    """What the plots need from a run, finished (result.json) or still going (checkpoint.npz)."""

    config: SearchConfig
    params: np.ndarray
    history: list[RoundRecord]
    best_loss: float
    best_accuracy: float
    rounds_completed: int
    evaluations: int
    wall_seconds: float
    finished: bool


def read_run(run_dir: str | Path) -> RunView:
    """The run's result, or its last checkpoint while it is going (first run, or resumed past the result)."""
    run_dir = Path(run_dir)
    has_result, has_checkpoint = (run_dir / RESULT_FILE).is_file(), (run_dir / CHECKPOINT_FILE).is_file()
    if not has_result and not run_dir.is_dir():
        raise ConfigError(f"{run_dir}: no such run directory")
    if not has_result and has_checkpoint:
        return _checkpoint_view(load_checkpoint(run_dir))
    result = load_result(run_dir)
    if has_checkpoint:
        try:
            checkpoint = load_checkpoint(run_dir)
        except ConfigError:
            checkpoint = None  # the finished result is enough
        if checkpoint is not None and checkpoint.rounds_completed > result.rounds_completed:
            return _checkpoint_view(checkpoint)
    return RunView(
        config=result.config,
        params=result.params,
        history=list(result.history),
        best_loss=result.best_loss,
        best_accuracy=result.best_accuracy,
        rounds_completed=result.rounds_completed,
        evaluations=result.evaluations,
        wall_seconds=result.wall_seconds,
        finished=True,
    )


def _checkpoint_view(checkpoint: Checkpoint) -> RunView:
    return RunView(
        config=checkpoint.config,
        params=checkpoint.best.outcome.params,
        history=list(checkpoint.history),
        best_loss=checkpoint.best.loss,
        best_accuracy=checkpoint.best.accuracy,
        rounds_completed=checkpoint.rounds_completed,
        evaluations=checkpoint.evaluations,
        wall_seconds=checkpoint.wall_seconds,
        finished=False,
    )


def run_dataset(config: SearchConfig) -> Dataset:
    """The run's data set, rebuilt from its config; a data file that is gone is a one-line ConfigError."""
    try:
        return load_dataset(config)
    except ConfigError as error:
        raise ConfigError(
            f"{error} (the plot redraws the run's data set {config.dataset!r}: put the file back at that path, "
            "or run plot from the directory the run was started in)"
        ) from None


def plot_run(run_dir: str | Path, output_dir: str | Path | None = None) -> list[Path]:
    """Write decision_regions.png (data with 2 features) and history.png for a run; return the paths.

    A run still going (only checkpoint.npz so far) is drawn as of its last finished round.

    Example:
        >>> import shutil, tempfile
        >>> from coordinator import SearchConfig, search
        >>> run_dir = Path(tempfile.mkdtemp())
        >>> config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=300, rounds=2)
        >>> _ = search(config, executor="inprocess", run_dir=run_dir)
        >>> [path.name for path in plot_run(run_dir)]
        ['decision_regions.png', 'history.png']
        >>> shutil.rmtree(run_dir)
    """
    run = read_run(run_dir)
    dataset = run_dataset(run.config)
    output = Path(output_dir) if output_dir is not None else Path(run_dir)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output}: not a directory; --output takes the directory to write the PNG files into")
    images = {}  # everything is rendered before anything is written
    if dataset.num_features == 2:
        images[REGIONS_FILE] = _render(_regions_figure(run, dataset))
    images[HISTORY_FILE] = _render(_history_figure(run, seed_figure(run.config)))
    paths = []
    for name, data in images.items():
        try:
            atomic_write_bytes(output / name, data)
        except OSError as error:
            raise ConfigError(f"{output / name}: cannot write ({error.strerror or error})") from None
        paths.append(output / name)
    return paths


def _render(figure) -> bytes:
    """PNG bytes of a figure, drawn on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _network_name(config: SearchConfig) -> str:
    return "-".join(str(size) for size in config.layers)


def _regions_figure(run: RunView, dataset: Dataset):
    """The data as the seed scatters it (brg), over the best network's class regions (paler where less sure)."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    X, labels, classes = dataset.X, dataset.labels, dataset.num_classes
    layout = Layout(tuple(run.config.layers))
    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.1 * (high - low), 0.05)
    low, high = low - margin, high + margin
    first = np.linspace(low[0], high[0], GRID_POINTS)
    second = np.linspace(low[1], high[1], GRID_POINTS)
    grid = np.stack(np.meshgrid(first, second), axis=-1).reshape(-1, 2)
    probabilities = softmax(logits(run.params, grid, layout))
    predicted = np.argmax(probabilities, axis=1)
    certainty = (probabilities.max(axis=1) - 1 / classes) / (1 - 1 / classes)

    color_map = colormaps[COLOR_MAP]
    norm = Normalize(vmin=0, vmax=classes - 1)
    colors = color_map(norm(predicted))
    colors[:, 3] = 0.12 + 0.33 * certainty
    image = colors.reshape(GRID_POINTS, GRID_POINTS, 4)

    data_predicted = np.argmax(softmax(logits(run.params, X, layout)), axis=1)
    wrong = data_predicted != labels

    figure = Figure(figsize=(6.4, 5.6))
    axes = figure.add_subplot()
    axes.imshow(
        image, origin="lower", extent=(low[0], high[0], low[1], high[1]), interpolation="nearest", aspect="auto"
    )
    size = 40 if len(X) <= 1000 else 12
    axes.scatter(X[:, 0], X[:, 1], c=labels, s=size, cmap=COLOR_MAP, norm=norm, edgecolors="white", linewidths=0.4)
    if wrong.any():
        axes.scatter(
            X[wrong, 0], X[wrong, 1], s=size * 2.2, facecolors="none", edgecolors="black", linewidths=1.0, zorder=3
        )
    axes.set_xlim(low[0], high[0])
    axes.set_ylim(low[1], high[1])
    axes.set_xlabel("feature 0")
    axes.set_ylabel("feature 1")
    state = "" if run.finished else ", in progress"
    axes.set_title(
        f"{Path(run.config.dataset).name} data, network {_network_name(run.config)}\n"
        f"best loss {run.best_loss:.4f}, accuracy {run.best_accuracy:.1%} "
        f"after {run.rounds_completed} round{'s' if run.rounds_completed != 1 else ''}{state}",
        fontsize=11,
    )
    handles = [
        Line2D([], [], marker="o", linestyle="", color=color_map(norm(k)), label=f"class {k}") for k in range(classes)
    ]
    handles.append(
        Line2D(
            [], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
            label=f"misclassified ({int(wrong.sum())})",
        )
    )  # fmt: skip
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 6), fontsize=9, frameon=False)
    figure.subplots_adjust(left=0.13, right=0.97, top=0.88, bottom=0.16)
    return figure


def _history_figure(run: RunView, seed: SeedFigure | None):
    """Best loss and accuracy after each round, with the chapter's figure as a dashed line where it ran this net."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter

    rounds = np.array([record.round for record in run.history])
    losses = np.array([record.best_loss for record in run.history])
    accuracies = np.array([record.best_accuracy for record in run.history])
    marker = "o" if len(rounds) <= 40 else None

    figure = Figure(figsize=(6.4, 5.2))
    loss_axes, accuracy_axes = figure.subplots(2, 1, sharex=True)
    loss_axes.plot(rounds, losses, color="tab:blue", marker=marker, markersize=4, label="best loss")
    accuracy_axes.plot(rounds, accuracies, color="tab:green", marker=marker, markersize=4, label="accuracy of the best")
    if seed is not None:
        label = f"the chapter's loop, {seed.iterations:,} steps"
        loss_axes.axhline(seed.loss, color="gray", linestyle="--", linewidth=1, label=f"{label}: {seed.loss}")
        accuracy_axes.axhline(
            seed.accuracy, color="gray", linestyle="--", linewidth=1, label=f"{label}: {seed.accuracy:.0%}"
        )
    finite = losses[np.isfinite(losses)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 3:
        loss_axes.set_yscale("log")
        loss_axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        loss_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
        loss_axes.yaxis.set_minor_formatter(NullFormatter())
    loss_axes.set_ylabel("cross-entropy loss")
    accuracy_axes.set_ylabel("accuracy")
    shown = np.concatenate([accuracies, [seed.accuracy] if seed is not None else []])
    spread = float(np.ptp(shown)) if shown.size else 1.0
    accuracy_axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0 if spread >= 0.05 else 1))
    accuracy_axes.set_xlabel("round")
    accuracy_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=9, loc="best")
    state = "" if run.finished else " (in progress)"
    figure.suptitle(
        f"{Path(run.config.dataset).name} data, network {_network_name(run.config)}: {run.rounds_completed} rounds, "
        f"{run.evaluations:,} evaluations, {run.wall_seconds:.1f} s{state}",
        fontsize=11,
    )
    figure.subplots_adjust(left=0.13, right=0.97, top=0.92, bottom=0.1, hspace=0.12)
    return figure
