"""The entrypoint of a submitted job, run on the head: `python -m cluster.job_entry -- COMMAND...`.

Runs COMMAND with `--out DIR` added, DIR a fresh temporary directory on the head. When it succeeds,
or when the job is stopped, prints DIR's files into the job's log (cluster.log_transport) for the
client to write on the user's machine: a stopped search's checkpoint.npz is its best so far. Exits
with COMMAND's status (143 when stopped) and removes DIR in every case.

How a stop reaches the search: `ray job stop` (and `python -m cluster stop`) makes Ray's job
supervisor send SIGTERM to the entrypoint and to every process below it, so to this process and to
COMMAND alike. A search connected to Ray ends on SIGTERM through Ray's own handler (SystemExit),
which closes its checkpoint writer on the way out: the last finished round is on disk. This process
only waits for it, up to STOP_GRACE_S, then ships what is there. The supervisor kills whatever is
left after RAY_JOB_STOP_WAIT_TIME_S (3 s by default, too short for that; `submit` sets
STOP_WAIT_S in the job's environment, which the supervisor reads).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cluster.command_line import EXIT_BAD_INPUT
from cluster.log_transport import encode_files, run_dir_line

STOP_GRACE_S = 20.0  # how long a stopped search may take to end before it is killed and its files shipped
STOP_WAIT_S = 30  # the supervisor's wait between SIGTERM and SIGKILL: more than STOP_GRACE_S and the shipping
EXIT_STOPPED = 128 + signal.SIGTERM
CHECKPOINT_FILE = "checkpoint.npz"  # what `coordinator run` writes after every round


class _StopRequest:
    """Set by SIGTERM: when the job was asked to stop (time.monotonic()), or None."""

    since: float | None = None


def _note_stop(signal_number, frame) -> None:
    # Only note it: the search got the same signal and is ending; this process waits for it, then ships.
    if _StopRequest.since is None:
        _StopRequest.since = time.monotonic()


def _wait(process: subprocess.Popen) -> int:
    """process's exit status; once a stop is requested, it has STOP_GRACE_S to end before it is killed."""
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            return process.wait(timeout=0.2)
        if _StopRequest.since is not None and time.monotonic() - _StopRequest.since > STOP_GRACE_S:
            process.kill()  # its checkpoint is written atomically: the last complete one is still there


def _ship(directory: str) -> None:
    sys.stdout.flush()
    for line in encode_files(directory):
        sys.stdout.write(line + "\n")
    sys.stdout.flush()


def run_and_ship(command: list[str]) -> int:
    """Run command into a temporary run directory; print its files on success or stop; return the exit status."""
    directory = tempfile.mkdtemp(prefix="hillclimb-job-")
    try:
        print(run_dir_line(directory), flush=True)
        status = _wait(subprocess.Popen([*command, "--out", directory])) if _StopRequest.since is None else None
        if _StopRequest.since is not None:
            if any(path.name == CHECKPOINT_FILE for path in Path(directory).iterdir()):
                print("job stopped: its run directory as of the last finished round follows", flush=True)
                _ship(directory)
            else:
                print("job stopped before its first round finished: nothing to bring back", flush=True)
            return EXIT_STOPPED
        if status == 0:
            _ship(directory)
        return status
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Entry point; the command to run follows `--`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("error: usage: python -m cluster.job_entry -- COMMAND [ARGUMENTS...]", file=sys.stderr)
        return EXIT_BAD_INPUT
    signal.signal(signal.SIGTERM, _note_stop)
    return run_and_ship(argv)


if __name__ == "__main__":
    sys.exit(main())
