"""Pictures of a run: the data with the best network's decision regions, and the best loss and accuracy per round.

A regressor's: its fit (the data and the network's curve for one input feature, predicted against true
values otherwise), and the best loss and R^2 per round.

Rendered with matplotlib's Agg canvas on a private Figure: no window, no screen, and the caller's
pyplot state and backend are left alone. Each PNG is rendered to bytes, then written atomically.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from cluster.atomic_files import atomic_write_bytes
from coordinator.config import ARRAYS, OBJECTIVE, ConfigError, SearchConfig
from coordinator.data.datasets import Dataset, load_dataset
from coordinator.data.scaling import Scaling
from coordinator.interface.labels import figure_names
from coordinator.interface.reference import SeedFigure, seed_figure
from coordinator.results.evaluation import Evaluation, regression_evaluation_of
from coordinator.results.records import DataRecord, RoundRecord
from coordinator.results.result import load_result
from coordinator.results.run_files import CHECKPOINT_FILE, FIT_FILE, HISTORY_FILE, REGIONS_FILE, RESULT_FILE
from coordinator.rounds.checkpoint import Checkpoint, load_checkpoint
from workers.network import Layout, logits, softmax

COLOR_MAP = "brg"  # the seed's colour map
DPI = 100
GRID_POINTS = 300  # per side of the decision-region grid


@dataclass(frozen=True)
class RunView:
    """What the plots need from a run, finished (result.json) or still going (checkpoint.npz)."""

    config: SearchConfig
    params: np.ndarray
    scaling: Scaling
    data: DataRecord | None
    history: list[RoundRecord]
    best_loss: float
    best_score: float | None  # a classifier's accuracy, a regressor's R^2 (None: the run minimised an objective)
    selected_round: int | None
    rounds_completed: int
    evaluations: int
    wall_seconds: float
    finished: bool
    target_scaling: Scaling | None = None

    @property
    def regression(self) -> bool:
        """Whether the network predicts numbers."""
        return self.config.task == "regression"

    def predict_values(self, X: np.ndarray) -> np.ndarray:
        """A regressor's predictions (S, T) for raw features X (S, F), in the targets' units."""
        outputs = logits(self.params, self.scaling.apply(X), self.layout)
        return (self.target_scaling or Scaling(kind="none")).invert(outputs)

    @property
    def classes(self) -> list[int | str]:
        """The label each output stands for."""
        return list(self.data.class_labels) if self.data is not None else list(range(self.config.layers[-1]))

    @property
    def layout(self) -> Layout:
        """The run's network: its layers, activation and weights' grid."""
        return Layout(tuple(self.config.layers), self.config.activation, self.config.weights)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (S, C) of the run's network for raw features X (S, F)."""
        return softmax(logits(self.params, self.scaling.apply(X), self.layout))


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
        scaling=result.scaling,
        data=result.data,
        history=list(result.history),
        best_loss=result.best_loss,
        best_score=result.best_score,
        selected_round=result.selected_round,
        rounds_completed=result.rounds_completed,
        evaluations=result.evaluations,
        wall_seconds=result.wall_seconds,
        finished=True,
        target_scaling=result.target_scaling,
    )


def _checkpoint_view(checkpoint: Checkpoint) -> RunView:
    kept = checkpoint.selected.best if checkpoint.selected is not None else checkpoint.best
    return RunView(
        config=checkpoint.config,
        params=kept.outcome.params,
        scaling=checkpoint.scaling or Scaling(kind="none"),
        data=checkpoint.data,
        history=list(checkpoint.history),
        best_loss=kept.loss,
        best_score=kept.score,
        selected_round=checkpoint.selected.round_index if checkpoint.selected is not None else None,
        rounds_completed=checkpoint.rounds_completed,
        evaluations=checkpoint.evaluations,
        wall_seconds=checkpoint.wall_seconds,
        finished=False,
        target_scaling=checkpoint.target_scaling,
    )


def regions_data(run: RunView) -> tuple[Dataset | None, str | None]:
    """(the run's training data to draw the regions over, None) or (None, why there is no such picture)."""
    if run.config.dataset == OBJECTIVE:
        return None, "decision regions are drawn for a classifier's data; this run minimised an objective"
    if run.config.layers[0] != 2 and not run.regression:
        return None, f"decision regions are drawn for 2 features; this network takes {run.config.layers[0]}"
    source = run.data.source if run.data is not None else run.config.dataset
    if source == ARRAYS:
        return None, "decision regions need the data, and this run learnt from arrays given to search()"
    config = run.config.model_copy(update={"dataset": source}) if source.endswith((".csv", ".npz")) else run.config
    try:
        return load_dataset(config), None
    except ConfigError as error:
        return None, f"decision regions need the run's data: {error}"


