"""Files: written whole or not at all, never overwritten by mistake, and a damaged one is told, not skipped."""

from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np
import pytest

import cluster.atomic_files
import coordinator.results.result
from cluster.atomic_files import atomic_save_npz, atomic_write_bytes, atomic_write_text
from coordinator import SearchConfig, load_result, search
from coordinator.config import ConfigError
from coordinator.results.records import RoundRecord
from coordinator.results.run_files import CHECKPOINT_FILE, RESULT_FILE, WEIGHTS_FILE
from coordinator.rounds.best import Best
from coordinator.rounds.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from workers import ClimbOutcome
from workers.network import Layout

TINY = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=2, steps=200, rounds=2, time_budget=None)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished two-round run directory (checkpoint, weights, result), made in this process."""
    run_dir = tmp_path_factory.mktemp("finished") / "run"
    search(TINY, executor="inprocess", run_dir=run_dir)
    return run_dir


def _copy_run(source, target):
    target.mkdir()
    for name in (CHECKPOINT_FILE, RESULT_FILE, WEIGHTS_FILE):
        (target / name).write_bytes((source / name).read_bytes())
    return target


def _snapshot(directory):
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


class _CrashError(Exception):
    """The stand-in for a crash part-way through a write."""


def _crash(*_arguments, **_options):
    raise _CrashError


# --- atomic writes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["fsync", "replace"])
def test_a_write_that_fails_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, where):
    path = tmp_path / "state.bin"
    path.write_bytes(b"old contents")
    monkeypatch.setattr(cluster.atomic_files.os, where, _crash)
    with pytest.raises(_CrashError):
        atomic_write_bytes(path, b"new contents that never land")
    monkeypatch.undo()
    assert path.read_bytes() == b"old contents"
    assert [entry.name for entry in tmp_path.iterdir()] == ["state.bin"]


def test_written_files_get_the_permissions_a_plain_open_gives(tmp_path):
    """mkstemp makes private files; run files and files a job brings back are the user's ordinary files."""
    from cluster.log_transport import write_files

    mask = os.umask(0)
    os.umask(mask)
    atomic_write_text(tmp_path / "result.json", "{}")
    write_files({"weights.npz": b"data"}, tmp_path / "fetched")
    for path in (tmp_path / "result.json", tmp_path / "fetched" / "weights.npz"):
        assert path.stat().st_mode & 0o777 == 0o666 & ~mask


