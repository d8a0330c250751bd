"""Preparing a run before anything starts: its config, its data, its run directory, and where it resumes.

Every input problem is found here, before Ray starts or a file is touched: a bad value, data that
does not fit the network, a run directory that holds another run, a checkpoint that cannot be
resumed, data that changed since the run began. Only when all is well is the run directory claimed.

The data's path to the network: the whole data set; for scikit-learn's, a quarter held out for
testing (stratified, from --data-seed); rows held out for validation (stratified, from --seed, or
a file); feature scaling fitted on the rows that remain, the training rows, and applied to all.

A run may start from a given network (a warm start) instead of each climber's own random one: the
stepper scores it on this run's training rows before the first round, so it is compared with
nothing measured on other rows.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from coordinator.config import (
    ARRAYS,
    CHAPTER_DATASETS,
    CHAPTER_SAMPLES,
    DEFAULT_SCALING,
    DEFAULT_VALIDATION_FRACTION,
    REGRESSION_DATASET_NAMES,
    SINE_SAMPLES,
    SKLEARN_DATASETS,
    SPARSE_DATA,
    SPARSE_SCALING,
    ConfigError,
    SearchConfig,
    config_loss,
    default_l2,
    resolved_task,
    search_mismatch,
)
from coordinator.data.columns import match_columns
from coordinator.data.datasets import Dataset, check_layers, class_indices, encode_targets, load_dataset
from coordinator.data.row_file import FileRows
from coordinator.data.scaling import Scaling
from coordinator.data.shares import assign_shares, auto_shares, share_problem, share_rows
from coordinator.data.splits import TEST_SALT, VALIDATION_SALT, stratified_split
from coordinator.data.tables import read_table
from coordinator.results.records import DataRecord, Rows, StopReason
from coordinator.results.run_files import PICTURES, RUN_FILES
from coordinator.rounds.checkpoint import Checkpoint, load_checkpoint
from coordinator.rounds.length import long_round_note, pass_work, step_work
from coordinator.rounds.prepare_objective import check_resumed_objective, prepare_objective
from coordinator.rounds.prepared_run import PreparedRun
from coordinator.rounds.stepper import stop_reason
from workers import Layout, Solution
from workers.settings import auto_max_mutations

# Settings a resumed run may change: they decide where and how long it runs, never the path.
RESUMABLE_OVERRIDES = ("rounds", "time_budget", "target_loss", "patience", "workers", "climb_while_starting")
TEST_FRACTION = 0.25  # of a scikit-learn data set, held out for testing


def prepare_run(
    config: SearchConfig | None = None,
    X=None,
    y=None,
    *,
    run_dir: str | Path | None = None,
    resume: bool = False,
    force: bool = False,
    claim: bool = True,
    start: Solution | None = None,
    objective=None,
) -> PreparedRun:
    """Check everything a run needs and claim its directory; a ConfigError names the first problem.

    claim=False checks the directory without touching it (a dry run). start: a network (its
    parameters and step sizes) for the first round's climbers to start from, checked against the layers.
    objective: a function to minimise instead of a data set's loss (`coordinator.rounds.objective_round`).
    """
    state = None
    if resume and run_dir is None:
        raise ConfigError("resume: needs the run directory to resume")
    if resume and start is not None:
        raise ConfigError("start: a resumed run goes on from its checkpoint; give a start network to a new run only")
    if run_dir is not None:
        run_dir = Path(run_dir)
        if run_dir.exists() and not run_dir.is_dir():
            raise ConfigError(f"{run_dir}: is a file; the run directory must be a directory")
        if resume:
            state = load_checkpoint(run_dir)
            config = _resumed_config(state.config, config)
            _check_work_left(run_dir, config, state)
    if config is None:
        config = SearchConfig()
    if state is not None:
        check_resumed_objective(run_dir, state, objective)
    if objective is not None or config.env is not None:
        prepared = prepare_objective(config, objective, X, y)
    else:
        _check_climbs_on_data(config)
        whole = load_dataset(config, X, y)
        prepared = _prepare_data(config, whole, arrays=X is not None)
    if state is not None and state.data is not None and state.data.sha256 != prepared.data.sha256:
        raise ConfigError(
            f"dataset: {config.dataset} is not the data the run in {run_dir} learnt from (its SHA-256 differs); "
            "resume needs the same rows"
        )
    if prepared.config.patience is not None and prepared.validation is None:
        raise ConfigError("patience: needs held-out rows (--validation-fraction above 0, or --validation-data)")
    if start is not None:
        start = _checked_start(start, prepared.config.layers)
    if run_dir is not None and not resume:
        _claim_run_dir(run_dir, force, claim)  # only now: bad input must not cost the user an old run
    return replace(prepared, run_dir=run_dir, state=state, start=start)


def _check_climbs_on_data(config: SearchConfig) -> None:
    """A run on data climbs: a population strategy, or one's settings, refused in one line."""
    if config.search not in ("auto", "climb"):
        raise ConfigError(
            f"search: {config.search!r} is for an objective or --env (an evaluation an episode or a call); a data "
            "set's loss is climbed (give --search climb, or leave it out)"
        )
    mismatch = search_mismatch(config, "climb")
    if mismatch is not None:
        raise ConfigError(mismatch)