@dataclass(frozen=True)
class RowSets:
    """The rows a run's pictures are drawn over, split as the run split them, in their own units (unscaled)."""

    training: Dataset
    held_out: Dataset | None = None
    test: Dataset | None = None

    def parts(self) -> list[tuple[str, Dataset]]:
        """("training", rows), ("held-out", rows), ("test", rows): the sets there are."""
        named = (("training", self.training), ("held-out", self.held_out), ("test", self.test))
        return [(name, rows) for name, rows in named if rows is not None]


def run_rows(run: RunView) -> tuple[RowSets | None, str | None]:
    """(the run's rows, split as it split them, None) or (None, why there are none to draw)."""
    from coordinator.rounds.prepare import prepare_run

    whole, reason = regions_data(run)
    if whole is None:
        return None, reason
    changes = {"dataset": whole.name if run.data is None else run.data.source}
    if run.config.validation_data is not None and run.data is not None and run.data.validation is not None:
        changes["validation_data"] = run.data.validation.source  # its absolute path: the plot may run elsewhere
    try:
        prepared = prepare_run(run.config.model_copy(update=changes))
    except ConfigError as error:
        return None, f"decision regions need the run's data: {error}"
    unscaled = [None if part is None else _unscaled(part, prepared.scaling, prepared.target_scaling)
                for part in (prepared.dataset, prepared.validation, prepared.test)]  # fmt: skip
    return RowSets(*unscaled), None


def _unscaled(part: Dataset, scaling: Scaling, target_scaling: Scaling | None) -> Dataset:
    """Rows as prepare_run scaled them, back in their own units (the pictures' axes, the run's predictions)."""
    targets = part.targets if target_scaling is None else target_scaling.invert(part.targets)
    return replace(part, X=scaling.invert(part.X), targets=targets)


def plot_run(run_dir: str | Path, output_dir: str | Path | None = None) -> list[Path]:
    """Write history.png and, for 2-feature data that can be read again, decision_regions.png; return the paths.

    A run still going (only checkpoint.npz so far) is drawn as of its last finished round. The
    history needs nothing but the run directory.

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
    output = Path(output_dir) if output_dir is not None else Path(run_dir)
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output}: not a directory; --output takes the directory to write the PNG files into")
    images = {}  # everything is rendered before anything is written
    rows, _reason = run_rows(run)
    if rows is not None and run.regression:
        images[FIT_FILE] = _render(_fit_figure(run, rows))
    elif rows is not None:
        images[REGIONS_FILE] = _render(_regions_figure(run, rows))
    if run.config.dataset == OBJECTIVE:
        images[HISTORY_FILE] = _render(_objective_history_figure(run))
    else:
        images[HISTORY_FILE] = _render(_history_figure(run, seed_figure(run.config)))
    return [write_png(output / name, data) for name, data in images.items()]


def write_png(path: Path, data: bytes) -> Path:
    """Write PNG bytes atomically; a ConfigError if the place cannot be written."""
    try:
        return atomic_write_bytes(path, data)
    except OSError as error:
        raise ConfigError(f"{path}: cannot write ({error.strerror or error})") from None


def _render(figure) -> bytes:
    """PNG bytes of a figure, drawn on an Agg canvas."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _network_name(config: SearchConfig) -> str:
    return "-".join(str(size) for size in config.layers)


# How each set of rows is drawn: training rows as dots, held-out rows as triangles, test rows as squares.
MARKERS = {"training": "o", "held-out": "^", "test": "s"}


