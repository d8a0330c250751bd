"""Where a session's rounds ran, from their records: what result.json's environment records and the summary says."""

from __future__ import annotations

import io

from coordinator.interface.summary import cost_line, print_summary
from coordinator.results.placement import Span, placement_fields, placement_spans
from coordinator.results.records import Environment, RoundRecord
from tests.coordinator.cli_runner import make_run


def _record(round_index: int, driver_tasks: int | None, actors: int | None, session: int = 0) -> RoundRecord:
    return RoundRecord(
        round=round_index, best_loss=0.5, best_accuracy=0.5, evaluations=100, wall_seconds=0.5,
        evaluations_per_second=200.0, winning_climber=0, session=session, driver_tasks=driver_tasks, actors=actors,
    )  # fmt: skip


# Rounds 0-11 in the driver while Ray started, round 12 split as the actors came up, 13-40 on 2 actors.
STARTING = [_record(r, 2, 0) for r in range(12)] + [_record(12, 1, 1)] + [_record(r, 0, 2) for r in range(13, 41)]


def test_rounds_are_grouped_by_where_they_ran_and_counted_as_result_json_records_them():
    assert placement_spans(STARTING) == [Span("driver", 0, 11, 0), Span("both", 12, 12, 1), Span("workers", 13, 40, 2)]
    assert placement_fields(STARTING) == {
        "driver_rounds": 12, "worker_rounds": 28, "shared_rounds": 1, "first_worker_round": 12, "actors": 2,
    }  # fmt: skip
    assert placement_spans([_record(0, 2, 0), _record(1, None, None)]) is None  # a record that does not say
    assert placement_fields([_record(0, None, None)]) == {}


def test_the_summary_says_where_the_rounds_ran_not_the_workers_asked_for(tmp_path):
    result = make_run(tmp_path / "run")
    environment = Environment(executor="ray", ray_version="2", cpus=2, workers=2, **placement_fields(STARTING))
    on_ray = result.model_copy(update={"history": STARTING, "environment": environment, "rounds_completed": 41})
    assert cost_line(on_ray, 20.0).endswith(
        "; rounds 0-11 climbed in this process while Ray started, 12 partly in this process, partly on 1 worker "
        "actor(s) as they came up, 13-40 on 2 worker actor(s) (2 worker actor(s) asked for, 2 CPU(s), 1 node(s))"
    )
    driver = STARTING[:12]
    only_here = on_ray.model_copy(update={"history": driver, "environment": environment.model_copy(
        update=placement_fields(driver))})  # fmt: skip
    line = cost_line(only_here, 10.0)
    assert "; rounds 0-11 climbed in this process while Ray started (2 worker actor(s) asked for" in line
    assert line.endswith("no worker actor climbed: Ray was still starting when the run ended, and its start shared "
                         "the CPUs with these rounds (--inprocess climbs without starting it)")  # fmt: skip
    assert "every round in this process (--inprocess; " in cost_line(result, 1.0)


def test_a_session_past_its_budget_says_why(tmp_path):
    result = make_run(tmp_path / "run", time_budget=10.0)
    stream = io.StringIO()
    print_summary(result, tmp_path / "run", stream, session_seconds=14.6, last_round_end=12.2)
    assert (
        "the 10 s budget ran to 14.6 s: the last round ended at 12.2 s (the budget is checked between rounds, here "
        "of up to " in stream.getvalue()
    )
    assert "; saving the result and closing took 2.4 s\n" in stream.getvalue()
    within = io.StringIO()
    print_summary(result, tmp_path / "run", within, session_seconds=11.5, last_round_end=10.4)
    assert "budget ran to" not in within.getvalue()
