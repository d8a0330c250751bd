"""A real Ray head for tests: `ray start --head --block` on 127.0.0.1 with free ports and its own directory.

It is stopped by the ids of the processes it started (never `ray stop`, which would end every Ray
on the machine): SIGTERM to the `ray start` process, which drains and ends its node, then
SIGTERM and SIGKILL to whatever of its process tree is left.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.cluster.processes import descendants, start_time_of, stop_processes

OBJECT_STORE_BYTES = 150 * 1024**2
START_TIMEOUT_S = 90.0
LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A TCP port nothing listens on at the moment."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        return probe.getsockname()[1]


class RayHead:
    """One Ray head node on loopback, with a dashboard (Jobs API) at `dashboard_url`."""

    def __init__(self, num_cpus: int = 2, environment: dict[str, str] | None = None):
        self.num_cpus = num_cpus
        self.environment = {
            **os.environ,
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
            "RAY_USAGE_STATS_ENABLED": "0",
            "RAY_AUTH_MODE": "disabled",
            **(environment or {}),
        }
        # A short path: Ray's unix sockets live below it, and socket paths are limited to 107 bytes.
        self.directory = Path(tempfile.mkdtemp(prefix="rayhead-", dir="/tmp"))
        self.gcs_port, self.dashboard_port, self.client_port = free_port(), free_port(), free_port()
        self.process: subprocess.Popen | None = None
        self._log = None

    @property
    def gcs_address(self) -> str:
        """host:port of the GCS, for `ray.init` and `coordinator run --address`."""
        return f"{LOOPBACK}:{self.gcs_port}"

    @property
    def dashboard_url(self) -> str:
        """The Jobs API, for `python -m cluster submit --address`."""
        return f"http://{LOOPBACK}:{self.dashboard_port}"

    @property
    def log_path(self) -> Path:
        """Where `ray start` writes its output."""
        return self.directory / "ray-start.log"

    def start(self) -> RayHead:
        """Start the head and wait until its Jobs API answers."""
        ray_command = str(Path(sys.executable).with_name("ray"))
        command = [
            ray_command, "start", "--head", "--block",
            "--node-ip-address", LOOPBACK,
            "--port", str(self.gcs_port),
            "--dashboard-host", LOOPBACK,
            "--dashboard-port", str(self.dashboard_port),
            "--ray-client-server-port", str(self.client_port),
            # Its default, 52365, is taken by any other Ray on the machine: the agent would then retry for
            # seconds and the Jobs API answer "No available agent".
            "--dashboard-agent-listen-port", str(free_port()),
            "--num-cpus", str(self.num_cpus),
            "--object-store-memory", str(OBJECT_STORE_BYTES),
            "--temp-dir", str(self.directory),
            "--disable-usage-stats",
        ]  # fmt: skip
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            command,
            env=self.environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self.stop()
                raise RuntimeError(f"ray start exited with {self.process.returncode}: {self._log_tail()}")
            if self._jobs_api_answers():
                return self
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"the Ray head did not answer in {START_TIMEOUT_S:.0f} s: {self._log_tail()}")

    def _jobs_api_answers(self) -> bool:
        request = urllib.request.Request(f"{self.dashboard_url}/api/jobs/")
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                json.loads(response.read())
                return True
        except urllib.error.HTTPError as error:
            return error.code == 401  # token authentication is on: it answers, and wants the token
        except (OSError, ValueError):
            return False

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"

    def pids(self) -> set[int]:
        """The `ray start` process and every live process below it (GCS, raylet, workers, job drivers)."""
        if self.process is None or self.process.poll() is not None:
            return set()
        return {self.process.pid, *descendants(self.process.pid)}

    def stop(self) -> None:
        """End every process this head started, by pid, and remove its directory."""
        if self.process is not None:
            started = {pid: start_time_of(pid) for pid in self.pids()}
            if self.process.poll() is None:
                self.process.terminate()  # `ray start --block` drains its node and ends its processes
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=40)
            stop_processes(started, timeout_s=10)
            if self.process.poll() is None:
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
        shutil.rmtree(self.directory, ignore_errors=True)
