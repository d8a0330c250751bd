"""Submitting without a cluster: the job made from `coordinator run` flags, the files carried in the log, tokens."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cluster.__main__ import main as cluster_main
from cluster.auth import auth_headers, find_token
from cluster.connect import ClusterError
from cluster.job_entry import run_and_ship
from cluster.jobs import dashboard_address
from cluster.log_transport import (
    BEGIN_MARKER,
    RUN_DIR_MARKER,
    LogFilter,
    decode_files,
    encode_files,
    run_dir_line,
    write_files,
)
from cluster.submit import (
    EXCLUDES,
    SubmitError,
    check_flags_locally,
    checkpoint_rounds,
    plan_job,
    receive_result,
    receive_stopped,
    version_warning,
)
from tests.cluster.conftest import PROJECT
from tests.cluster.processes import descendants


def test_the_job_runs_the_coordinator_on_the_head_and_the_result_comes_to_the_local_out(tmp_path):
    plan = plan_job(["--dataset", "vertical", "--out", str(tmp_path / "run"), "--climbers=4"], python="python3")
    words = shlex.split(plan.entrypoint)
    assert words[:8] == ["python3", "-m", "cluster.job_entry", "--", "python3", "-m", "coordinator", "run"]
    assert words[8:] == ["--dataset", "vertical", "--climbers=4"]  # --out stays here: the head writes elsewhere
    assert plan.run_dir == tmp_path / "run"
    assert plan.metadata == {"hillclimb_run_dir": str(tmp_path / "run")}
    assert plan.runtime_env["working_dir"] == str(PROJECT)
    for excluded in ("runs/", ".git/", ".venv/", ".env", "*.pem"):
        assert excluded in plan.runtime_env["excludes"]


def test_out_given_with_an_equals_sign_and_the_default_run_directory(tmp_path, monkeypatch):
    assert plan_job([f"--out={tmp_path / 'a'}"]).run_dir == tmp_path / "a"
    monkeypatch.chdir(tmp_path)
    assert plan_job([]).run_dir.parent == tmp_path / "runs"


def test_an_interpreter_in_the_home_directory_is_left_to_the_heads_shell():
    assert plan_job(["--out", "/tmp/x-never-made"], python="~/hillclimb env/bin/python").entrypoint.startswith(
        "~/'hillclimb env/bin/python' -m cluster.job_entry"
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--resume", "runs/old"], "--resume: not for a submitted job"),
        (["--address", "auto"], "--address: not for a submitted job"),
        (["--out"], "--out: expected a value"),
        (["--config", "no-such.yaml"], "--config: no file no-such.yaml"),
        (["--dataset", "/etc/hostname"], "--dataset: /etc/hostname is outside the project"),
    ],
)
def test_flags_that_cannot_work_remotely_are_named(flags, message, tmp_path):
    with pytest.raises(SubmitError) as caught:
        plan_job([*flags, "--out", str(tmp_path / "run")])
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_data_files_go_by_their_place_in_the_project_and_not_from_runs(tmp_path):
    inside = PROJECT / "pyproject.toml"
    plan = plan_job(["--config", str(inside), "--out", str(tmp_path / "run")])
    assert "--config pyproject.toml" in plan.entrypoint
    runs = PROJECT / "runs" / "test-submit-plan"
    runs.mkdir(parents=True, exist_ok=True)
    data = runs / "data.csv"
    data.write_text("0,0,0\n")
    try:
        with pytest.raises(SubmitError, match=r"--dataset: .* is in runs/"):
            plan_job(["--dataset", str(data), "--out", str(tmp_path / "run")])
    finally:
        data.unlink()
        runs.rmdir()


def test_a_run_directory_with_files_needs_force(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    with pytest.raises(SubmitError, match="already holds files"):
        plan_job(["--out", str(tmp_path)])
    assert plan_job(["--out", str(tmp_path), "--force"]).run_dir == tmp_path


def test_files_travel_through_a_log_and_land_atomically(tmp_path):
    source = tmp_path / "head"
    source.mkdir()
    files = {"result.json": b'{"best_loss": 0.1}\n', "weights.npz": bytes(range(256)) * 40, "empty.txt": b""}
    for name, data in files.items():
        (source / name).write_bytes(data)
    (source / ".hidden.tmp").write_bytes(b"half a file")
    log = ["noise before", *encode_files(source), "noise after"]
    assert all(len(line) <= 200 for line in log)
    assert decode_files(log) == files
    written = write_files(decode_files(log), tmp_path / "home")
    assert [path.name for path in written][-1] == "result.json"  # the file that says "complete" comes last
    assert {path.name: path.read_bytes() for path in written} == files
    assert sorted(path.name for path in (tmp_path / "home").iterdir()) == sorted(files)  # no temporary files left


def test_a_damaged_or_missing_block_is_one_line(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    lines = list(encode_files(tmp_path))
    with pytest.raises(ClusterError, match="no result files"):
        decode_files(["just a log"])
    with pytest.raises(ClusterError, match=r"result\.json is damaged"):
        decode_files([*lines[:2], "e30X", *lines[3:]])  # "{}" is e30= in base64
    header = json.loads(lines[1][len("=== hillclimb file ") : -len(" ===")])
    evil = lines[1].replace(json.dumps(header, sort_keys=True), json.dumps({**header, "name": "../x"}, sort_keys=True))
    with pytest.raises(ClusterError, match=r"refusing a result file named '\.\./x'"):
        decode_files([lines[0], evil, *lines[2:]])


def test_the_log_shown_leaves_out_the_files_and_marks_the_heads_paths(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    log = "\n".join(
        [
            "Running entrypoint",
            run_dir_line("/tmp/hillclimb-job-abc"),
            "written: /tmp/hillclimb-job-abc/result.json",
            *encode_files(tmp_path),
            "done",
            "",
        ]
    )
    # Nothing is on this machine until submit or fetch writes it: the path stays the head's, and says so.
    expected = "Running entrypoint\nwritten: /tmp/hillclimb-job-abc/result.json (on the head)\ndone\n"
    for chunk_size in (1, 7, len(log)):
        log_filter = LogFilter()
        shown = "".join(log_filter.feed(log[start : start + chunk_size]) for start in range(0, len(log), chunk_size))
        assert shown + log_filter.flush() == expected


def test_the_head_side_runs_the_command_into_a_temporary_directory_and_prints_its_files(capfd):
    writer = "import pathlib, sys; pathlib.Path(sys.argv[2], 'result.json').write_text('{\"ok\": 1}')"
    assert run_and_ship([sys.executable, "-c", writer]) == 0
    printed = capfd.readouterr().out.splitlines()
    assert BEGIN_MARKER in printed
    remote = printed[0][len("=== hillclimb run directory on the head: ") : -len(" ===")]
    assert decode_files(printed) == {"result.json": b'{"ok": 1}'}
    assert not Path(remote).exists()  # removed after printing
    assert run_and_ship([sys.executable, "-c", "raise SystemExit(3)"]) == 3
    assert BEGIN_MARKER not in capfd.readouterr().out


def test_a_stopped_job_ships_the_checkpoint_its_search_finished_writing(tmp_path):
    # As Ray's job supervisor stops a job: SIGTERM to the entrypoint and to every process below it.
    # The stand-in search writes its checkpoint each "round" and, told to stop, ends its round first.
    search = (
        "import pathlib, signal, sys, time\n"
        "out = pathlib.Path(sys.argv[2])\n"
        "stop = []\n"
        "signal.signal(signal.SIGTERM, lambda *_: stop.append(1))\n"
        "(out / 'checkpoint.npz').write_bytes(b'round 1')\n"
        "print('ready', flush=True)\n"
        "while not stop: time.sleep(0.05)\n"
        "time.sleep(0.5)\n"
        "(out / 'checkpoint.npz').write_bytes(b'round 2')\n"
        "sys.exit(15)\n"
    )
    entry = subprocess.Popen(
        [sys.executable, "-m", "cluster.job_entry", "--", sys.executable, "-c", search],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        lines = [entry.stdout.readline(), entry.stdout.readline()]
        assert lines[1] == "ready\n", lines
        for pid in (entry.pid, *descendants(entry.pid)):
            with contextlib.suppress(ProcessLookupError):  # as Ray does: one may be gone by its turn
                os.kill(pid, signal.SIGTERM)
        rest, _ = entry.communicate(timeout=60)
    finally:
        entry.kill()
    printed = [*lines, *rest.splitlines(keepends=True)]
    assert entry.returncode == 128 + signal.SIGTERM
    assert "job stopped: its run directory as of the last finished round follows\n" in printed
    assert decode_files(printed) == {"checkpoint.npz": b"round 2"}
    head_run_dir = lines[0].strip()[len(RUN_DIR_MARKER) : -len(" ===")]
    assert head_run_dir and not Path(head_run_dir).exists()


def test_a_stopped_job_is_told_and_its_files_written_with_the_rounds_it_had_done(tmp_path):
    (tmp_path / "head").mkdir()
    state = np.array(json.dumps({"rounds_completed": 7}))
    np.savez(tmp_path / "head" / "checkpoint.npz", state=state, params=np.zeros(3))
    stopped = receive_stopped("\n".join(encode_files(tmp_path / "head")), tmp_path / "home")
    assert stopped.rounds == 7 and [path.name for path in stopped.written] == ["checkpoint.npz"]
    assert receive_stopped("job stopped before its first round finished: nothing to bring back", tmp_path) is None
    assert checkpoint_rounds(b"not a zip") is None


def test_bad_flags_are_told_before_anything_is_sent(tmp_path, capsys):
    # The dashboard address leads nowhere: the flags are checked here, before it is tried.
    status = cluster_main(
        ["submit", "--address", "http://127.0.0.1:1", "--", "--layers", "2,x,3", "--out", str(tmp_path / "run")]
    )
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        "error: argument --layers: expected comma-separated integers like 2,64,3 or 'none', got '2,x,3' "
        "(see python -m coordinator run --help)"
    ]
    assert not (tmp_path / "run").exists()


def test_the_local_check_sees_the_flags_as_the_head_will(tmp_path):
    data = PROJECT / "test-local-check.csv"  # inside the project, as a job's data file must be
    data.write_text("x0,x1,label\n0,0,0\n1,1,1\n0,1,0\n1,0,1\n")
    try:
        plan = plan_job(["--dataset", str(data), "--layers", "2,4,2", "--out", str(tmp_path / "run")])
        line = check_flags_locally(plan)
    finally:
        data.unlink()
    said = "would run: test-local-check.csv (2 training rows, 2 held out; 2 features, 2 classes), network 2-4-2"
    assert line.startswith(said)
    assert not (tmp_path / "run").exists()


def test_a_cluster_on_another_ray_version_is_pointed_out():
    assert version_warning("2.60.0", "2.60.0") is None
    warning = version_warning("2.58.1", "2.60.0")
    assert warning.startswith("the cluster runs Ray 2.58.1, this machine Ray 2.60.0")
    assert "\n" not in warning


def test_receive_result_writes_what_the_log_carries(tmp_path):
    (tmp_path / "result.json").write_text("{}")
    log = "\n".join(encode_files(tmp_path))
    assert [path.name for path in receive_result(log, tmp_path / "home")] == ["result.json"]


def test_the_token_is_found_where_ray_looks(tmp_path, monkeypatch):
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_token() is None and auth_headers() == {}
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert find_token() == "from-home"
    (tmp_path / "named").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "named"))
    assert find_token() == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-variable")
    assert auth_headers() == {"Authorization": "Bearer from-variable"}
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert find_token() is None
    monkeypatch.setenv("RAY_AUTH_MODE", "token")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    with pytest.raises(ClusterError, match="RAY_AUTH_TOKEN_PATH: cannot read"):
        find_token()


def test_dashboard_addresses(monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert dashboard_address() == "http://127.0.0.1:8265"
    assert dashboard_address("10.0.0.5:8265/") == "http://10.0.0.5:8265"
    monkeypatch.setenv("RAY_ADDRESS", "http://127.0.0.1:9000")
    assert dashboard_address() == "http://127.0.0.1:9000"
    with pytest.raises(ClusterError, match="not a dashboard address"):
        dashboard_address("ray://10.0.0.5:10001")


def test_an_unreachable_dashboard_is_one_line_exit_2_quickly(tmp_path, capsys):
    started = time.monotonic()
    status = cluster_main(["submit", "--address", "http://127.0.0.1:1", "--", "--out", str(tmp_path / "run")])
    captured = capsys.readouterr()
    assert time.monotonic() - started < 30
    assert status == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        "error: --address: cannot reach the Ray dashboard at http://127.0.0.1:1 (Connection refused); is the "
        "cluster up and `ray dashboard ray_config.yaml` (or an SSH tunnel) running?"
    ]
    assert not (tmp_path / "run").exists()


def test_flags_for_the_coordinator_go_after_the_double_dash(capsys):
    with pytest.raises(SystemExit) as caught:
        cluster_main(["submit", "--dataset", "spiral"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: unrecognized arguments: --dataset spiral; the flags of `coordinator run` go after -- "
        "(see python -m cluster --help)"
    ]
    with pytest.raises(SystemExit) as caught:
        cluster_main(["status", "raysubmit_x", "--", "--out", "x"])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: status takes no flags after -- (see python -m cluster --help)"
    ]


def test_excludes_leave_out_secrets():
    for secret in (".env", ".env.*", "*.pem", "*.key", "auth_token", "secrets/"):
        assert secret in EXCLUDES


def test_the_rounds_of_a_checkpoint_the_coordinator_wrote_are_read(tmp_path):
    from tests.coordinator.cli_runner import make_run

    make_run(tmp_path / "run")  # two rounds
    assert checkpoint_rounds((tmp_path / "run" / "checkpoint.npz").read_bytes()) == 2
