"""A search as a Ray Job: the flags of `coordinator run` made into a job, and its result brought back.

The job runs `PYTHON -m cluster.job_entry -- PYTHON -m coordinator run FLAGS` on the head, with this
project as its working_dir. The entrypoint is resolved on the head's PATH, so PYTHON (--python,
default `python`) must name an interpreter there that has the project's dependencies installed
(ray_config.yaml's setup commands make `python` that one). The run directory named by --out is
on the user's machine: the job writes into a temporary directory on the head and prints its files
into its log, which the client decodes into --out (cluster.log_transport).
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cluster.connect import ClusterError
from cluster.job_entry import CHECKPOINT_FILE, STOP_WAIT_S
from cluster.log_transport import decode_files, find_files, write_files

# Left out of the job's working_dir (gitignore syntax, as Ray reads `excludes`): runs, version
# control, environments, caches, and files that hold secrets. Ray also leaves out what .gitignore does.
EXCLUDES = [
    "runs/",
    ".git/",
    ".venv/",
    "venv/",
    "env/",
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    ".netrc",
    "*.pem",
    "*.key",
    "id_rsa*",
    "id_ed25519*",
    "auth_token",
    "secrets/",
    "__pycache__/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".device-pack/",
    "build/",
    "dist/",
    "*.egg-info/",
]
# Folders of the project a file given to the search may not sit in: they stay on the user's machine.
EXCLUDED_FOLDERS = {"runs", ".git", ".venv", "venv", "env", "secrets", "__pycache__", "build", "dist"}
RUN_DIR_METADATA = "hillclimb_run_dir"
# Flags of `coordinator run` that make no sense for a job, with the reason.
REFUSED_FLAGS = {
    "--resume": "a job starts a new run on the cluster; resume a local run with `python -m coordinator run --resume`",
    "--address": "the job runs on the cluster it is submitted to; give the dashboard address before --",
}
FILE_FLAGS = ("--config", "--dataset")
# The job's environment. Ray's job supervisor reads RAY_JOB_STOP_WAIT_TIME_S from it too: how long a
# stopped job may take to end before it is killed, time for the search to finish its checkpoint and
# for job_entry to print it (its default, 3 s, is too short).
JOB_ENVIRONMENT = {"PYTHONUNBUFFERED": "1", "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT_S)}
DRY_RUN_TIMEOUT_S = 120.0  # the local check of the flags; it loads the data, which a big file makes slow
DATA_SUFFIXES = (".npz", ".csv", ".npy")


class SubmitError(ClusterError):
    """The job cannot be submitted as asked; told in one line."""


@dataclass(frozen=True)
class JobPlan:
    """What to submit, and where its result goes on this machine."""

    entrypoint: str
    runtime_env: dict
    metadata: dict[str, str]
    run_dir: Path
    coordinator_args: list[str]


def project_root() -> Path:
    """The project this package belongs to (the folder holding pyproject.toml and coordinator/)."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "coordinator").is_dir():
        return root
    cwd = Path.cwd()
    if (cwd / "pyproject.toml").is_file() and (cwd / "coordinator").is_dir():
        return cwd
    raise SubmitError("--working-dir: cannot find the project (pyproject.toml and coordinator/); name it")


def plan_job(
    coordinator_args: Sequence[str],
    python: str = "python",
    working_dir: str | Path | None = None,
    default_run_dir: str | Path | None = None,
) -> JobPlan:
    """The job for `coordinator run` with these flags; SubmitError names a flag that cannot work remotely."""
    root = Path(working_dir).expanduser().resolve() if working_dir else project_root()
    if not (root / "coordinator").is_dir():
        raise SubmitError(f"--working-dir: {root} holds no coordinator/ package")
    if not python.strip():
        raise SubmitError("--python: empty")
    kept, run_dir, force = _rewrite_flags(list(coordinator_args), root)
    if run_dir is None:
        run_dir = Path(default_run_dir or Path("runs") / time.strftime("%Y-%m-%dT%H-%M-%S"))
    run_dir = run_dir.expanduser().resolve()
    check_run_dir(run_dir, force)
    command = [python, "-m", "cluster.job_entry", "--", python, "-m", "coordinator", "run", *kept]
    return JobPlan(
        entrypoint=" ".join(_shell_word(word) for word in command),
        runtime_env={"working_dir": str(root), "excludes": list(EXCLUDES), "env_vars": dict(JOB_ENVIRONMENT)},
        metadata={RUN_DIR_METADATA: str(run_dir)},
        run_dir=run_dir,
        coordinator_args=kept,
    )