def test_an_interrupt_during_a_write_leaves_no_temporary(tmp_path, monkeypatch):
    def interrupt(*_arguments):
        raise KeyboardInterrupt

    monkeypatch.setattr(cluster.atomic_files.os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(tmp_path / "result.json", "{}")
    assert list(tmp_path.iterdir()) == []


def test_a_write_is_whole_when_read_at_any_moment(tmp_path, monkeypatch):
    """The file's name only ever points at a complete file: the old one until the rename, then the new one."""
    path = tmp_path / "weights.npz"
    atomic_save_npz(path, params=np.zeros(3))
    seen = []
    real_replace = os.replace

    def replace_and_look(source, target):
        with np.load(path) as archive:  # just before the rename: still the whole old file
            seen.append(archive["params"].tolist())
        real_replace(source, target)

    monkeypatch.setattr(cluster.atomic_files.os, "replace", replace_and_look)
    atomic_save_npz(path, params=np.ones(3))
    with np.load(path) as archive:
        assert archive["params"].tolist() == [1.0, 1.0, 1.0]
    assert seen == [[0.0, 0.0, 0.0]]


def test_a_finished_run_holds_no_temporary_files(finished_run):
    assert sorted(entry.name for entry in finished_run.iterdir()) == sorted(
        [CHECKPOINT_FILE, RESULT_FILE, WEIGHTS_FILE]
    )


def test_a_crash_between_weights_and_result_never_pairs_an_old_result_with_new_weights(
    tmp_path, finished_run, monkeypatch
):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    result = load_result(run_dir)
    changed = result.model_copy(update={"params": result.params + 1.0, "best_loss": 0.123})
    monkeypatch.setattr(coordinator.results.result, "atomic_write_text", _crash)
    with pytest.raises(_CrashError):
        changed.save(run_dir)
    monkeypatch.undo()
    with pytest.raises(ConfigError, match=r"result\.json: missing"):  # no finished run rather than a mixed one
        load_result(run_dir)


# --- refusing to overwrite ---------------------------------------------------------------------------


def test_a_run_is_not_overwritten_without_force(tmp_path, finished_run):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    before = _snapshot(run_dir)
    with pytest.raises(ConfigError, match=r"already holds a run .* use --resume or --force$"):
        search(TINY, executor="inprocess", run_dir=run_dir)
    assert _snapshot(run_dir) == before


def test_force_replaces_a_run(tmp_path, finished_run):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    result = search(TINY.model_copy(update={"seed": 5}), executor="inprocess", run_dir=run_dir, force=True)
    assert load_result(run_dir).config.seed == 5 == result.config.seed
    assert load_checkpoint(run_dir).config.seed == 5


def test_force_with_bad_data_keeps_the_old_run(tmp_path, finished_run):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    before = _snapshot(run_dir)
    with pytest.raises(ConfigError, match="no such data file"):
        config = SearchConfig(dataset=str(tmp_path / "absent.csv"), layers=(2, 3, 3))
        search(config, executor="inprocess", run_dir=run_dir, force=True)
    assert _snapshot(run_dir) == before


# --- checkpoints -------------------------------------------------------------------------------------


def _checkpoint(config=TINY, **overrides):
    num_params = Layout(config.layers).num_params
    outcome = ClimbOutcome(np.arange(num_params) / 10.0, np.full(num_params, 0.05), 0.5, 0.75, 0)
    best = Best(round_index=3, climber_index=1, outcome=outcome)
    record = RoundRecord(
        round=3,
        best_loss=0.5,
        best_accuracy=0.75,
        evaluations=400,
        wall_seconds=0.1,
        evaluations_per_second=4000.0,
        winning_climber=1,
    )
    values = dict(config=config, rounds_completed=4, best=best, history=[record], evaluations=1600, wall_seconds=0.4)
    return Checkpoint(**{**values, **overrides})


def test_a_checkpoint_reads_back_as_written(tmp_path):
    written = _checkpoint()
    save_checkpoint(tmp_path, written)
    read = load_checkpoint(tmp_path)
    assert read.config == written.config and read.history == written.history
    assert (read.rounds_completed, read.evaluations, read.wall_seconds) == (4, 1600, 0.4)
    assert read.best.outcome.params.tobytes() == written.best.outcome.params.tobytes()
    assert (read.best.loss, read.best.climber_index, read.best.round_index) == (0.5, 1, 3)


def _zip_bytes(**members):
    """A .npz-shaped zip archive whose members are the given arrays, or raw bytes for a member."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, value in members.items():
            if isinstance(value, bytes):
                archive.writestr(f"{name}.npy", value)
            else:
                member = io.BytesIO()
                np.save(member, value)
                archive.writestr(f"{name}.npy", member.getvalue())
    return buffer.getvalue()


def _good_state(**changes):
    state = {
        "format_version": 1,
        "config": TINY.model_dump(mode="json"),
        "rounds_completed": 2,
        "best_loss": 0.5,
        "best_accuracy": 0.8,
        "best_climber": 0,
        "best_round": 1,
        "history": [],
        "evaluations": 10,
        "wall_seconds": 0.1,
    }
    return np.array(json.dumps({**state, **changes}))


NUM_PARAMS = Layout(TINY.layers).num_params
PARAMS = np.zeros(NUM_PARAMS)

DAMAGED_CHECKPOINTS = {
    "empty file": b"",
    "not a zip": b"this is not a checkpoint\n" * 10,
    "no state": _zip_bytes(params=PARAMS, step_sizes=PARAMS),
    "no weights": _zip_bytes(step_sizes=PARAMS, state=_good_state()),
    "state not JSON": _zip_bytes(params=PARAMS, step_sizes=PARAMS, state=np.array("{half a")),
    "state a JSON list": _zip_bytes(params=PARAMS, step_sizes=PARAMS, state=np.array("[1, 2]")),
    "state a number": _zip_bytes(params=PARAMS, step_sizes=PARAMS, state=np.array(7.0)),
    "state missing a field": _zip_bytes(
        params=PARAMS, step_sizes=PARAMS, state=np.array(json.dumps({"format_version": 1}))
    ),
    "invalid config": _zip_bytes(
        params=PARAMS, step_sizes=PARAMS, state=_good_state(config={**TINY.model_dump(mode="json"), "climbers": 0})
    ),
    "a bad history record": _zip_bytes(params=PARAMS, step_sizes=PARAMS, state=_good_state(history=[{"round": 0}])),
    "weights of the wrong size": _zip_bytes(params=np.zeros(5), step_sizes=PARAMS, state=_good_state()),
    "step sizes of the wrong size": _zip_bytes(params=PARAMS, step_sizes=np.zeros(5), state=_good_state()),
    "weights that are text": _zip_bytes(params=np.array(["w"] * NUM_PARAMS), step_sizes=PARAMS, state=_good_state()),
    "a pickled member": _zip_bytes(
        params=np.array([object()] * NUM_PARAMS, dtype=object), step_sizes=PARAMS, state=_good_state()
    ),
    "a damaged member": _zip_bytes(params=b"\x93NUMPY garbage", step_sizes=PARAMS, state=_good_state()),
    "another format": _zip_bytes(params=PARAMS, step_sizes=PARAMS, state=_good_state(format_version=99)),
}


@pytest.mark.parametrize("case", list(DAMAGED_CHECKPOINTS))
def test_a_damaged_checkpoint_is_a_clear_error(tmp_path, case):
    path = tmp_path / CHECKPOINT_FILE
    path.write_bytes(DAMAGED_CHECKPOINTS[case])
    with pytest.raises(ConfigError) as caught:
        load_checkpoint(tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    assert "cannot resume" in message or "do not fit" in message or "format 99" in message


@pytest.mark.parametrize("keep", [0.0, 0.25, 0.5, 0.75, 0.99])
def test_a_truncated_checkpoint_is_a_clear_error_and_no_restart(tmp_path, finished_run, keep):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    checkpoint = run_dir / CHECKPOINT_FILE
    checkpoint.write_bytes(checkpoint.read_bytes()[: int(keep * checkpoint.stat().st_size)])
    before = _snapshot(run_dir)
    with pytest.raises(ConfigError, match=r"checkpoint\.npz: checkpoint is truncated or corrupt; cannot resume$"):
        search(executor="inprocess", run_dir=run_dir, resume=True)
    assert _snapshot(run_dir) == before  # nothing was started over or written


def test_resuming_without_a_checkpoint_is_an_error_not_a_fresh_start(tmp_path):
    (tmp_path / "run").mkdir()
    with pytest.raises(ConfigError, match=r"checkpoint\.npz: no checkpoint to resume from$"):
        search(TINY, executor="inprocess", run_dir=tmp_path / "run", resume=True)
    assert list((tmp_path / "run").iterdir()) == []


def test_a_resumed_run_goes_on_from_its_checkpoint(tmp_path, finished_run):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    result = search(TINY.model_copy(update={"rounds": 3}), executor="inprocess", run_dir=run_dir, resume=True)
    assert result.rounds_completed == 3 and len(result.history) == 3
    assert result.history[:2] == load_result(finished_run).history


# --- results -----------------------------------------------------------------------------------------


def test_a_damaged_result_is_a_clear_error(tmp_path, finished_run):
    run_dir = _copy_run(finished_run, tmp_path / "run")
    result_path, weights_path = run_dir / RESULT_FILE, run_dir / WEIGHTS_FILE
    good_result, good_weights = result_path.read_bytes(), weights_path.read_bytes()
    damages = [
        (result_path, good_result[: len(good_result) // 2], r"result\.json: not valid JSON"),
        (result_path, b"[1, 2, 3]", r"result\.json: expected a JSON object, got a list"),
        (result_path, b'{"best_loss": 1}', r"result\.json: field config: Field required"),
        (weights_path, good_weights[:100], r"weights\.npz: not a readable weights file"),
        (weights_path, _zip_bytes(params=np.zeros(3)), r"weights\.npz: not a readable weights file"),
        (weights_path, _zip_bytes(params=np.zeros(3), step_sizes=np.zeros(3)), r"weights\.npz: .* do not fit layers"),
    ]
    single = io.BytesIO()
    np.save(single, np.zeros(3))
    damages.append((weights_path, single.getvalue(), r"weights\.npz: not a readable weights file"))
    for path, contents, expected in damages:
        path.write_bytes(contents)
        with pytest.raises(ConfigError, match=expected):
            load_result(run_dir)
        result_path.write_bytes(good_result)
        weights_path.write_bytes(good_weights)
    assert load_result(run_dir).best_loss == load_result(finished_run).best_loss