def _checked_start(start: Solution, layers: tuple[int, ...]) -> Solution:
    """A private float64 copy of a start network, or a ConfigError saying why it cannot start these layers."""
    expected = Layout(layers).num_params
    try:
        params = np.array(start.params, dtype=np.float64)
        step_sizes = np.array(start.step_sizes, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("start: parameters and step sizes must be arrays of numbers") from None
    for name, values in (("parameters", params), ("step sizes", step_sizes)):
        if values.shape != (expected,):
            raise ConfigError(
                f"start: {name} of shape {values.shape} do not fit layers {_sizes(layers)} ({expected} parameters)"
            )
    if not np.all(np.isfinite(params)):
        raise ConfigError("start: parameters must be finite numbers")
    if not np.all(np.isfinite(step_sizes) & (step_sizes > 0)):
        raise ConfigError("start: step sizes must be positive finite numbers")
    return Solution(params, step_sizes)


def _sizes(layers: tuple[int, ...]) -> str:
    return "-".join(map(str, layers))


def _prepare_data(config: SearchConfig, whole: Dataset, arrays: bool) -> PreparedRun:
    """Split, scale and record the data; resolve the settings that depend on it."""
    chapter = config.dataset in CHAPTER_DATASETS and not arrays
    test = None
    if config.dataset in SKLEARN_DATASETS and not arrays:
        kept, held = stratified_split(whole.labels, TEST_FRACTION, config.data_seed, TEST_SALT)
        whole, test = whole.take(kept), whole.take(held)
    fraction = config.validation_fraction
    if fraction is None:
        fraction = 0.0 if chapter or config.validation_data is not None else DEFAULT_VALIDATION_FRACTION
    validation, validation_source = None, None
    if config.validation_data is not None:
        validation = _validation_file(config, whole)
        validation_source = str(Path(config.validation_data).resolve())
    elif fraction > 0:
        kept, held = stratified_split(whole.labels, fraction, config.seed, VALIDATION_SALT)
        if len(held) == 0 and whole.regression:  # a single row: an empty validation set would pick by NaN
            raise ConfigError(
                f"validation_fraction: {fraction:g} of {len(whole.X)} rows holds none out (1 sample); "
                "give more rows, or 0 to hold none out"
            )
        if len(held) == 0:  # every class has a single row: an empty validation set would pick by NaN
            raise ConfigError(
                f"validation_fraction: {fraction:g} of {len(whole.X)} rows holds none out (every class has one row); "
                "give more rows, or 0 to hold none out"
            )
        split_notes = _split_notes(whole, held, fraction)
        whole, validation = whole.take(kept), whole.take(held)
        whole = replace(whole, notes=(*whole.notes, *split_notes))
        validation_source = f"{fraction:g} of the data, stratified, seed {config.seed}"
    training = whole
    layers = config.layers or (training.num_features, *config.hidden, training.num_outputs)
    in_file = isinstance(training.X, FileRows)  # a .npy file's rows: read here only where a run needs them
    if in_file and _shares(config.model_copy(update={"layers": tuple(layers)}), training) == 1:
        training, validation, test = (None if part is None else _read(part) for part in (training, validation, test))
        in_file = False
    if in_file:  # the training rows stay in the file, statistics streamed block by block; held-out rows read here
        validation, test = (None if part is None else _read(part) for part in (validation, test))
        statistics = training.X.statistics()
        kind = config.scaling if config.scaling != "auto" else _auto_scaling_of(chapter, statistics)
        scaling = Scaling.from_statistics(kind, statistics)
    else:
        kind = config.scaling if config.scaling != "auto" else _auto_scaling(chapter, training.X)
        scaling = Scaling.fit(kind, training.X)
    target_kind = config.target_scaling
    if target_kind == "auto":
        target_kind = "standard" if training.regression and not chapter else "none"
    target_scaling = Scaling.fit(target_kind, training.targets) if training.regression else None
    check_layers(layers, training)
    samples = config.samples
    if samples is None and config.dataset in CHAPTER_DATASETS and not arrays:
        samples = SINE_SAMPLES if config.dataset in REGRESSION_DATASET_NAMES else CHAPTER_SAMPLES
    resolved = config.model_copy(
        update={
            "search": "climb",
            "task": resolved_task(config),
            "loss": config_loss(config),
            "target_scaling": target_kind,
            "samples": samples,
            "dataset": ARRAYS if arrays else config.dataset,
            "layers": tuple(layers),
            "hidden": tuple(layers[1:-1]),
            "scaling": kind,
            "validation_fraction": fraction,
            "l2": config.l2 if config.l2 is not None else default_l2(chapter),
            "max_mutations": config.max_mutations or auto_max_mutations(Layout(tuple(layers)).num_params),
        }
    )
    resolved = resolved.model_copy(update={"shares": _shares(resolved, training)})
    share_indices = None
    if resolved.shares > 1:
        labels = None if training.regression else training.labels
        share_indices = share_rows(
            assign_shares(labels, len(training.X), resolved.shares, resolved.seed), resolved.shares
        )
    long_round = long_round_note(resolved, len(training.X))
    if long_round is not None:
        training = replace(training, notes=(*training.notes, long_round))
    record = DataRecord(
        source=_source(resolved),
        rows=len(training.X),
        features=training.num_features,
        classes=training.num_classes,
        class_labels=list(training.classes),
        targets=training.num_outputs if training.regression else None,
        target_names=list(training.target_names) if training.target_names is not None else None,
        label_name=training.label_name,
        sha256=training.sha256(),
        feature_names=list(training.feature_names) if training.feature_names is not None else None,
        notes=list(training.notes),
        validation=_rows(validation, validation_source),
        test=_rows(test, f"{TEST_FRACTION:g} of {config.dataset}, stratified, data seed {config.data_seed}"),
        shares=resolved.shares,
        share_rows=None if share_indices is None else sorted({len(rows) for rows in share_indices}),
    )
    scaled = [None if part is None else _scaled(part, scaling, target_scaling) for part in (training, validation, test)]
    return PreparedRun(
        resolved,
        scaled[0],
        scaled[1],
        scaled[2],
        scaling,
        record,
        None,
        None,
        target_scaling=target_scaling,
        share_indices=share_indices,
    )


def _shares(config: SearchConfig, training: Dataset) -> int:
    """The run's row shares: the config's, checked against the training rows, or "auto"'s; a ConfigError in one line
    when they do not fit (more shares than rows, a class with fewer rows than shares)."""
    labels = None if training.regression else training.labels
    smallest = None if labels is None else int(np.bincount(labels).min())
    shares = config.shares
    if shares is not None and shares > 1 and labels is None:
        raise ConfigError(
            f"shares: {shares} row shares for a regressor: its R^2 is not a sum over rows, so its rows are not shared "
            "(give 1, or leave shares out)"
        )
    if shares is None and labels is None:
        shares = 1  # a regressor's rows are not shared
    if shares is None:
        layers, moved = config.layers, config.climb_settings().mutated_count(Layout(tuple(config.layers)).num_params)
        pass_steps = pass_work(1, layers) / step_work(1, layers, moved)  # a full pass, in steps (the same for any rows)
        shares = auto_shares(len(training.X), pass_steps, smallest)
    problem = share_problem(labels, len(training.X), shares)
    if problem is not None:
        raise ConfigError(problem)
    return shares


def _scaled(part: Dataset, scaling: Scaling, target_scaling: Scaling | None) -> Dataset:
    """The rows with their features scaled, and a regressor's targets too (a file's rows: read so by who reads them)."""
    targets = part.targets if target_scaling is None else target_scaling.apply(part.targets)
    if isinstance(part.X, FileRows):
        if scaling.kind == "none":
            return replace(part, targets=targets)
        return replace(part, X=part.X.scaled(np.asarray(scaling.offset), np.asarray(scaling.scale)), targets=targets)
    return replace(part, X=scaling.apply(part.X), targets=targets)


def _read(part: Dataset) -> Dataset:
    """A file's rows read into memory (a run on one share reads its rows here, as from any file)."""
    return replace(part, X=np.asarray(part.X)) if isinstance(part.X, FileRows) else part


def _auto_scaling_of(chapter: bool, statistics: dict) -> str:
    """`_auto_scaling` from a file's streamed statistics."""
    if chapter:
        return "none"
    values = statistics["count"] * len(statistics["mean"])
    return SPARSE_SCALING if values and statistics["nonzeros"] <= (1 - SPARSE_DATA) * values else DEFAULT_SCALING


def _auto_scaling(chapter: bool, X: np.ndarray) -> str:
    """What scaling "auto" means for these training rows: none on the chapter's data, zeros kept on mostly-zero data."""
    if chapter:
        return "none"
    return SPARSE_SCALING if X.size and np.count_nonzero(X) <= (1 - SPARSE_DATA) * X.size else DEFAULT_SCALING


def _split_notes(whole: Dataset, held: np.ndarray, fraction: float) -> tuple[str, ...]:
    """A note when the held-out rows leave classes out: one row from each would be far more than the fraction."""
    if whole.regression:  # no classes to leave out
        return ()
    sizes = np.bincount(whole.labels, minlength=whole.num_classes)
    given = np.bincount(whole.labels[held], minlength=whole.num_classes)
    missing = int(np.count_nonzero((given == 0) & (sizes > 1)))
    if not missing:
        return ()
    return (
        f"validation_fraction: {fraction:g} of {len(whole.X)} rows holds out {len(held)}, too few for one from each "
        f"of the {whole.num_classes} classes: {missing} classes have none held out (give a larger fraction for "
        "one from each)",
    )


def _validation_file(config: SearchConfig, training: Dataset) -> Dataset:
    """The held-out rows of --validation-data, their labels mapped onto the training data's classes."""
    table = read_table(
        config.validation_data, labelled=True, label_column=config.label_column, targets=training.regression,
        label_header=training.label_name,
    )  # fmt: skip
    table = replace(table, X=match_columns(table.X, table.feature_names, training.feature_names, table.source))
    if table.X.shape[1] != training.num_features:
        raise ConfigError(
            f"{table.source}: rows have {table.X.shape[1]} features; the training data has {training.num_features}"
        )
    if training.regression:
        targets = encode_targets(table.y, str(table.source))
        if targets.shape[1] != training.num_outputs:
            raise ConfigError(
                f"{table.source}: rows have {targets.shape[1]} targets; the training data has {training.num_outputs}"
            )
        labels = np.zeros(len(targets), dtype=np.int64)
        return replace(training, name=str(table.source), X=table.X, labels=labels, targets=targets, notes=table.notes)
    try:
        labels = class_indices(list(training.classes), table.y)
    except ConfigError as error:
        raise ConfigError(f"{table.source}: {error}") from None
    return replace(training, name=str(table.source), X=table.X, labels=labels, notes=table.notes)


def _source(config: SearchConfig) -> str:
    """Where the data came from: a file's absolute path, a data set's name, or "arrays"."""
    if config.dataset in (*CHAPTER_DATASETS, *SKLEARN_DATASETS, ARRAYS):
        return config.dataset
    return str(Path(config.dataset).resolve())


def _rows(dataset: Dataset | None, source: str) -> Rows | None:
    return None if dataset is None else Rows(source=source, rows=len(dataset.X), sha256=dataset.sha256())


def _claim_run_dir(run_dir: Path, force: bool, claim: bool) -> None:
    """Refuse to overwrite a run unless forced; with force (and claim), clear the old run's files."""
    existing = [name for name in RUN_FILES if (run_dir / name).exists()]
    if existing and not force:
        raise ConfigError(f"{run_dir}: already holds a run ({', '.join(existing)}); use --resume or --force")
    # The old run's pictures go with it: they would show a network that is no longer there.
    for name in (*existing, *(name for name in PICTURES if (run_dir / name).exists())) if claim else ():
        (run_dir / name).unlink()


def _resumed_config(saved: SearchConfig, given: SearchConfig | None) -> SearchConfig:
    """The checkpoint's config, with only the overrides that cannot change the result applied."""
    if given is None:
        return saved
    changes = {}
    for name in SearchConfig.model_fields:
        if name in given.model_fields_set and getattr(given, name) != getattr(saved, name):
            if name not in RESUMABLE_OVERRIDES:
                raise ConfigError(
                    f"{name}: cannot change on resume (checkpoint has {getattr(saved, name)!r}, "
                    f"got {getattr(given, name)!r}); only {', '.join(RESUMABLE_OVERRIDES)} can"
                )
            changes[name] = getattr(given, name)
    return saved.model_copy(update=changes)


def _check_work_left(run_dir: Path, config: SearchConfig, state: Checkpoint) -> None:
    """Refuse a resume that would stop before its first round, saying which setting to raise."""
    reason = stop_reason(config, state.best, state.rounds_completed, session_seconds=0.0, rounds_without_gain=0)
    if reason is StopReason.ROUNDS:
        raise ConfigError(
            f"rounds: the run in {run_dir} has done {state.rounds_completed} of its {config.rounds} rounds; "
            f"give --rounds above {state.rounds_completed} to go on"
        )
    if reason is StopReason.TARGET_LOSS:
        raise ConfigError(
            f"target_loss: the run in {run_dir} already reached loss {state.best.loss:.6g} "
            f"(target {config.target_loss:g}); give a lower --target-loss or none to go on"
        )
