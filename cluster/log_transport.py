"""Carrying a run directory's files through a Ray Job's log: printed on the head, read back on the user's machine.

The job's log is the one thing a user who reaches only the dashboard port (8265) can read, so the
files travel in it: after the search, the job prints each file base64-encoded between marker
lines, with its size and SHA-256; the client takes the last complete block, checks every file,
and writes them atomically into the local run directory.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

from cluster.atomic_files import atomic_write_bytes
from cluster.connect import ClusterError

BEGIN_MARKER = "=== hillclimb run files begin ==="
END_MARKER = "=== hillclimb run files end ==="
FILE_MARKER = "=== hillclimb file "  # followed by a JSON header and " ==="
RUN_DIR_MARKER = "=== hillclimb run directory on the head: "  # followed by the path and " ==="
LINE_WIDTH = 76
ON_THE_HEAD = " (on the head)"  # added to the log's lines that name the job's run directory there
# Written last, so that a reader who sees it knows the other files are complete.
LAST_FILE = "result.json"


def encode_files(directory: str | Path) -> Iterator[str]:
    """The lines (without newlines) that carry every regular, non-hidden file at the top of directory."""
    directory = Path(directory)
    yield BEGIN_MARKER
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        data = path.read_bytes()
        header = {"name": path.name, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        yield f"{FILE_MARKER}{json.dumps(header, sort_keys=True)} ==="
        text = base64.b64encode(data).decode("ascii")
        for start in range(0, len(text), LINE_WIDTH):
            yield text[start : start + LINE_WIDTH]
    yield END_MARKER


def decode_files(lines: Iterable[str]) -> dict[str, bytes]:
    """The files of the last complete block in lines; ClusterError if there is none or it is damaged."""
    files = find_files(lines)
    if files is None:
        raise ClusterError("job log: no result files in it (did the search finish?)")
    return files


def find_files(lines: Iterable[str]) -> dict[str, bytes] | None:
    """The files of the last complete block in lines, or None if there is none; ClusterError if it is damaged."""
    block: list[str] | None = None
    last_complete: list[str] | None = None
    for raw in lines:
        line = raw.strip()
        if line == BEGIN_MARKER:
            block = []
        elif line == END_MARKER and block is not None:
            last_complete, block = block, None
        elif block is not None:
            block.append(line)
    return None if last_complete is None else _parse_block(last_complete)


def _parse_block(lines: list[str]) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    header: dict | None = None
    chunks: list[str] = []

    def finish() -> None:
        if header is None:
            return
        try:
            data = base64.b64decode("".join(chunks), validate=True)
        except (binascii.Error, ValueError):
            raise ClusterError(f"job log: file {header['name']} is damaged (not base64)") from None
        if len(data) != header["size"] or hashlib.sha256(data).hexdigest() != header["sha256"]:
            raise ClusterError(f"job log: file {header['name']} is damaged (size or checksum differs)")
        files[header["name"]] = data

    for line in lines:
        if line.startswith(FILE_MARKER) and line.endswith(" ==="):
            finish()
            header = _parse_header(line[len(FILE_MARKER) : -len(" ===")])
            chunks = []
        elif header is not None and line:
            chunks.append(line)
    finish()
    return files


def _parse_header(text: str) -> dict:
    try:
        header = json.loads(text)
        name, size, digest = header["name"], header["size"], header["sha256"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise ClusterError("job log: a file header of the result block is damaged") from None
    if not (isinstance(name, str) and _is_plain_name(name) and isinstance(size, int) and isinstance(digest, str)):
        raise ClusterError(f"job log: refusing a result file named {name!r}")
    return header


def _is_plain_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\\" not in name and "\0" not in name


def write_files(files: dict[str, bytes], directory: str | Path) -> list[Path]:
    """Write each file into directory atomically (temporary file, fsync, rename), LAST_FILE last."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in sorted(files, key=lambda name: (name == LAST_FILE, name)):
        written.append(atomic_write_bytes(directory / name, files[name]))
    return written


def run_dir_line(directory: str | Path) -> str:
    """The line that tells a reader of the log where the run directory is on the head."""
    return f"{RUN_DIR_MARKER}{directory} ==="


class LogFilter:
    """Passes a job's log through for a person to read, leaving out the lines that carry files.

    The search's lines name its run directory on the head (a temporary one): they are marked so,
    for nothing is on this machine until `submit` or `fetch` writes it.
    """

    def __init__(self) -> None:
        self._partial = ""
        self._inside = False
        self._remote: str | None = None

    def feed(self, text: str) -> str:
        """The part of text (any chunk of the log) to show; an unfinished last line waits for the next chunk."""
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        return "".join(self._keep(line, "\n") for line in lines)

    def flush(self) -> str:
        """What is left at the end of the log."""
        rest, self._partial = self._partial, ""
        return self._keep(rest, "") if rest else ""

    def _keep(self, line: str, end: str) -> str:
        stripped = line.strip()
        if stripped.startswith(RUN_DIR_MARKER) and stripped.endswith(" ==="):
            self._remote = stripped[len(RUN_DIR_MARKER) : -len(" ===")]
            return ""
        if stripped == BEGIN_MARKER:
            self._inside = True
            return ""
        if stripped == END_MARKER and self._inside:
            self._inside = False
            return ""
        if self._inside:
            return ""
        if self._remote and self._remote in line:
            line = line.rstrip("\r") + ON_THE_HEAD
        return line + end
