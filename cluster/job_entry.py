"""The entrypoint of a submitted job, run on the head: `python -m cluster.job_entry -- COMMAND...`.

Runs COMMAND with `--out DIR` added, DIR a fresh temporary directory on the head; when it
succeeds, prints DIR's files into the job's log (cluster.log_transport) for the client to write
on the user's machine. Exits with COMMAND's status and removes DIR in every case.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import tempfile

from cluster.command_line import EXIT_BAD_INPUT
from cluster.log_transport import encode_files, run_dir_line


def run_and_ship(command: list[str]) -> int:
    """Run command into a temporary run directory; on success print its files; return the exit status."""
    directory = tempfile.mkdtemp(prefix="hillclimb-job-")
    try:
        print(run_dir_line(directory), flush=True)
        status = subprocess.run([*command, "--out", directory], check=False).returncode
        if status == 0:
            sys.stdout.flush()
            for line in encode_files(directory):
                sys.stdout.write(line + "\n")
            sys.stdout.flush()
        return status
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _stop_on_sigterm(signal_number, frame) -> None:
    # `ray job stop` sends SIGTERM to this process and to the search: leave through `finally`.
    raise SystemExit(128 + signal_number)


def main(argv: list[str] | None = None) -> int:
    """Entry point; the command to run follows `--`."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        print("error: usage: python -m cluster.job_entry -- COMMAND [ARGUMENTS...]", file=sys.stderr)
        return EXIT_BAD_INPUT
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    return run_and_ship(argv)


if __name__ == "__main__":
    sys.exit(main())
