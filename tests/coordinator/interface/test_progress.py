"""What a run shows while it goes (live line, log lines, JSON lines, --quiet) and the summary at its end."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest

from coordinator import SearchConfig, load_result, search
from coordinator.interface.progress import JsonProgress, LineProgress, ProgressGroup
from coordinator.interface.ray_metrics import RayMetrics
from coordinator.interface.summary import print_summary as _print_summary
from coordinator.results.records import RoundRecord
from coordinator.rounds.best import SELECTION_RULE, Best
from tests.coordinator.cli_runner import TINY_FLAGS, make_run, run_cli
from workers import ClimbOutcome


def _record(round_index: int, loss: float = 0.25) -> RoundRecord:
    return RoundRecord(
        round=round_index,
        best_loss=loss,
        best_accuracy=0.9,
        evaluations=2_000,
        wall_seconds=0.01,
        evaluations_per_second=200_000.0,
        winning_climber=1,
    )


def _best(loss: float = 0.3) -> Best:
    return Best(round_index=0, climber_index=0, outcome=ClimbOutcome(None, None, loss, 0.8, 0))


def test_line_progress_in_a_log_writes_one_plain_line_per_round():
    stream = io.StringIO()
    progress = LineProgress(time_budget=30.0, stream=stream)
    assert not progress.live
    progress.climber_done(0, 1, 2, _best())  # nothing between rounds in a log
    progress.round_done(_record(0), elapsed_s=1.5)
    progress.round_done(_record(1, loss=0.2), elapsed_s=3.0)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()
    assert " ".join(lines[1].split()) == (
        "round 1 training loss 0.20000, accuracy 0.900 200.00k evals/s elapsed 3.0 s left 27.0 s"
    )


def test_line_progress_shows_held_out_figures_when_rows_are_held_out():
    stream = io.StringIO()
    record = _record(3).model_copy(update={"validation_loss": 0.41234, "validation_accuracy": 0.85})
    LineProgress(time_budget=None, stream=stream).round_done(record, elapsed_s=1.0)
    assert " ".join(stream.getvalue().split()).startswith(
        "round 3 training loss 0.25000, accuracy 0.900 held-out loss 0.41234, accuracy 0.850 200.00k evals/s"
    )


def test_line_progress_without_budget_shows_no_time_left():
    stream = io.StringIO()
    LineProgress(time_budget=None, stream=stream).round_done(_record(0), elapsed_s=1.0)
    assert "left" not in stream.getvalue() and "elapsed" in stream.getvalue()


def test_line_progress_on_a_terminal_redraws_one_line_and_ends_it():
    stream = io.StringIO()
    progress = LineProgress(time_budget=10.0, stream=stream, live=True)
    progress.climber_done(0, 2, 2, _best())
    drawn = stream.getvalue()
    assert drawn.startswith("\r") and "climbers 2/2" in drawn and "training loss 0.30000" in drawn
    assert "left" in drawn and not drawn.endswith("\n")
    progress.round_done(_record(0), elapsed_s=0.5)  # the first round's line is kept
    assert stream.getvalue().endswith("\n")
    progress.round_done(_record(1), elapsed_s=0.6)  # within a second: redrawn in place, not kept
    assert not stream.getvalue().endswith("\n")
    progress.close()
    assert stream.getvalue().endswith("\n")
    progress.close()  # a second close adds nothing
    assert stream.getvalue().count("\n") == 2


def test_json_progress_writes_one_strict_json_object_per_round():
    stream = io.StringIO()
    progress = JsonProgress(stream=stream, time_budget=5.0)
    progress.climber_done(0, 1, 2, _best())
    progress.round_done(_record(0), elapsed_s=1.25)
    progress.round_done(_record(1, loss=math.nan), elapsed_s=7.0)
    progress.close()
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert first["round"] == 0 and first["best_loss"] == 0.25 and first["best_accuracy"] == 0.9
    assert first["evaluations_per_second"] == 200_000.0
    assert first["elapsed_s"] == 1.25 and first["time_left_s"] == 3.75
    assert second["best_loss"] is None and second["time_left_s"] == 0.0
    assert "NaN" not in stream.getvalue()
    no_budget = io.StringIO()
    JsonProgress(stream=no_budget).round_done(_record(0), elapsed_s=1.0)
    assert json.loads(no_budget.getvalue())["time_left_s"] is None


def test_summary_names_the_figures_the_seed_and_the_files(tmp_path):
    result = make_run(tmp_path / "run")
    stream = io.StringIO()
    _print_summary(result, tmp_path / "run", stream, [tmp_path / "run" / "history.png"])
    text = stream.getvalue()
    assert text.startswith(
        f"best network after 2 rounds (rounds reached): on the training rows (300): cross-entropy "
        f"{result.best_loss:.5f}, accuracy {result.best_accuracy:.3f}\n"
    )  # the chapter's data: no L2 term, nothing held out
    assert "the chapter's adjust loop on vertical, network 2-3-3, 10,000 steps: training cross-entropy 0.1728, " in text
    assert f"{result.evaluations:,} evaluations in {result.wall_seconds:.1f} s" in text
    assert "/s overall, " in text and "/s while climbing); every round in this process (--inprocess; " in text
    assert f"written: {tmp_path}/run/result.json, {tmp_path}/run/weights.npz, {tmp_path}/run/history.png" in text


def test_summary_names_the_kept_network_and_the_last_one_in_plain_words(tmp_path):
    X = np.random.default_rng(0).standard_normal((60, 2))
    y = (X[:, 0] > 0).astype(int)
    config = SearchConfig(hidden=(4,), climbers=2, steps=100, rounds=6, time_budget=None, validation_fraction=0.3)
    result = search(config, X, y, executor="inprocess")
    stream = io.StringIO()
    _print_summary(result, tmp_path, stream)
    first = stream.getvalue().splitlines()[0]
    assert first.startswith(f"kept the network of round {result.selected_round} of 6 ({SELECTION_RULE}): ")
    held = f"{result.validation_loss:.5f}, accuracy {result.validation_accuracy:.3f}"
    assert f"on the held-out rows (18): cross-entropy {held}; " in first
    training = f"{result.best_loss:.5f}, accuracy {result.best_accuracy:.3f}"
    assert f"on the training rows (42): cross-entropy + L2 {training} (rounds reached)" in first
    assert "the training loss is the one the climbs minimise (cross-entropy + L2); held-out and test rows are " \
        "scored by cross-entropy, without the L2 term" in stream.getvalue()  # fmt: skip
    last = result.history[-1]
    if result.selected_round != last.round:
        assert f"the last round's network: held-out cross-entropy {last.validation_loss:.5f}, " in stream.getvalue()


def test_a_resumed_runs_summary_tells_this_session_from_the_whole_run(tmp_path):
    first = run_cli("run", *TINY_FLAGS, "--inprocess", "--out", "run", "--time-budget", "none", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    completed = run_cli("run", "--resume", "run", "--rounds", "5", "--inprocess", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    result = load_result(tmp_path / "run")
    session = [record for record in result.history if record.session == 1]
    assert [record.round for record in session] == [2, 3, 4]
    evaluations = sum(record.evaluations for record in session)
    assert evaluations < result.evaluations
    # The start line and the summary name the same round: the last one done before this session.
    assert ", going on after round 1; results go to run/" in completed.stderr.splitlines()[0]
    line = next(line for line in completed.stdout.splitlines() if line.startswith("this session"))
    assert line.startswith(f"this session (resumed after round 1): 3 rounds, {evaluations:,} evaluations in ")
    assert line.endswith(
        f"the whole run: 2 sessions, {result.evaluations:,} evaluations in {result.wall_seconds:.1f} s"
    )


def test_summary_leaves_out_the_seed_on_other_data(tmp_path):
    result = make_run(tmp_path / "run", samples=50)
    stream = io.StringIO()
    _print_summary(result, tmp_path / "run", stream)
    assert "seed" not in stream.getvalue()


def test_run_quiet_prints_nothing(tmp_path):
    completed = run_cli("run", *TINY_FLAGS, "--inprocess", "--out", "run", "--quiet", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "" and completed.stderr == ""
    assert (tmp_path / "run" / "result.json").is_file()


def test_run_log_json_keeps_stdout_for_machines(tmp_path):
    flags = [*TINY_FLAGS, "--time-budget", "none"]
    completed = run_cli("run", *flags, "--inprocess", "--out", "run", "--log-json", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    rounds = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [record["round"] for record in rounds] == [0, 1]
    assert {"best_loss", "best_accuracy", "evaluations_per_second", "elapsed_s", "time_left_s"} <= set(rounds[0])
    assert rounds[-1]["time_left_s"] is None  # no budget, no time left
    assert "best network" in completed.stderr and "written:" in completed.stderr  # the summary, for people
    assert rounds[0]["figures"] == {
        "best_loss": "training rows (300): cross-entropy, no L2 term (l2 is 0); what the climbs minimise",
        "best_accuracy": "training rows (300): accuracy",
    }


def test_run_in_a_log_prints_round_lines_and_the_summary(tmp_path):
    completed = run_cli("run", *TINY_FLAGS, "--inprocess", "--out", "run", "--time-budget", "100", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    round_lines = [line for line in completed.stderr.splitlines() if line.startswith("round")]
    assert len(round_lines) == 2 and "left" in round_lines[0]
    assert completed.stderr.startswith(
        "searching vertical (300 rows, 2 features, 3 classes), network 2-3-3; results go to run/"
    )
    assert "best network" in completed.stdout and f"{Path('run') / 'result.json'}" in completed.stdout


class _Listener:
    """Writes down what it hears, in one list shared with the others."""

    def __init__(self, name: str, heard: list):
        self.name, self.heard = name, heard

    def started(self):
        self.heard.append((self.name, "started"))

    def climber_done(self, round_index, done, total, best):
        self.heard.append((self.name, "climber", done))

    def round_done(self, record, elapsed_s):
        self.heard.append((self.name, "round", record.round))

    def close(self):
        self.heard.append((self.name, "closed"))


def test_progress_group_tells_each_onlooker_everything_in_order():
    heard: list = []
    stream = io.StringIO()
    group = ProgressGroup(_Listener("a", heard), LineProgress(30.0, stream=stream), _Listener("b", heard))
    group.started()
    group.climber_done(0, 1, 2, _best())
    group.round_done(_record(0), elapsed_s=1.0)
    group.close()
    events = [("started",), ("climber", 1), ("round", 0), ("closed",)]
    assert heard == [(name, *event) for event in events for name in ("a", "b")]
    assert stream.getvalue().startswith("round     0  training loss 0.25000")


def test_ray_metrics_without_a_ray_connection_publish_nothing():
    import sys

    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():  # a module before this one left Ray up
        pytest.skip("needs a process without a Ray connection")
    metrics = RayMetrics("nowhere")
    search(SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=1, steps=50, rounds=1), executor="inprocess",
           progress=metrics)  # fmt: skip
    assert not metrics.publishing
    metrics.close()


def test_every_figure_of_a_run_that_climbs_an_error_rate_with_the_l2_term_names_what_it_is(tmp_path, capsys):
    from coordinator.interface.cli import main

    flags = ["--dataset", "iris", "--hidden", "4", "--loss", "error", "--climbers", "2", "--steps", "100"]
    flags += ["--rounds", "2", "--time-budget", "none", "--inprocess"]
    assert main(["run", *flags, "--out", str(tmp_path / "run")]) == 0
    out, err = capsys.readouterr()
    result = load_result(tmp_path / "run")
    data = result.data
    rounds = [line for line in err.splitlines() if line.startswith("round")]
    assert "  training error rate + L2 " in rounds[0] and "  held-out cross-entropy " in rounds[0]
    assert f"on the held-out rows ({data.validation.rows}): cross-entropy {result.validation_loss:.5f}, " in out
    assert f"on the training rows ({data.rows}): error rate + L2 {result.best_loss:.5f}, accuracy " in out
    assert f"test rows never seen by the search ({data.test.rows}): cross-entropy {result.test_loss:.5f}, " in out
    assert "the climbs minimise (error rate + L2); held-out and test rows are scored by cross-entropy, without" in out
    assert main(["run", *flags, "--out", str(tmp_path / "json"), "--log-json"]) == 0
    figures = json.loads(capsys.readouterr().out.splitlines()[0])["figures"]
    assert figures["best_loss"] == (
        f"training rows ({data.rows}): error rate, with the L2 term; what the climbs minimise"
    )
    assert figures["validation_loss"] == (
        f"held-out rows ({data.validation.rows}): cross-entropy, without the L2 term, of the round's best network"
    )
    assert set(figures) == {"best_loss", "best_accuracy", "validation_loss", "validation_accuracy"}
