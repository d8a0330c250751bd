"""docs/cluster.md's rehearsal on one machine, run as written: a head with token authentication on 127.0.0.1,
reached at the documented addresses without any token setting, then stopped by its process id.

The documented blocks run in bash with their own ports swapped for free ones, HOME in a folder of
the test's own (so the token file is too), and Ray's files under RAY_TMPDIR (not the machine's
shared /tmp/ray, nor its "current cluster" file).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from coordinator import load_result
from tests.cluster.conftest import PROJECT, run_command
from tests.cluster.head import free_port
from tests.cluster.processes import descendants, is_alive, listeners, not_on_loopback, start_time_of, stop_processes

DOCUMENT = PROJECT / "docs" / "cluster.md"
DOCUMENTED_PORTS = ("6379", "8265", "10001", "52365")  # GCS, dashboard, Ray client server, dashboard agent
# Settings of this test run that the rehearsal's reader would not have.
NOT_IN_A_FRESH_SHELL = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
SEARCH_FLAGS = [
    "--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "300", "--rounds", "1",
    "--time-budget", "none", "--workers", "1", "--engine", "numpy", "--quiet",
]  # fmt: skip


def documented_block(name: str) -> str:
    """The bash block after `<!-- rehearsal: NAME -->` in docs/cluster.md."""
    after = DOCUMENT.read_text().split(f"<!-- rehearsal: {name} -->", 1)[1]
    match = re.match(r"\s*```bash\n(.*?)```", after, re.DOTALL)
    assert match, f"no bash block after the {name} marker"
    return match.group(1)


@dataclass
class Rehearsal:
    """The head the documented commands started."""

    ports: dict[str, int]
    environment: dict[str, str]
    home: Path
    pid: int

    def script(self, name: str) -> str:
        """The documented block, with this head's ports."""
        text = documented_block(name)
        for documented, port in self.ports.items():
            text = re.sub(rf"\b{documented}\b", str(port), text)
        return text

    def run(self, name: str, timeout: float = 180) -> subprocess.CompletedProcess:
        """Run the documented block in bash, as a reader would paste it."""
        return subprocess.run(
            ["bash", "-c", self.script(name)],
            cwd=PROJECT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def processes(self) -> dict[int, int | None]:
        """The head's processes, each with its start time."""
        return {pid: start_time_of(pid) for pid in {self.pid, *descendants(self.pid)} if is_alive(pid)}


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory):
    """The head of the rehearsal's start block; ended by pid afterwards, whatever the tests did."""
    home = tmp_path_factory.mktemp("home")
    ray_files = tempfile.mkdtemp(prefix="rayrh-", dir="/tmp")  # short: Ray's socket paths live below it
    environment = {name: value for name, value in os.environ.items() if name not in NOT_IN_A_FRESH_SHELL}
    environment.update(
        HOME=str(home),
        RAY_TMPDIR=ray_files,
        PATH=os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")]),  # ray, python
    )
    head = Rehearsal({port: free_port() for port in DOCUMENTED_PORTS}, environment, home, pid=0)
    started_at = time.monotonic()
    started = head.run("start")
    pid_file = home / ".ray" / "head.pid"
    head.pid = int(pid_file.read_text()) if pid_file.is_file() else 0
    try:
        assert started.returncode == 0, started.stderr
        assert head.pid and is_alive(head.pid), (home / ".ray" / "head.log").read_text()
        print(f"the rehearsal's head answered after {time.monotonic() - started_at:.1f} s")
        yield head
    finally:
        if head.pid:
            stop_processes(head.processes(), timeout_s=40)
        shutil.rmtree(ray_files, ignore_errors=True)


def client_environment(head: Rehearsal, **more: str) -> dict[str, str]:
    """The environment of the rehearsal's shell after its start block, without any token setting."""
    return {**head.environment, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", **more}


def test_the_head_wants_its_token_and_listens_on_loopback_only(rehearsal):
    token = rehearsal.home / ".ray" / "auth_token"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600
    pids = set(rehearsal.processes())
    ports = {port for _, _, port in listeners(pids)}
    assert {rehearsal.ports["6379"], rehearsal.ports["8265"]} <= ports
    assert not_on_loopback(pids) == []
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"http://127.0.0.1:{rehearsal.ports['8265']}/api/jobs/", timeout=10)
    assert refused.value.code == 401


def test_the_documented_addresses_work_with_no_token_setting(rehearsal, tmp_path):
    used = rehearsal.script("use")
    dashboard, gcs = f"http://127.0.0.1:{rehearsal.ports['8265']}", f"127.0.0.1:{rehearsal.ports['6379']}"
    assert f"--address {dashboard} " in used and f"--address {gcs} " in used

    # Submitted with the token from ~/.ray/auth_token, and no --python: the head, started where this
    # environment's python comes first on PATH, runs the job with it.
    environment = client_environment(rehearsal)
    submitted = run_command(
        "-m", "cluster", "submit", "--address", dashboard, "--", *SEARCH_FLAGS, "--out", str(tmp_path / "job"),
        environment=environment, without=NOT_IN_A_FRESH_SHELL, timeout=180,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    assert load_result(tmp_path / "job").rounds_completed == 1

    # A direct connection: no RAY_AUTH_MODE=token needed (Ray alone gave up after 20 s).
    searched = run_command(
        "-m", "coordinator", "run", "--address", gcs, *SEARCH_FLAGS, "--out", str(tmp_path / "run"),
        environment=environment, without=NOT_IN_A_FRESH_SHELL,
    )  # fmt: skip
    assert searched.returncode == 0, searched.stderr
    assert load_result(tmp_path / "run").environment.executor == "ray"


def test_the_documented_stop_ends_every_process_of_the_head(rehearsal):
    processes = rehearsal.processes()
    assert len(processes) >= 5  # the GCS, the raylet, the dashboard, ... : the check below means something
    started = time.monotonic()
    stopped = rehearsal.run("stop")
    assert stopped.returncode == 0, stopped.stderr
    deadline = time.monotonic() + 60  # a hang guard; it took about 5 s here
    while any(is_alive(pid) and start_time_of(pid) == since for pid, since in processes.items()):
        assert time.monotonic() < deadline, "the head's processes outlived its stop"
        time.sleep(0.2)
    print(f"the rehearsal's head ended {len(processes)} processes in {time.monotonic() - started:.1f} s")
    for documented in ("6379", "8265"):
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", rehearsal.ports[documented]), timeout=5).close()
