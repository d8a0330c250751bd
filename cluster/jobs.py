"""A cluster's Ray Jobs API, reached through its dashboard address (default http://127.0.0.1:8265).

Every call here needs only the dashboard port: on a cluster from `ray up ray_config.yaml` that is
the local end of `ray dashboard ray_config.yaml` or of an SSH tunnel. A cluster that cannot be
reached, that is not Ray, or that refuses the token is a one-line ClusterError within
REQUEST_TIMEOUT_S, never a hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from cluster.auth import auth_headers
from cluster.command_line import EXIT_INTERRUPTED
from cluster.connect import ClusterError, first_line
from cluster.log_transport import LogFilter

DEFAULT_DASHBOARD_PORT = 8265
DEFAULT_DASHBOARD = f"http://127.0.0.1:{DEFAULT_DASHBOARD_PORT}"
REQUEST_TIMEOUT_S = 10.0
POLL_SECONDS = 0.5
AGENT_WAIT_S = 60.0  # how long a fresh head may take to accept jobs
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
PROGRESS_SECONDS = 10.0  # while waiting for a job, a line about it this often
# What `coordinator run` prints in a log after each round: "round    26  training cross-entropy 0.17129, ...".
ROUND_LINE = re.compile(r"\s*round\s+\d+  (training|return|objective) ")


def dashboard_address(address: str | None = None) -> str:
    """The Jobs API URL: address, else RAY_API_SERVER_ADDRESS, else an http:// RAY_ADDRESS, else the default."""
    if address is None:
        address = os.environ.get("RAY_API_SERVER_ADDRESS") or ""
        if not address and os.environ.get("RAY_ADDRESS", "").startswith(("http://", "https://")):
            address = os.environ["RAY_ADDRESS"]
        address = address or DEFAULT_DASHBOARD
    address = address.strip().rstrip("/")
    if "://" not in address:
        address = f"http://{address}"
    parsed = urlparse(address)
    try:
        port = parsed.port
    except ValueError:
        port = None
    if parsed.scheme not in ("http", "https") or not parsed.hostname or (port is None and ":" in parsed.netloc):
        raise ClusterError(
            f"--address: {address!r} is not a dashboard address like http://127.0.0.1:8265 "
            "(the Jobs API; not the GCS port 6379 nor ray://)"
        )
    return address


def check_dashboard(address: str, headers: dict[str, str], timeout_s: float = REQUEST_TIMEOUT_S) -> str:
    """The Ray version the dashboard at address reports; ClusterError if it cannot be reached or refuses us."""
    request = urllib.request.Request(f"{address}/api/version", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 401:
            raise ClusterError(
                f"authentication: the cluster at {address} wants a token; put it in ~/.ray/auth_token "
                "or name its file in RAY_AUTH_TOKEN_PATH (see docs/cluster.md)"
            ) from None
        if error.code == 403:
            raise ClusterError(
                f"authentication: the cluster at {address} refused the token; get the right one "
                "with `ray get-auth-token` on the head"
            ) from None
        raise ClusterError(f"--address: {address} answered HTTP {error.code}; is it a Ray dashboard?") from None
    except http.client.HTTPException:
        # Something answered, but not in HTTP: most often the GCS port (6379), whose gRPC greeting
        # makes http.client raise BadStatusLine. (RemoteDisconnected is both this and an OSError.)
        raise ClusterError(
            f"--address: {address} does not answer HTTP, so it is not a Ray dashboard (the GCS port, 6379, "
            f"perhaps?); give the dashboard's port: {_with_port(address, DEFAULT_DASHBOARD_PORT)}"
        ) from None
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, OSError) and reason.strerror:
            reason = reason.strerror
        raise ClusterError(
            f"--address: cannot reach the Ray dashboard at {address} ({reason}); is the cluster up "
            "and `ray dashboard ray_config.yaml` (or an SSH tunnel) running?"
        ) from None
    try:
        return str(json.loads(body)["ray_version"])
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError):
        raise ClusterError(f"--address: {address} is not a Ray dashboard (no Ray version at /api/version)") from None


def _with_port(address: str, port: int) -> str:
    """address (a dashboard URL) with its port replaced by port."""
    parsed = urlparse(address)
    host = f"[{parsed.hostname}]" if ":" in (parsed.hostname or "") else parsed.hostname
    return f"{parsed.scheme}://{host}:{port}"


