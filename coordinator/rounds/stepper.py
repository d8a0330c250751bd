"""A search you can step: each `step()` runs one round and returns its record.

In the spirit of the ask/tell interfaces of nevergrad and pycma and of EvoTorch's `step()`: the
caller owns the loop (and may stop, checkpoint or inspect between rounds); the stepper owns the
round: it hands every climber its seed, gathers their reports, keeps the global best and counts
the work. With rows held out, it also scores the best on them after every round and keeps the
network that scores best on them (`coordinator.rounds.best.selection_of`): that one is the result.
`coordinator.rounds.search.search` is the one-call loop on top.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from coordinator.config import SearchConfig
from coordinator.data.datasets import Dataset
from coordinator.results.placement import placement_fields
from coordinator.results.records import Environment, RoundRecord, StopReason
from coordinator.results.result import SearchResult
from coordinator.rounds.best import Best, Selected, better_of, selection_of, start_of
from coordinator.rounds.checkpoint import Checkpoint
from coordinator.rounds.combine import Evaluator, round_best
from coordinator.rounds.executors import Executor
from coordinator.rounds.length import objective_round_steps, round_steps
from coordinator.rounds.objective_round import (
    objective_evaluator,
    require_a_number,
    rescored,
    round_seed,
    warn_non_finite,
)
from coordinator.rounds.population_round import PopulationRounds, auto_population, first_state
from coordinator.rounds.seeds import seed_for
from coordinator.rounds.share_round import RowShares, climber_share
from workers import ClimbOutcome, ClimbTask, Layout
from workers.network import evaluate_compiled
from workers.population import POPULATION_SEARCHES

if TYPE_CHECKING:
    from coordinator.rounds.prepared_run import PreparedRun


class Progress(Protocol):
    """What a search tells an onlooker."""

    def started(self) -> None:
        """The input passed every check and the workers are up; rounds begin."""

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """A climber of the round reported; best is the best so far, this round included."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """A round ended, elapsed_s seconds into this session."""

    def close(self) -> None:
        """Its owner is done with it (a terminal's live line ends here); may come twice."""


class SilentProgress:
    """Tells nobody anything."""

    def started(self) -> None:
        """Nothing to say."""

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Nothing to say."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Nothing to say."""

    def close(self) -> None:
        """Nothing to end."""


def round_tasks(config: SearchConfig, round_index: int, objective_seed: int | None = None) -> list[ClimbTask]:
    """The climbers of one round (config resolved: climbers and steps set), each with its own seed and row share.

    objective_seed: a seeded objective's seed for the round, the same for every climber.
    """
    shares = config.shares or 1
    return [
        ClimbTask(
            round_index=round_index,
            climber_index=climber,
            seed=seed_for(config.seed, round_index, climber),
            steps=config.steps,
            round_seed=objective_seed,
            share=climber_share(round_index, climber, shares),
        )
        for climber in range(config.climbers)
    ]


def stop_reason(
    config: SearchConfig,
    best: Best | None,
    rounds_completed: int,
    session_seconds: float,
    rounds_without_gain: int,
    session_rounds: int = 1,
) -> StopReason | None:
    """Why a search in this state stops now, or None to go on.

    The time budget counts this session, starting Ray included, and stops it only once it has run a
    round: however slow the start, a session always leaves a result.
    """
    if rounds_completed >= config.rounds:
        return StopReason.ROUNDS
    if best is not None and config.target_loss is not None and best.loss <= config.target_loss:
        return StopReason.TARGET_LOSS
    if config.patience is not None and rounds_without_gain >= config.patience:
        return StopReason.PATIENCE
    if config.time_budget is not None and session_seconds >= config.time_budget and session_rounds > 0:
        return StopReason.TIME_BUDGET
    return None


def evaluate_rows(
    params, dataset: Dataset, layout: Layout, l2: float = 0.0, loss: str = "cross_entropy"
) -> tuple[float, float]:
    """(loss, score) of one network on a data set's rows: the compiled code's, the same bits on every CPU.

    l2 and loss as the climbs minimise them; held-out and test rows are evaluated without the L2 term, a
    classifier's by their cross-entropy. The score: a classifier's accuracy, a regressor's R^2 (its loss
    "mse" or "mae" on the targets).
    """
    loss, score = evaluate_compiled(params, dataset.X, _answers(dataset), layout, l2, loss)
    return float(loss), float(score)


def _answers(dataset: Dataset) -> np.ndarray:
    """What the rows' loss compares the network with: a regressor's targets (S, T), a classifier's labels (S,)."""
    return dataset.targets if dataset.regression else dataset.labels


def training_evaluator(dataset: Dataset, layout: Layout, l2: float, loss: str = "cross_entropy") -> Evaluator:
    """evaluate_rows() on the training rows, with the loss the climbs minimise, the rows packed once."""
    from workers import from_scratch  # here: reading a config or checking input loads no compiled code
    from workers.rows import pack_rows

    if dataset.regression:
        rows = pack_rows(dataset.X, None, targets=dataset.targets, loss=loss, l2=l2)
    else:
        rows = pack_rows(dataset.X, dataset.labels, loss=loss, l2=l2)
    net = layout.arrays

    def evaluated(params) -> tuple[float, float]:
        losses, scores = from_scratch.evaluate_batch(np.ascontiguousarray(params, dtype=np.float64)[None, :], rows, net)
        return float(losses[0]), float(scores[0])

    return evaluated


def _placement(executor: Executor) -> dict[str, int]:
    """Where the last round's climbs ran, as a record says it; nothing from an executor that does not say."""
    placement = getattr(executor, "placement", None)  # an Executor of a caller's, written before it was asked
    if placement is None:
        return {}
    where = placement()
    return {"driver_tasks": where.driver_tasks, "actors": where.actors}


def _start_best(prepared: PreparedRun, layout: Layout) -> Best | None:
    """A new run's given start as the best before round 0 (round -1, climber -1), scored on its training rows.

    Scored here, on these rows, so that the first round's climbers start from it and beat it only
    by a loss measured on the same rows; None without a start (each climber draws its own).
    """
    start = prepared.start
    if start is None:
        return None
    if prepared.objective is not None:  # evaluated as round 0's climbers will: under that round's seed
        evaluator = objective_evaluator(prepared.objective, _objective_seed(prepared, 0), 0, "the start network")
        params = start.params
        loss, score = evaluator(params)
    else:
        params = layout.snap(start.params)  # a start off the grid climbs from its nearest levels
        config = prepared.config
        loss, score = evaluate_rows(params, prepared.dataset, layout, config.l2, prepared.loss_name)  # the climbs' loss
    outcome = ClimbOutcome(params, start.step_sizes, loss, score, evaluations=0)
    return Best(round_index=-1, climber_index=-1, outcome=outcome)


def _objective_seed(prepared: PreparedRun, round_index: int) -> int | None:
    """The round's seed when the run minimises a seeded objective, else None."""
    objective = prepared.objective
    return round_seed(prepared.config.seed, round_index) if objective is not None and objective.seeded else None


@dataclass(frozen=True, kw_only=True)
class _RoundWork:
    """What a round bought, either search's: its best, and the evaluations it took."""

    best: Best
    evaluations: int  # the workers' (the coordinator's apart)
    critical_evaluations: int  # the most one worker computed in the round, one after another
    coordinator_evaluations: int
    winning_climber: int | None = None  # None: no single climber's network is the round's best
    combined: bool = False
    winning_share: int | None = None


class SearchStepper:
    """A search in progress on an executor, from scratch or from a checkpoint's state."""

    def __init__(
        self,
        prepared: PreparedRun,
        executor: Executor,
        progress: Progress | None = None,
        session_started: float | None = None,
    ):
        """session_started: time.monotonic() when this session began (default now); the time budget counts from it."""
        config, state = prepared.config, prepared.state
        self.population: PopulationRounds | None = None  # a population strategy's state, round to round
        if config.search in POPULATION_SEARCHES:
            self.population = self._population(prepared, executor)
            config = self.population_config
        elif config.climbers is None:
            # One climber per worker: the deepest climbs per second. Recorded in the result's
            # config (and checkpoint), so the run can be repeated anywhere.
            config = config.model_copy(update={"climbers": executor.workers})
        self.objective = prepared.objective  # None: the climbs minimise the training rows' loss
        if config.steps is None and self.population is None:  # sized from the climbers and the data; recorded likewise
            if self.objective is not None:
                steps = objective_round_steps(config, config.climbers, prepared.episode_steps)
            else:
                steps = round_steps(config, config.climbers, len(prepared.dataset.X), config.shares or 1)
            config = config.model_copy(update={"steps": steps})
        self.config = config
        self.prepared = prepared
        self.executor = executor
        self.progress = progress or SilentProgress()
        self.layout = Layout(config.layers, config.activation, config.weights)
        self._loss_name = prepared.loss_name
        # Held-out and test rows: a regressor's by its loss, a classifier's by their cross-entropy (whatever it climbs)
        regression = prepared.dataset is not None and prepared.dataset.regression
        self._held_out_loss = self._loss_name if regression else "cross_entropy"
        self._training_evaluator = None  # an objective's evaluator is made each round, for the round's seed
        if self.objective is None and (config.shares or 1) == 1:  # on shares, the rows are evaluated where held
            self._training_evaluator = training_evaluator(prepared.dataset, self.layout, config.l2, self._loss_name)
        # What a network's score is called in the records: a classifier's accuracy, a regressor's R^2, none.
        self._score_name = None if self.objective is not None else "r2" if regression else "accuracy"
        self._warned_non_finite = False
        self.row_shares = None  # a run on row shares: its shares' state from round to round
        self.best: Best | None
        if self.population is not None:
            self.best = state.best if state else None  # the first generation's best is the first best
        elif (config.shares or 1) > 1:
            self.row_shares = RowShares(
                config.shares, executor, self.layout, config.l2, self._loss_name, state.share_scale if state else 1.0
            )
            self.best = self._start_on_shares(state)
        else:
            self.best = state.best if state else _start_best(prepared, self.layout)
        self.selected: Selected | None = state.selected if state else None
        self.history: list[RoundRecord] = list(state.history) if state else []
        self.evaluations = state.evaluations if state else 0
        self.rounds_completed = state.rounds_completed if state else 0
        self._first_round = self.rounds_completed  # of this session
        self.session = self.history[-1].session + 1 if self.history else 0
        self._seconds_before = state.wall_seconds if state else 0.0
        self._started = time.monotonic() if session_started is None else session_started

    @property
    def session_seconds(self) -> float:
        """Seconds since this session (the first run, or a resume) began."""
        return time.monotonic() - self._started

    @property
    def wall_seconds(self) -> float:
        """Seconds of every session of the run together."""
        return self._seconds_before + self.session_seconds

    @property
    def rounds_without_gain(self) -> int:
        """Rounds since the held-out score last improved (0 without held-out rows)."""
        if self.selected is None:
            return 0
        return self.rounds_completed - 1 - self.selected.round_index

    @property
    def stop_reason(self) -> StopReason | None:
        """Why the search should stop now, or None while it should go on."""
        return stop_reason(
            self.config,
            self.best,
            self.rounds_completed,
            self.session_seconds,
            self.rounds_without_gain,
            self.rounds_completed - self._first_round,
        )

    def step(self) -> RoundRecord:
        """Run one round from the broadcast best (a population strategy: one generation); returns its record."""
        round_index = self.rounds_completed
        started = time.monotonic()
        work = self._population_round(round_index) if self.population is not None else self._climb_round(round_index)
        best = work.best
        seconds = time.monotonic() - started
        validation_loss = validation_score = None
        if self.prepared.validation is not None:
            validation_loss, validation_score = evaluate_rows(
                best.outcome.params, self.prepared.validation, self.layout, loss=self._held_out_loss
            )
            candidate = Selected(best, round_index, validation_loss, validation_score)
            self.selected = selection_of(self.selected, candidate, by_loss=self.prepared.dataset.regression)
        record = RoundRecord(
            round=round_index,
            best_loss=best.loss,
            **self._scores("best", best.score),
            evaluations=work.evaluations,
            wall_seconds=seconds,
            evaluations_per_second=work.evaluations / seconds if seconds > 0 else 0.0,
            winning_climber=work.winning_climber,
            session=self.session,
            workers=self.executor.workers_alive(),
            **_placement(self.executor),
            validation_loss=validation_loss,
            **self._scores("validation", validation_score),
            steps=self.config.steps,
            climber_evaluations=work.critical_evaluations,
            coordinator_evaluations=work.coordinator_evaluations,
            combined=work.combined,
            winning_share=work.winning_share,
        )
        self.best = best
        self.history.append(record)
        self.evaluations += work.evaluations
        self.rounds_completed += 1
        self.progress.round_done(record, self.session_seconds)
        return record

    def _climb_round(self, round_index: int) -> _RoundWork:
        """The climbers' round: every climber from the broadcast best, then the best (or a recombination) kept."""
        objective_seed = _objective_seed(self.prepared, round_index)
        tasks = round_tasks(self.config, round_index, objective_seed)
        best, reports = self.best, []
        for report in self.executor.run_round(start_of(self.best), tasks):
            if self.row_shares is None:  # a report's loss on its share says nothing yet of all rows
                best = better_of(best, report)
            reports.append(report)
            self.progress.climber_done(round_index, len(reports), len(tasks), best)
        if len(reports) != len(tasks):  # a pool never loses a task; this guards the one-answer promise
            raise RuntimeError(f"round {round_index}: {len(reports)} of {len(tasks)} climbers reported")
        previous, evaluator = self.best, self._training_evaluator
        if self.objective is not None:
            # Fair under a seeded objective: the best so far meets this round's climbers with the loss they
            # measured for it under this round's seed, and the coordinator evaluates recombinations under it too.
            previous = rescored(self.best, reports)
            evaluator = objective_evaluator(self.objective, objective_seed, round_index, "a recombination")
            if not self._warned_non_finite:
                self._warned_non_finite = warn_non_finite(self.objective, reports)
        winning_share = None
        if self.row_shares is not None:
            kept = self.row_shares.keep(previous, reports, round_index, self.layout.snap)
            if kept.top_climber is not None:
                winning_share = climber_share(round_index, kept.top_climber, self.row_shares.shares)
        else:
            kept = round_best(previous, reports, self.config.combine, evaluator, round_index, snap=self.layout.snap)
        best = kept.best
        if self.objective is not None:
            require_a_number(self.objective, best, reports, round_index)  # a NaN best is an error, not a result
        single = best.round_index == round_index and not kept.combined
        return _RoundWork(
            best=best,
            evaluations=sum(report.outcome.evaluations for report in reports),  # the coordinator's apart
            critical_evaluations=max(report.outcome.evaluations for report in reports),
            coordinator_evaluations=kept.coordinator_evaluations,
            winning_climber=best.climber_index if single else None,
            combined=kept.combined,
            winning_share=winning_share,
        )

    def _population_round(self, round_index: int) -> _RoundWork:
        """A population strategy's round: one generation's candidates scored by the workers, the centre moved."""
        best = self.best

        def reported(done: int, total: int) -> None:
            self.progress.climber_done(round_index, done, total, best)

        work = self.population.run(round_index, self.executor, _objective_seed(self.prepared, round_index), reported)
        return _RoundWork(
            best=work.best,
            evaluations=work.evaluations,
            critical_evaluations=work.critical_evaluations,
            coordinator_evaluations=0,
        )

    def _population(self, prepared: PreparedRun, executor: Executor) -> PopulationRounds:
        """A population strategy's rounds, from its checkpointed state or from the start; the population resolved
        (none: from the executor's workers) and recorded in `population_config`."""
        config, state = prepared.config, prepared.state
        layout = Layout(config.layers, config.activation, config.weights)
        population = config.population or auto_population(executor.workers, layout.num_params)
        self.population_config = config.model_copy(update={"population": population})
        settings = self.population_config.population_settings(population)
        if state is not None:
            return PopulationRounds(prepared.objective, settings, config.seed, state.population)
        return PopulationRounds(
            prepared.objective, settings, config.seed, first_state(settings, config.seed, layout, prepared.start)
        )

    def _scores(self, prefix: str, score: float | None) -> dict[str, float | None]:
        """A score as a record names it: {prefix}_accuracy for a classifier, {prefix}_r2 for a regressor, nothing
        for an objective (which has no score)."""
        return {} if self._score_name is None else {f"{prefix}_{self._score_name}": score}

    def _environment(self) -> Environment:
        """Where this session ran: the executor's word, and where its rounds' climbs ran, from their records."""
        session = [record for record in self.history if record.session == self.session]
        return self.executor.environment().model_copy(update=placement_fields(session))

    def checkpoint(self) -> Checkpoint:
        """The state after the rounds so far, to save and resume from."""
        return Checkpoint(
            config=self.config,
            rounds_completed=self.rounds_completed,
            best=self.best,
            history=self.history.copy(),
            evaluations=self.evaluations,
            wall_seconds=self.wall_seconds,
            selected=self.selected,
            data=self.prepared.data,
            scaling=self.prepared.scaling,
            start_sha256=self.prepared.start_sha256,
            objective=self.prepared.objective_record,
            target_scaling=self.prepared.target_scaling,
            share_scale=self.row_shares.scale if self.row_shares is not None else 1.0,
            population=self.population.state if self.population is not None else None,
        )

    def _start_on_shares(self, state: Checkpoint | None) -> Best:
        """Where a run on row shares starts: a resumed run's best, the given start, or a common start drawn from the
        seed; each evaluated on all rows here, so that the next round ranks its climbers against its shares."""
        if state is not None:
            return self.row_shares.adopt(state.best, state.best.round_index)
        start = self.prepared.start
        if start is None:
            return self.row_shares.common_start(self.config.seed, self.config.step_size)
        outcome = ClimbOutcome(self.layout.snap(start.params), start.step_sizes, math.nan, math.nan, 0)
        return self.row_shares.adopt(Best(round_index=-1, climber_index=-1, outcome=outcome), -1)

    def result(self, stopped_because: StopReason | None = None) -> SearchResult:
        """The result as of now (while the executor is open: it says where the search ran).

        The network is the best on held-out rows when rows are held out, else the best on the
        training rows. stopped_because defaults to the stepper's own stop reason, else the caller's decision.
        """
        if self.best is None:
            raise RuntimeError("no round has run yet")
        kept = self.selected.best if self.selected is not None else self.best
        test = self.prepared.test
        test_loss, test_score = (None, None)
        if test is not None:
            test_loss, test_score = evaluate_rows(kept.outcome.params, test, self.layout, loss=self._held_out_loss)
        selected = self.selected
        return SearchResult(
            config=self.config,
            best_loss=kept.loss,
            **self._scores("best", kept.score),
            rounds_completed=self.rounds_completed,
            evaluations=self.evaluations,
            wall_seconds=self.wall_seconds,
            stopped_because=stopped_because or self.stop_reason or StopReason.CALLER,
            history=self.history.copy(),
            environment=self._environment(),
            params=kept.outcome.params,
            step_sizes=kept.outcome.step_sizes,
            data=self.prepared.data,
            scaling=self.prepared.scaling,
            selected_round=self.selected.round_index if self.selected is not None else None,
            validation_loss=selected.validation_loss if selected is not None else None,
            **self._scores("validation", selected.validation_score if selected is not None else None),
            test_loss=test_loss,
            **self._scores("test", test_score),
            start_sha256=self.prepared.start_sha256,
            objective=self.prepared.objective_record,
            policy=self.prepared.policy,
            target_scaling=self.prepared.target_scaling,
        )
