"""`python -m cluster submit` against a real Ray head: the result comes home, equal to the same search in-process.

One head (`ray start --head` on 127.0.0.1, free ports, its own directory) serves every test here.
"""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cluster.__main__ import main as cluster_main
from cluster.log_transport import RUN_DIR_MARKER
from coordinator import SearchConfig, load_result, search
from tests.cluster.conftest import run_command
from tests.cluster.processes import listeners, not_on_loopback

SEARCH_FLAGS = [
    "--dataset", "vertical", "--layers", "2,3,3", "--climbers", "4", "--steps", "1000", "--rounds", "2",
    "--time-budget", "none", "--workers", "2", "--engine", "numpy",
]  # fmt: skip
SEARCH_CONFIG = SearchConfig(
    dataset="vertical",
    layers=(2, 3, 3),
    climbers=4,
    steps=1000,
    rounds=2,
    time_budget=None,
    workers=2,
    engine="numpy",
)
# Long enough to be caught running, and stopped long before its budget; one worker, to leave a core free.
LONG_SEARCH_FLAGS = [
    "--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "200", "--rounds", "100000",
    "--time-budget", "600", "--workers", "1", "--engine", "numpy",
]  # fmt: skip


def submit(head, *arguments: str, timeout: float = 180):
    """`python -m cluster submit --address HEAD --python THIS-PYTHON ARGUMENTS...`."""
    return run_command(
        "-m", "cluster", "submit", "--address", head.dashboard_url, "--python", sys.executable, *arguments,
        timeout=timeout,
    )  # fmt: skip


def cluster_command(head, capsys, command: str, *arguments: str) -> tuple[int, str, str]:
    """`python -m cluster COMMAND ARGUMENTS... --address HEAD`, run in this process: (status, stdout, stderr)."""
    status = cluster_main([command, *arguments, "--address", head.dashboard_url])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture(scope="module")
def in_process_result():
    """The reference: the same search, in this process, without Ray."""
    return search(SEARCH_CONFIG, executor="inprocess")


def assert_same_result(result, reference) -> None:
    assert result.best_loss == reference.best_loss
    assert result.rounds_completed == reference.rounds_completed
    assert result.params.tobytes() == reference.params.tobytes()
    assert result.step_sizes.tobytes() == reference.step_sizes.tobytes()


def test_a_submitted_search_brings_its_result_home(ray_head, in_process_result, tmp_path, capsys):
    run_dir = tmp_path / "run"
    finished = submit(ray_head, "--", *SEARCH_FLAGS, "--out", str(run_dir))
    assert finished.returncode == 0, finished.stderr
    assert sorted(path.name for path in run_dir.iterdir()) == ["checkpoint.npz", "result.json", "weights.npz"]
    result = load_result(run_dir)
    assert_same_result(result, in_process_result)
    assert result.environment.executor == "ray"
    # The search's own lines were streamed; the lines that carried the files were not shown, and the
    # head's temporary run directory is shown as the local one.
    assert "round     1" in finished.stdout
    assert "hillclimb run files" not in finished.stdout + finished.stderr
    assert f"results go to {run_dir}/" in finished.stdout
    assert "hillclimb-job-" not in finished.stdout
    assert f"written into {run_dir}/" in finished.stderr

    # `fetch` gets the same files again, for a finished job, wherever asked.
    job_id = re.search(r"submitted job (\S+)", finished.stderr).group(1)
    status, _, err = cluster_command(ray_head, capsys, "fetch", job_id, "--out", str(tmp_path / "again"))
    assert status == 0, err
    for name in ("checkpoint.npz", "result.json", "weights.npz"):
        assert (tmp_path / "again" / name).read_bytes() == (run_dir / name).read_bytes()