def _regions_figure(run: RunView, rows: RowSets):
    """The rows as the seed scatters them (brg), over the best network's class regions (paler where less sure);
    the title names each set of rows and its figures."""
    from matplotlib import colormaps
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    classes = len(run.classes)
    X = np.concatenate([part.X for _name, part in rows.parts()])
    low, high = X.min(axis=0), X.max(axis=0)
    margin = np.maximum(0.1 * (high - low), 0.05)
    low, high = low - margin, high + margin
    first = np.linspace(low[0], high[0], GRID_POINTS)
    second = np.linspace(low[1], high[1], GRID_POINTS)
    grid = np.stack(np.meshgrid(first, second), axis=-1).reshape(-1, 2)
    probabilities = run.predict_proba(grid)
    predicted = np.argmax(probabilities, axis=1)
    certainty = (probabilities.max(axis=1) - 1 / classes) / (1 - 1 / classes)

    color_map = colormaps[COLOR_MAP]
    norm = Normalize(vmin=0, vmax=classes - 1)
    colors = color_map(norm(predicted))
    colors[:, 3] = 0.12 + 0.33 * certainty
    image = colors.reshape(GRID_POINTS, GRID_POINTS, 4)

    figure = Figure(figsize=(6.4, 5.8))
    axes = figure.add_subplot()
    axes.imshow(
        image, origin="lower", extent=(low[0], high[0], low[1], high[1]), interpolation="nearest", aspect="auto"
    )
    size = 40 if len(X) <= 1000 else 12
    wrong_count, accuracies = 0, []
    for name, part in rows.parts():
        wrong = np.argmax(run.predict_proba(part.X), axis=1) != part.labels
        wrong_count += int(wrong.sum())
        accuracies.append(f"{name} rows ({len(part.X):,}) {1 - wrong.mean():.1%}")
        axes.scatter(part.X[:, 0], part.X[:, 1], c=part.labels, s=size, cmap=COLOR_MAP, norm=norm,
                     marker=MARKERS[name], edgecolors="white", linewidths=0.4)  # fmt: skip
        if wrong.any():
            axes.scatter(part.X[wrong, 0], part.X[wrong, 1], s=size * 2.2, marker=MARKERS[name], facecolors="none",
                         edgecolors="black", linewidths=1.0, zorder=3)  # fmt: skip
    axes.set_xlim(low[0], high[0])
    axes.set_ylim(low[1], high[1])
    axes.set_xlabel("feature 0")
    axes.set_ylabel("feature 1")
    state = "" if run.finished else ", in progress"
    names = figure_names(run.config, run.data)
    axes.set_title(
        f"{Path(run.config.dataset).name} data, network {_network_name(run.config)}, "
        f"{run.rounds_completed} round{'s' if run.rounds_completed != 1 else ''}{state}\n"
        f"{names.training()}: {names.loss} {run.best_loss:.4f}\naccuracy: {', '.join(accuracies)}",
        fontsize=10,
    )
    handles = [
        Line2D([], [], marker="o", linestyle="", color=color_map(norm(k)), label=f"class {label}")
        for k, label in enumerate(run.classes)
    ]
    handles += [
        Line2D([], [], marker=MARKERS[name], linestyle="", color="gray", label=f"{name} rows")
        for name, _part in rows.parts()
    ]
    handles.append(
        Line2D(
            [], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="black",
            label=f"misclassified ({wrong_count})",
        )
    )  # fmt: skip
    figure.legend(handles=handles, loc="lower center", ncol=min(len(handles), 3), fontsize=9, frameon=False)
    figure.subplots_adjust(left=0.13, right=0.97, top=0.84, bottom=0.2)
    return figure


# A regressor's rows, by set: training, held-out, test.
COLORS = {"training": "tab:blue", "held-out": "tab:orange", "test": "tab:green"}


