"""A search as a Ray Job: the flags of `coordinator run` made into a job, and its result brought back.

The job runs `PYTHON -m cluster.job_entry -- PYTHON -m coordinator run FLAGS` on the head, with this
project as its working_dir. The entrypoint is resolved on the head's PATH, so PYTHON (--python,
default `python`) must name an interpreter there that has the project's dependencies installed
(ray_config.yaml's setup commands make `python` that one). The run directory named by --out is
on the user's machine: the job writes into a temporary directory on the head and prints its files
into its log, which the client decodes into --out (cluster.log_transport).
"""

from __future__ import annotations

import os
import shlex
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cluster.connect import ClusterError
from cluster.log_transport import decode_files, write_files

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
DATA_SUFFIXES = (".npz", ".csv")


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
        runtime_env={"working_dir": str(root), "excludes": list(EXCLUDES), "env_vars": {"PYTHONUNBUFFERED": "1"}},
        metadata={RUN_DIR_METADATA: str(run_dir)},
        run_dir=run_dir,
        coordinator_args=kept,
    )


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
