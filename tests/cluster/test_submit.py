"""`python -m cluster submit` against a real Ray head: the result comes home, equal to the same search in-process.

One head (`ray start --head` on 127.0.0.1, free ports, its own directory) serves every test here.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cluster.__main__ import main as cluster_main
from cluster.log_transport import RUN_DIR_MARKER
from coordinator import SearchConfig, load_result, search
from coordinator.rounds.checkpoint import load_checkpoint
from tests.cluster.conftest import PROJECT, run_command
from tests.cluster.processes import listeners, not_on_loopback
from tests.coordinator.on_actors import assert_ran_on_actors

SEARCH_FLAGS = [
    "--dataset", "vertical", "--layers", "2,3,3", "--climbers", "4", "--steps", "1000", "--rounds", "2",
    "--time-budget", "none", "--workers", "2", "--engine", "numpy", "--no-climb-while-starting",
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
    assert_ran_on_actors(result, actors=2)  # the job's every climb on the cluster's worker actors
    # The search's own lines were streamed; the lines that carried the files were not shown; those that
    # name the head's temporary run directory say that it is on the head; the last line says what
    # was written here.
    assert "round     1" in finished.stdout
    assert "hillclimb run files" not in finished.stdout + finished.stderr
    assert_head_paths_are_marked(finished.stdout, run_dir)
    assert finished.stderr.splitlines()[-1] == (
        f"job {job_id_of(finished)} succeeded; written into {run_dir}/: checkpoint.npz, weights.npz, result.json"
    )

    # `fetch` gets the same files again, for a finished job, wherever asked.
    job_id = job_id_of(finished)
    status, _, err = cluster_command(ray_head, capsys, "fetch", job_id, "--out", str(tmp_path / "again"))
    assert status == 0, err
    for name in ("checkpoint.npz", "result.json", "weights.npz"):
        assert (tmp_path / "again" / name).read_bytes() == (run_dir / name).read_bytes()


def job_id_of(finished) -> str:
    """The id `submit` announced on stderr."""
    return re.search(r"submitted job (\S+)", finished.stderr).group(1)


def assert_head_paths_are_marked(log: str, run_dir: Path) -> None:
    """The log names the job's run directory on the head, always as the head's; never the local one."""
    named = [line for line in log.splitlines() if "/hillclimb-job-" in line]
    assert named, log
    assert all(line.endswith(" (on the head)") for line in named), named
    assert str(run_dir) not in log


def test_a_search_on_the_cluster_by_its_gcs_address_gives_the_same_result(ray_head, in_process_result, tmp_path):
    finished = run_command(
        "-m", "coordinator", "run", "--address", ray_head.gcs_address, "--quiet", *SEARCH_FLAGS,
        "--out", str(tmp_path / "run"), timeout=180,
    )  # fmt: skip
    assert finished.returncode == 0, finished.stderr
    result = load_result(tmp_path / "run")
    assert_same_result(result, in_process_result)
    assert_ran_on_actors(result, actors=2)
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
    while "round     3" not in jobs.get_job_logs(job_id) and time.monotonic() < deadline:
        time.sleep(0.5)
    status, log, _ = cluster_command(ray_head, capsys, "logs", job_id)
    assert status == 0 and "round     1" in log, log
    # Nothing is on this machine yet: the log must not say the run directory's files were written here.
    assert_head_paths_are_marked(log, run_dir)

    # Once the job's driver and its worker actor are up (the driver climbs while the actor warms),
    # every listener of the head's processes, theirs included, is on 127.0.0.1.
    deadline = time.monotonic() + 90  # a hang guard
    while not any("ClimbWorker" in _command_line(pid) for pid in ray_head.pids()) and time.monotonic() < deadline:
        time.sleep(0.5)
    pids = ray_head.pids()
    assert any("ClimbWorker" in _command_line(pid) for pid in pids)
    assert len(listeners(pids)) >= 5
    assert not_on_loopback(pids) == []

    status, out, err = cluster_command(ray_head, capsys, "status", job_id)
    assert status == 0 and out.startswith(f"{job_id}: RUNNING"), out + err

    # `fetch` waits for the running job, saying so on stderr, with the search's last round.
    fetch = subprocess.Popen(
        [sys.executable, "-m", "cluster", "fetch", job_id, "--address", ray_head.dashboard_url],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first_line = fetch.stderr.readline()
        waiting = rf"waiting for job {job_id}: RUNNING, \d+ s so far .*; round +\d+  training cross-entropy "
        assert re.match(waiting, first_line)

        status, out, err = cluster_command(ray_head, capsys, "stop", job_id)
        assert status == 0 and out == f"stopping job {job_id}\n", err
        fetched_out, fetched_err = fetch.communicate(timeout=120)
    finally:
        fetch.kill()
    status, out, _ = cluster_command(ray_head, capsys, "status", job_id)
    assert out.startswith(f"{job_id}: STOPPED")

    # Stopping kept the progress: the search ended at a round's end, its checkpoint came home.
    assert fetch.returncode == 130, fetched_err
    assert fetched_out == ""
    told = re.fullmatch(
        rf"job {job_id} was stopped after (\d+) rounds; its best so far is in {run_dir}/ \(checkpoint\.npz\); "
        rf"go on with it here: python -m coordinator run --resume {run_dir}",
        fetched_err.strip().splitlines()[-1],
    )
    assert told, fetched_err
    assert sorted(path.name for path in run_dir.iterdir()) == ["checkpoint.npz"]
    checkpoint = load_checkpoint(run_dir)
    assert checkpoint.rounds_completed == int(told.group(1)) >= 4
    # ... and goes on here, from where it was stopped.
    resumed = run_command(
        "-m", "coordinator", "run", "--resume", str(run_dir), "--rounds", str(checkpoint.rounds_completed + 1),
        "--inprocess", "--quiet",
    )  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert load_result(run_dir).rounds_completed == checkpoint.rounds_completed + 1

    # The job's temporary run directory on the head (this machine) went with it.
    marker = next(line for line in jobs.get_job_logs(job_id).splitlines() if line.startswith(RUN_DIR_MARKER))
    head_run_dir = Path(marker[len(RUN_DIR_MARKER) : -len(" ===")])
    assert head_run_dir.name.startswith("hillclimb-job-")
    deadline = time.monotonic() + 10
    while head_run_dir.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not head_run_dir.exists()


def test_an_unknown_job_is_one_line_exit_2(ray_head, capsys):
    for command in ("status", "logs", "stop", "fetch"):
        status, out, err = cluster_command(ray_head, capsys, command, "raysubmit_nosuchjob")
        assert status == 2, (command, err)
        assert out == ""
        assert err.splitlines() == [
            f"error: job: no job raysubmit_nosuchjob on the cluster at {ray_head.dashboard_url}"
        ]


def test_the_gcs_port_given_for_the_dashboard_is_one_line_exit_2(ray_head, capsys):
    address = f"http://127.0.0.1:{ray_head.gcs_port}"
    status = cluster_main(["status", "raysubmit_x", "--address", address])
    captured = capsys.readouterr()
    assert status == 2 and captured.out == ""
    assert captured.err.splitlines() == [
        f"error: --address: {address} does not answer HTTP, so it is not a Ray dashboard (the GCS port, 6379, "
        "perhaps?); give the dashboard's port: http://127.0.0.1:8265"
    ]


def test_auto_on_loopback_without_the_loopback_setting_says_what_is_missing(ray_head, tmp_path):
    # RAY_ADDRESS is where `auto` looks first; without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 Ray turns
    # 127.0.0.1 into this machine's routable address, where this head does not listen.
    finished = run_command(
        "-m", "coordinator", "run", "--address", "auto", "--dataset", "vertical", "--out", str(tmp_path / "run"),
        environment={"RAY_ADDRESS": ray_head.gcs_address}, without=("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER",),
    )  # fmt: skip
    assert finished.returncode == 2
    lines = finished.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: address: "), finished.stderr
    assert f"(Ray turns {ray_head.gcs_address} into " in lines[0]
    assert lines[0].endswith(
        "a Ray bound to 127.0.0.1 wants RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in this environment too)"
    )
    assert not (tmp_path / "run").exists()


def _command_line(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return handle.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_the_reference_is_a_real_search(in_process_result):
    assert in_process_result.rounds_completed == 2
    assert np.isfinite(in_process_result.best_loss)