def _fit_figure(run: RunView, rows: RowSets):
    """A regressor's fit: for one feature, the rows and the network's curve through them (the book's sine plot);
    otherwise each row's prediction against its true value, the diagonal marking a perfect fit. Each set of rows
    (training, held-out, test) is drawn and scored apart: the title's R^2 of each is the summary's."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 5.4))
    axes = figure.add_subplot()
    state = "" if run.finished else ", in progress"
    training = rows.training
    single = training.X.shape[1] == 1
    scores, errors, lows, highs = [], [], [], []
    for name, part in rows.parts():
        predicted = run.predict_values(part.X)
        figures = regression_evaluation_of(predicted, part.targets)  # as `evaluate` gives them
        scores.append(f"{name} {figures.r2:.3f} ({len(part.X):,} rows)")
        errors.append(f"{name} {figures.mse:.4g}")
        label = f"{name} rows ({len(part.X):,})"
        if single:
            for output in range(part.targets.shape[1]):
                axes.scatter(part.X[:, 0], part.targets[:, output], s=8, color=COLORS[name], alpha=0.5,
                             marker=MARKERS[name], label=label if output == 0 else None)  # fmt: skip
        else:
            axes.scatter(part.targets.ravel(), predicted.ravel(), s=10, color=COLORS[name], alpha=0.6,
                         marker=MARKERS[name], label=label)  # fmt: skip
            lows.append(min(part.targets.min(), predicted.min()))
            highs.append(max(part.targets.max(), predicted.max()))
    if single:
        X = np.concatenate([part.X for _name, part in rows.parts()])
        grid = np.linspace(X[:, 0].min(), X[:, 0].max(), GRID_POINTS)[:, None]
        curve = run.predict_values(grid)
        for output in range(curve.shape[1]):
            axes.plot(grid[:, 0], curve[:, output], color="tab:red", linewidth=2,
                      label="the network" if output == 0 else None)  # fmt: skip
        axes.set_xlabel((training.feature_names or ("feature 0",))[0])
        axes.set_ylabel("target")
    else:
        low, high = float(min(lows)), float(max(highs))
        axes.plot([low, high], [low, high], color="gray", linestyle="--", linewidth=1, label="a perfect fit")
        axes.set_xlabel("true value")
        axes.set_ylabel("predicted value")
    axes.grid(True, alpha=0.3)
    axes.legend(fontsize=9, loc="best")
    axes.set_title(
        f"{Path(run.config.dataset).name} data, network {_network_name(run.config)}, "
        f"{run.rounds_completed} round{'s' if run.rounds_completed != 1 else ''}{state}\n"
        f"R^2: {', '.join(scores)}\nMSE in the targets' units: {', '.join(errors)}",
        fontsize=9,
    )
    figure.subplots_adjust(left=0.13, right=0.97, top=0.86, bottom=0.11)
    return figure


def _history_figure(run: RunView, seed: SeedFigure | None):
    """Loss and accuracy after each round (training, and held-out rows when there are), with the chapter's
    figure as a dashed line where it ran this net, the kept round marked and each resume shown."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter, PercentFormatter

    rounds = np.array([record.round for record in run.history])
    losses = np.array([record.best_loss for record in run.history])
    accuracies = np.array([record.best_score for record in run.history])
    held_out = [record.validation_loss is not None for record in run.history]
    validation_losses = np.array(
        [np.nan if record.validation_loss is None else record.validation_loss for record in run.history]
    )
    validation_accuracies = np.array(
        [np.nan if record.validation_score is None else record.validation_score for record in run.history]
    )
    marker = "o" if len(rounds) <= 40 else None

    figure = Figure(figsize=(6.4, 5.2))
    loss_axes, accuracy_axes = figure.subplots(2, 1, sharex=True)
    names = figure_names(run.config, run.data)
    loss_axes.plot(rounds, losses, color="tab:blue", marker=marker, markersize=4,
                   label=f"{names.training()}: {names.loss}")  # fmt: skip
    accuracy_axes.plot(rounds, accuracies, color="tab:green", marker=marker, markersize=4, label=names.training())
    if any(held_out):
        loss_axes.plot(
            rounds, validation_losses, color="tab:orange", marker=marker, markersize=4,
            label=f"{names.held_out()}: {names.held_out_loss}, no L2 term",
        )  # fmt: skip
        accuracy_axes.plot(
            rounds, validation_accuracies, color="tab:orange", marker=marker, markersize=4, label=names.held_out()
        )
    if seed is not None:
        label = f"the chapter's loop, {seed.iterations:,} steps"
        loss_axes.axhline(seed.loss, color="gray", linestyle="--", linewidth=1, label=f"{label}: {seed.loss}")
        accuracy_axes.axhline(
            seed.accuracy, color="gray", linestyle="--", linewidth=1, label=f"{label}: {seed.accuracy:.0%}"
        )
    for axes in (loss_axes, accuracy_axes):
        if run.selected_round is not None:
            axes.axvline(run.selected_round, color="tab:red", linestyle=":", linewidth=1)
        for record, previous in zip(run.history[1:], run.history[:-1], strict=True):
            if record.session != previous.session:
                axes.axvline(record.round - 0.5, color="black", linestyle="-.", linewidth=0.8)
    if run.selected_round is not None:
        loss_axes.plot([], [], color="tab:red", linestyle=":", label=f"kept: round {run.selected_round}")
    if any(a.session != b.session for a, b in zip(run.history[1:], run.history[:-1], strict=True)):
        loss_axes.plot([], [], color="black", linestyle="-.", linewidth=0.8, label="resumed")
    shown_losses = np.concatenate([losses, validation_losses[np.isfinite(validation_losses)]])
    finite = shown_losses[np.isfinite(shown_losses)]
    if finite.size and finite.min() > 0 and finite.max() / finite.min() > 3:
        loss_axes.set_yscale("log")
        decades = np.log10(finite.max() / finite.min())
        loss_axes.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
        loss_axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _position: f"{value:g}"))
        loss_axes.yaxis.set_minor_formatter(NullFormatter())
    else:
        loss_axes.ticklabel_format(axis="y", useOffset=False)  # an offset label would sit on the title
    same = not any(held_out) or names.loss == names.held_out_loss
    loss_axes.set_ylabel(names.loss if same else "loss (see the legend)")
    if run.regression:  # its "accuracy" is R^2, which may be below 0
        accuracy_axes.set_ylabel("R^2")
    else:
        accuracy_axes.set_ylabel("accuracy")
        shown = np.concatenate(
            [accuracies, validation_accuracies[np.isfinite(validation_accuracies)], [seed.accuracy] if seed else []]
        )
        accuracy_axes.set_ylim(*accuracy_limits(shown))
        # Ticks at whole percents (1, 2 or 5 points apart), so that a label never rounds its tick.
        accuracy_axes.yaxis.set_major_locator(MaxNLocator(steps=[1, 2, 5, 10]))
        accuracy_axes.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    accuracy_axes.set_xlabel("round")
    accuracy_axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    for axes in (loss_axes, accuracy_axes):
        axes.grid(True, alpha=0.3)
        axes.legend(fontsize=8, loc="best")
    state = "" if run.finished else " (in progress)"
    figure.suptitle(
        f"{Path(run.config.dataset).name} data, network {_network_name(run.config)}: {run.rounds_completed} rounds, "
        f"{run.evaluations:,} evaluations, {run.wall_seconds:.1f} s{state}",
        fontsize=11,
    )
    figure.subplots_adjust(left=0.13, right=0.97, top=0.92, bottom=0.1, hspace=0.12)
    return figure


