"""What a round keeps: the best climber or a recombination, a pure choice whatever the order of reports."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from coordinator import SearchConfig, search
from coordinator.data.datasets import load_dataset
from coordinator.rounds.best import Best
from coordinator.rounds.combine import COMBINED, LENGTHS, keep_best, rank_key, recombination_weights, round_best
from coordinator.rounds.stepper import training_evaluator
from workers import ClimbOutcome, ClimbReport, Layout, climb_batch
from workers.climbs import Solution
from workers.settings import ClimbSettings

LAYERS = (2, 8, 3)


@pytest.fixture(scope="module")
def problem():
    """The chapter's spiral, a small network, a start and five climbs of one round from it."""
    config = SearchConfig(layers=LAYERS)
    dataset = load_dataset(config)
    layout = Layout(LAYERS)
    scorer = training_evaluator(dataset, layout, 0.0)
    settings = ClimbSettings(steps=300)
    # A start that has climbed a while: from there, recombining the round's changes beats every climber.
    (start,) = climb_batch(None, [11], dataset.X, dataset.labels, layout, ClimbSettings(steps=2000))
    previous = Best(round_index=0, climber_index=0, outcome=start)
    solution = Solution(start.params, start.step_sizes)
    outcomes = climb_batch(solution, list(range(5)), dataset.X, dataset.labels, layout, settings)
    reports = [ClimbReport(round_index=1, climber_index=index, outcome=o) for index, o in enumerate(outcomes)]
    return previous, reports, scorer


def test_weights_are_cma_es_positive_log_ranks_summing_to_one():
    weights = recombination_weights(5)
    assert weights.sum() == pytest.approx(1.0)
    assert np.all(weights > 0) and np.all(np.diff(weights) < 0)
    assert weights[0] / weights[1] == pytest.approx(math.log(5.5) / (math.log(5.5) - math.log(2)))
    assert recombination_weights(1).tolist() == [1.0]


def test_recombination_is_the_formula_and_never_worse_than_the_best_climber(problem):
    previous, reports, scorer = problem
    kept = round_best(previous, reports, "recombine", scorer, 1)
    single = keep_best(previous, reports)
    improvers = sorted((report for report in reports if report.loss < previous.loss), key=rank_key)
    assert len(improvers) >= 2, "the fixture must have several improving climbers"
    assert kept.coordinator_evaluations == len(LENGTHS)
    assert kept.best.loss <= single.loss <= previous.loss
    # The plain formula: start + length * sum_i w_i (x_i - start), the lowest of the lengths tried.
    start = previous.outcome.params
    weights = recombination_weights(len(improvers))
    direction = sum(w * (report.outcome.params - start) for w, report in zip(weights, improvers, strict=True))
    candidates = [start + length * direction for length in LENGTHS]
    losses = [scorer(candidate)[0] for candidate in candidates]
    assert min(losses) < single.loss, "the fixture must have a recombination that beats every climber"
    assert kept.combined and kept.best.climber_index == COMBINED
    assert kept.best.loss == min(losses)
    np.testing.assert_allclose(kept.best.outcome.params, candidates[int(np.argmin(losses))], rtol=0, atol=1e-12)
    assert kept.best.outcome.step_sizes is improvers[0].outcome.step_sizes


def test_the_kept_network_does_not_depend_on_the_order_reports_arrive_in(problem):
    previous, reports, scorer = problem
    reference = round_best(previous, reports, "recombine", scorer, 1)
    for order in itertools.islice(itertools.permutations(reports), 0, None, 17):
        kept = round_best(previous, list(order), "recombine", scorer, 1)
        assert kept.best.outcome.params.tobytes() == reference.best.outcome.params.tobytes()
        assert (kept.best.loss, kept.best.climber_index, kept.combined) == (
            reference.best.loss,
            reference.best.climber_index,
            reference.combined,
        )


def test_best_rule_and_a_lone_improver_cost_the_coordinator_nothing(problem):
    previous, reports, scorer = problem
    calls = []

    def counting(params):
        calls.append(1)
        return scorer(params)

    best = round_best(previous, reports, "best", counting, 1)
    assert (best.coordinator_evaluations, best.combined, calls) == (0, False, [])
    assert best.best is keep_best(previous, reports)
    lone = [reports[0], *(_worse(report, previous.loss) for report in reports[1:])]
    kept = round_best(previous, lone, "recombine", counting, 1)
    assert (kept.coordinator_evaluations, kept.combined, calls) == (0, False, [])


def test_nan_climbers_are_left_out_and_a_nan_candidate_never_wins(problem):
    previous, reports, scorer = problem
    poisoned = [*reports, _worse(reports[0], math.nan)]
    kept = round_best(previous, poisoned, "recombine", scorer, 1)
    assert kept.best.loss == round_best(previous, reports, "recombine", scorer, 1).best.loss
    nothing = round_best(previous, reports, "recombine", lambda params: (math.nan, 0.0), 1)
    assert not nothing.combined and nothing.best is keep_best(previous, reports)


def _worse(report: ClimbReport, loss: float) -> ClimbReport:
    outcome = report.outcome
    worse = ClimbOutcome(outcome.params + 1.0, outcome.step_sizes, loss, 0.0, outcome.evaluations)
    return ClimbReport(round_index=report.round_index, climber_index=report.climber_index + 10, outcome=worse)


def test_a_search_records_who_won_and_what_the_coordinator_did():
    config = SearchConfig(climbers=4, steps=400, rounds=6, time_budget=None, layers=LAYERS)
    result = search(config, executor="inprocess")
    history = result.history
    assert any(record.combined for record in history), "recombinations should win some rounds here"
    for record in history:
        assert record.steps == 400 and record.climber_evaluations == 401
        assert record.evaluations == 4 * 401  # the climbers'; the coordinator's apart
        assert record.coordinator_evaluations in (0, len(LENGTHS))
        assert record.critical_evaluations == 401 + record.coordinator_evaluations
        if record.combined:
            assert record.winning_climber is None and record.coordinator_evaluations == len(LENGTHS)
    losses = [record.best_loss for record in history]
    assert all(later <= earlier for earlier, later in itertools.pairwise(losses))
    single = search(config.model_copy(update={"combine": "best"}), executor="inprocess")
    assert not any(record.combined or record.coordinator_evaluations for record in single.history)