def test_a_search_on_the_cluster_by_its_gcs_address_gives_the_same_result(ray_head, in_process_result, tmp_path):
    finished = run_command(
        "-m", "coordinator", "run", "--address", ray_head.gcs_address, "--quiet", *SEARCH_FLAGS,
        "--out", str(tmp_path / "run"), timeout=180,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    result = load_result(tmp_path / "run")
    assert_same_result(result, in_process_result)
    assert result.environment.cpus == 2


def test_auto_finds_the_cluster_named_in_ray_address(ray_head, monkeypatch):
    from cluster.connect import connect

    monkeypatch.setenv("RAY_ADDRESS", ray_head.gcs_address)
    with connect("auto") as info:
        assert (info.nodes, info.cpus) == (1, 2)


def test_status_logs_and_stop_of_a_job_in_flight_and_nothing_listens_beyond_loopback(ray_head, tmp_path, capsys):
    from ray.job_submission import JobSubmissionClient

    run_dir = tmp_path / "long"
    submitted = submit(ray_head, "--no-wait", "--", *LONG_SEARCH_FLAGS, "--out", str(run_dir))
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert re.fullmatch(r"raysubmit_\w+", job_id), submitted.stdout

    jobs = JobSubmissionClient(ray_head.dashboard_url)
    deadline = time.monotonic() + 90
    while "round     1" not in jobs.get_job_logs(job_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    status, log, _ = cluster_command(ray_head, capsys, "logs", job_id)
    assert status == 0 and "round     1" in log, log
    assert "hillclimb-job-" not in log and f"results go to {run_dir}/" in log

    # The job's driver and its worker actor are up: every listener of the head's processes,
    # theirs included, is on 127.0.0.1.
    pids = ray_head.pids()
    assert any("ClimbWorker" in _command_line(pid) for pid in pids)
    assert len(listeners(pids)) >= 5
    assert not_on_loopback(pids) == []

    status, out, err = cluster_command(ray_head, capsys, "status", job_id)
    assert status == 0 and out.startswith(f"{job_id}: RUNNING"), out + err
    status, out, err = cluster_command(ray_head, capsys, "stop", job_id)
    assert status == 0 and out == f"stopping job {job_id}\n", err
    deadline = time.monotonic() + 60
    while str(jobs.get_job_status(job_id)) != "STOPPED" and time.monotonic() < deadline:
        time.sleep(0.5)
    status, out, _ = cluster_command(ray_head, capsys, "status", job_id)
    assert out.startswith(f"{job_id}: STOPPED")
    # The job's temporary run directory on the head (this machine) went with it.
    marker = next(line for line in jobs.get_job_logs(job_id).splitlines() if line.startswith(RUN_DIR_MARKER))
    head_run_dir = Path(marker[len(RUN_DIR_MARKER) : -len(" ===")])
    assert head_run_dir.name.startswith("hillclimb-job-")
    deadline = time.monotonic() + 10
    while head_run_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not head_run_dir.exists()
    status, _, err = cluster_command(ray_head, capsys, "fetch", job_id)
    assert status == 130 and err.startswith(f"error: job {job_id} stopped")
    assert not run_dir.exists()


def test_an_unknown_job_is_one_line_exit_2(ray_head, capsys):
    for command in ("status", "logs", "stop", "fetch"):
        status, out, err = cluster_command(ray_head, capsys, command, "raysubmit_nosuchjob")
        assert status == 2, (command, err)
        assert out == ""
        assert err.splitlines() == [
            f"error: job: no job raysubmit_nosuchjob on the cluster at {ray_head.dashboard_url}"
        ]


def test_bad_coordinator_flags_fail_the_job_with_their_own_status(ray_head, tmp_path):
    finished = submit(ray_head, "--", "--dataset", "vertical", "--climbers", "zero", "--out", str(tmp_path / "bad"))
    assert finished.returncode == 2, finished.stderr
    assert "--climbers" in finished.stdout  # the coordinator's own one-line error, from the job's log
    assert finished.stderr.strip().splitlines()[-1].startswith("error: job raysubmit_")
    assert not (tmp_path / "bad").exists()


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_the_reference_is_a_real_search(in_process_result):
    assert in_process_result.rounds_completed == 2
    assert np.isfinite(in_process_result.best_loss)
