"""Keeping Ray's own notices off a quiet terminal: what Ray logs goes to a file among Ray's logs.

Where the notices come from (Ray 2.60, measured): a local Ray's GCS, raylet, agents and workers
never write to the driver's terminal (their stdout and stderr are files or pipes of their own).
What reaches it is Python logging in the driver: `ray.init(configure_logging=False)` empties the
"ray" logger's handlers (and Ray leaves it not propagating), so its records, such as the
token-authentication notice, find no handler and fall to `logging.lastResort`, which writes every
warning to stderr. While a quiet block is on, that last resort is a handler of ours that keeps
every record (from INFO up) and writes it into the session's log directory once Ray has one.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

LOG_FILE_PREFIX = "hillclimb-driver"

# The one quiet block on now, told of Ray's log directory by cluster.connect once Ray is up.
_active: RayLogFile | None = None


class RayLogFile(logging.Handler):
    """Holds log records until Ray's log directory is known, then appends them to a file there."""

    def __init__(self):
        super().__init__(level=logging.INFO)
        # Ray's own plain format, with the logger's name: the file reads like Ray's other logs.
        self.setFormatter(logging.Formatter("%(asctime)s\t%(levelname)s %(name)s -- %(message)s"))
        self.path: Path | None = None
        self._held: list[str] = []
        self._file: TextIO | None = None

    def open_in(self, directory: str | Path) -> None:
        """Write the records held so far, and every later one, to hillclimb-driver-PID.log in directory."""
        with self.lock:
            if self._file is not None:
                return
            self.path = Path(directory) / f"{LOG_FILE_PREFIX}-{os.getpid()}.log"
            self._file = self.path.open("a", encoding="utf-8")
            self._file.writelines(self._held)
            self._file.flush()
            self._held.clear()

    def emit(self, record: logging.LogRecord) -> None:
        """Hold the record, or append it to the file once there is one."""
        try:
            line = self.format(record) + "\n"
            if self._file is None:
                self._held.append(line)
            else:
                self._file.write(line)
                self._file.flush()
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        """Close the file; records still held (Ray never came up) go to Ray's temporary directory."""
        with self.lock:
            if self._file is None and self._held:
                fallback = Path(tempfile.gettempdir()) / "ray"
                with contextlib.suppress(OSError):
                    fallback.mkdir(parents=True, exist_ok=True)
                    self.open_in(fallback)
            if self._file is not None:
                self._file.close()
        super().close()


@contextlib.contextmanager
def ray_logs_to_file() -> Iterator[RayLogFile]:
    """For the block, log records nobody handles go to a file among Ray's logs, not to the terminal.

    Our own errors are printed, not logged, so they still reach the terminal.
    """
    global _active
    if _active is not None:  # a block within a block (the CLI's around the search's): the outer one holds
        yield _active
        return
    handler = RayLogFile()
    previous, _active = logging.lastResort, handler
    logging.lastResort = handler
    try:
        yield handler
    finally:
        logging.lastResort, _active = previous, None
        handler.close()


def ray_log_directory_known() -> None:
    """Once connected: a quiet block's records go into this Ray session's log directory (where Ray keeps one)."""
    ray = sys.modules.get("ray")
    if _active is None or ray is None:
        return
    node = getattr(ray._private.worker, "_global_node", None)  # None for a ray:// client
    if node is not None:
        # Unwritable: the records stay held, and closing the block puts them in the temporary directory.
        with contextlib.suppress(OSError):
            _active.open_in(node.get_logs_dir_path())