def _objective_history_figure(run: RunView):
    """The best after each round of a run that minimised an objective: a policy's mean return, or the loss."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    rounds = np.array([record.round for record in run.history])
    losses = np.array([record.best_loss for record in run.history])
    policy = run.config.env is not None
    figure = Figure(figsize=(6.4, 3.8))
    axes = figure.add_subplot()
    marker = "o" if len(rounds) <= 40 else None
    if policy:
        axes.plot(rounds, -losses, color="tab:green", marker=marker, markersize=4)
        axes.set_ylabel(f"the kept policy's mean return\n(on the round's {run.config.episodes} new episodes)")
        title = f"{run.config.env}, policy {_network_name(run.config)}"
    else:
        axes.plot(rounds, losses, color="tab:blue", marker=marker, markersize=4)
        axes.set_ylabel("best loss (the objective)")
        title = f"an objective, network {_network_name(run.config)}"
    for record, previous in zip(run.history[1:], run.history[:-1], strict=True):
        if record.session != previous.session:
            axes.axvline(record.round - 0.5, color="black", linestyle="-.", linewidth=0.8)
    axes.set_xlabel("round")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(True, alpha=0.3)
    state = "" if run.finished else " (in progress)"
    figure.suptitle(
        f"{title}: {run.rounds_completed} rounds, {run.evaluations:,} evaluations, {run.wall_seconds:.1f} s{state}",
        fontsize=11,
    )
    figure.subplots_adjust(left=0.16, right=0.97, top=0.88, bottom=0.14)
    return figure


MIN_ACCURACY_SPAN = 0.1  # the accuracy axis shows at least 10 points: one sample is not a cliff


def accuracy_limits(values: np.ndarray) -> tuple[float, float]:
    """(low, high) of the accuracy axis: inside 0-100%, around the values, at least MIN_ACCURACY_SPAN wide."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    low, high = float(values.min()), float(values.max())
    span = min(1.0, max(high - low + 0.04, MIN_ACCURACY_SPAN))  # 2 points of margin on each side
    low = (low + high - span) / 2
    low = min(max(low, 0.0), 1.0 - span)  # slide the window inside 0-100%
    return low, low + span


def plot_confusion(evaluation: Evaluation, path: str | Path, title: str) -> Path:
    """Draw the confusion matrix (counts, rows the true class) as a PNG at path; return the path."""
    from matplotlib.figure import Figure

    confusion = evaluation.confusion
    names = [str(label) for label in evaluation.classes]
    size = min(12.0, max(4.8, 0.45 * len(names) + 3))
    figure = Figure(figsize=(size, size * 0.9))
    axes = figure.add_subplot()
    shown = axes.imshow(confusion, cmap="Blues")
    figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.04)
    axes.set_xticks(range(len(names)), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right")
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    threshold = confusion.max() / 2 if confusion.size else 0
    for (row, column), count in np.ndenumerate(confusion):
        color = "white" if count > threshold else "black"
        axes.text(column, row, str(count), ha="center", va="center", color=color, fontsize=8)
    axes.set_title(
        f"{title}\n{evaluation.rows} rows: accuracy {evaluation.accuracy:.1%}, cross-entropy {evaluation.loss:.4f} "
        "(no L2 term)"
    )
    figure.tight_layout()
    return write_png(Path(path), _render(figure))