class Jobs:
    """The Jobs API of one cluster: submit, look at, follow and stop jobs."""

    def __init__(self, address: str | None = None):
        self.address = dashboard_address(address)
        headers = auth_headers()
        self.cluster_ray_version = check_dashboard(self.address, headers)
        from ray.job_submission import JobSubmissionClient

        _quiet_ray_logging()
        try:
            self.client = JobSubmissionClient(self.address, headers=headers)
        except Exception as error:
            raise ClusterError(f"--address: cannot use the Jobs API at {self.address}: {first_line(error)}") from None

    def _call(self, job_id: str | None, method: Callable[..., Any], *args, **kwargs) -> Any:
        try:
            return method(*args, **kwargs)
        except Exception as error:
            text = str(error)
            if job_id is not None and ("404" in text or "does not exist" in text):
                raise ClusterError(f"job: no job {job_id} on the cluster at {self.address}") from None
            raise ClusterError(f"job: the Jobs API at {self.address} failed: {first_line(error)}") from None

    def submit(self, entrypoint: str, runtime_env: dict, metadata: dict[str, str], job_id: str | None = None) -> str:
        """Submit entrypoint; returns the job's id (its submission id).

        A head that has just started answers "No available agent" for a few seconds: that is waited out.
        """
        deadline = time.monotonic() + AGENT_WAIT_S
        while True:
            try:
                return self._call(
                    None,
                    self.client.submit_job,
                    entrypoint=entrypoint,
                    runtime_env=runtime_env,
                    metadata=metadata,
                    submission_id=job_id,
                )
            except ClusterError as error:
                if "No available agent" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(1.0)

    def details(self, job_id: str):
        """The job's JobDetails: status, message, metadata, times."""
        return self._call(job_id, self.client.get_job_info, job_id)

    def logs(self, job_id: str) -> str:
        """Everything the job has printed so far."""
        return self._call(job_id, self.client.get_job_logs, job_id)

    def stop(self, job_id: str) -> bool:
        """Ask the job to stop; False if it had already ended."""
        return self._call(job_id, self.client.stop_job, job_id)

    def follow(self, job_id: str, write: Callable[[str], Any]) -> None:
        """Pass the job's log to write as it grows, without the lines that carry files, until the job ends."""
        self.details(job_id)  # an unknown job is told here, in one line
        log_filter = LogFilter()

        async def tail() -> None:
            async for chunk in self.client.tail_job_logs(job_id):
                shown = log_filter.feed(chunk)
                if shown:
                    write(shown)

        with contextlib.suppress(Exception):  # the stream broke off; the job's status says how it ended
            asyncio.run(tail())
        rest = log_filter.flush()
        if rest:
            write(rest)

    def wait(self, job_id: str, timeout_s: float | None = None, report: Callable[[str], Any] | None = None):
        """The job's JobDetails once it has ended (or when timeout_s has passed).

        report, if given, hears a line when the wait begins, when the job's state changes, and every
        PROGRESS_SECONDS: the state, how long this wait has lasted, and the log's last round line.
        """
        started = time.monotonic()
        shown_state, shown_at = None, -PROGRESS_SECONDS
        while True:
            details = self.details(job_id)
            state = str(details.status)
            if state in TERMINAL:
                return details
            now = time.monotonic()
            if timeout_s is not None and now - started > timeout_s:
                return details
            if report is not None and (state != shown_state or now - shown_at >= PROGRESS_SECONDS):
                report(self._progress_line(job_id, state, now - started, first=shown_state is None))
                shown_state, shown_at = state, now
            time.sleep(POLL_SECONDS)

    def _progress_line(self, job_id: str, state: str, waited_s: float, first: bool) -> str:
        line = f"waiting for job {job_id}: {state}, {waited_s:.0f} s so far"
        if first:
            line += " (Ctrl-C stops waiting, not the job)"
        if state == "RUNNING":
            rounds = [text.strip() for text in self.logs(job_id).splitlines() if ROUND_LINE.match(text)]
            line += f"; {rounds[-1]}" if rounds else "; no round has finished yet"
        return line


def _quiet_ray_logging() -> None:
    """Keep the SDK's own progress notes (packaging, uploading, sockets closing) out of the user's terminal."""
    for name in ("ray", "ray.dashboard.modules.dashboard_sdk", "ray.dashboard.modules.job.sdk"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # "Directory '.venv' is now ignored by default": we exclude it on purpose.
    logging.getLogger("ray._private.runtime_env.working_dir").setLevel(logging.ERROR)


def exit_status(details) -> int:
    """0 for a job that succeeded; the entrypoint's own exit status for one that failed, when Ray says it; else 1."""
    status = str(details.status)
    if status == "SUCCEEDED":
        return 0
    if status == "STOPPED":
        return EXIT_INTERRUPTED
    match = re.search(r"exit code (\d+)", details.message or "")
    return int(match.group(1)) if match and match.group(1) != "0" else 1