def check_flags_locally(plan: JobPlan, python: str = sys.executable) -> str:
    """The "would run: ..." line of `coordinator run --dry-run` with the job's flags, run here; SubmitError if not.

    The flags are those the head will get (without --out, with file paths inside the project), run
    from the project root as the job will be: a bad value or a missing file is told in one line
    before anything is sent, rather than by a failed job seconds later. A subprocess, because
    cluster/ does not import coordinator/.
    """
    root = Path(plan.runtime_env["working_dir"])
    command = [python, "-m", "coordinator", "run", "--dry-run", *plan.coordinator_args]
    try:
        finished = subprocess.run(
            command,
            cwd=root,  # `-m` imports from here first: the project being sent, as on the head
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=DRY_RUN_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise SubmitError(f"flags: could not check them here ({type(error).__name__}: {error})") from None
    lines = [line for line in finished.stderr.splitlines() if line.strip()]
    if finished.returncode != 0:
        errors = [line for line in lines if line.startswith("error: ")]
        if errors:
            raise SubmitError(errors[-1][len("error: ") :])
        last = lines[-1] if lines else "no message"
        raise SubmitError(f"flags: `coordinator run --dry-run` failed here (exit status {finished.returncode}): {last}")
    return finished.stdout.strip()


def _rewrite_flags(arguments: list[str], root: Path) -> tuple[list[str], Path | None, bool]:
    """(flags for the head, the local run directory or None, whether --force was given)."""
    kept: list[str] = []
    run_dir: Path | None = None
    force = False
    index = 0
    while index < len(arguments):
        argument = arguments[index]
        index += 1
        name, has_value, value = argument.partition("=") if argument.startswith("--") else (argument, "", "")
        if name in REFUSED_FLAGS:
            raise SubmitError(f"{name}: not for a submitted job: {REFUSED_FLAGS[name]}")
        if name == "--force":
            force = True
            continue
        if name not in ("--out", *FILE_FLAGS):
            kept.append(argument)
            continue
        if not has_value:
            if index >= len(arguments) or arguments[index].startswith("--"):
                raise SubmitError(f"{name}: expected a value")
            value = arguments[index]
            index += 1
        if name == "--out":
            run_dir = Path(value)
        else:
            kept += [name, _path_for_head(name, value, root)]
    return kept, run_dir, force


def _path_for_head(flag: str, value: str, root: Path) -> str:
    """value itself if it names no file (a named data set), else its path inside the project, as the head sees it."""
    if flag == "--dataset" and not value.lower().endswith(DATA_SUFFIXES) and "/" not in value and os.sep not in value:
        return value
    path = Path(value).expanduser()
    if not path.is_file():
        raise SubmitError(f"{flag}: no file {value}")
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        raise SubmitError(
            f"{flag}: {value} is outside the project {root}, and the job takes only the project to the cluster; "
            "copy the file into it"
        ) from None
    hidden = EXCLUDED_FOLDERS.intersection(relative.parts[:-1])
    if hidden:
        raise SubmitError(f"{flag}: {value} is in {sorted(hidden)[0]}/, which stays on this machine; move it")
    return relative.as_posix()


def check_run_dir(run_dir: Path, force: bool) -> None:
    """Refuse a run directory that already holds files, unless forced (as `coordinator run` does)."""
    if run_dir.exists() and not run_dir.is_dir():
        raise SubmitError(f"--out: {run_dir} is a file")
    if not force and run_dir.is_dir() and any(run_dir.iterdir()):
        raise SubmitError(f"--out: {run_dir} already holds files; choose another directory or add --force")


def _shell_word(word: str) -> str:
    """word quoted for the head's shell; a leading ~/ is left to the shell, so ~/venv/bin/python works."""
    if word.startswith("~/"):
        return "~/" + shlex.quote(word[2:])
    return shlex.quote(word)


def receive_result(logs: str, run_dir: str | Path) -> list[Path]:
    """Decode the run files a finished job printed and write them atomically into run_dir."""
    return write_files(decode_files(logs.splitlines()), run_dir)


@dataclass(frozen=True)
class StoppedJob:
    """What a stopped job left: the files written (its checkpoint at least), and how many rounds it had done."""

    written: list[Path]
    rounds: int | None


def receive_stopped(logs: str, run_dir: str | Path) -> StoppedJob | None:
    """Write the files a stopped job printed into run_dir; None if it had none (no round had finished)."""
    files = find_files(logs.splitlines())
    if not files:
        return None
    return StoppedJob(write_files(files, run_dir), checkpoint_rounds(files.get(CHECKPOINT_FILE)))


def checkpoint_rounds(data: bytes | None) -> int | None:
    """The rounds a checkpoint.npz holds, or None if it cannot say.

    Read from the JSON `state` that coordinator/rounds/checkpoint.py stores in it (cluster/ does not import
    coordinator/); only for telling the user, so anything unexpected is None, never an error.
    """
    if data is None:
        return None
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            stored = archive[
                "state"
            ]  # UTF-8 bytes, or a numpy string in format 1 (see coordinator/rounds/checkpoint.py)
            text = stored.tobytes().decode() if stored.dtype == np.uint8 else str(stored)
            return int(json.loads(text)["rounds_completed"])
    except Exception:
        return None


def version_warning(cluster_version: str, local_version: str | None = None) -> str | None:
    """A line for the user when the cluster runs another Ray than this machine, else None.

    A job runs with the cluster's Ray only, so it works across versions; but `ray up` and direct
    connections (`coordinator run --address`) need the same version on both sides.
    """
    if local_version is None:
        import ray

        local_version = ray.__version__
    if cluster_version == local_version:
        return None
    return (
        f"the cluster runs Ray {cluster_version}, this machine Ray {local_version}; the job runs with the "
        f"cluster's, but keep them the same (ray_config.yaml's pin, or pip install 'ray[default]=={cluster_version}' "
        "here) for `ray up` and direct connections"
    )
