"""Checkpoints written beside the search, not in its way: a background thread, the latest state wins.

Writing a checkpoint (JSON of the whole history, then fsync) took 5-10 ms here, a tenth of a
short round. The writer takes each round's checkpoint and writes it while the next round runs;
if rounds end faster than the disk, a pending checkpoint is replaced by the newer one (each is
complete on its own), so the file is at most one write behind and `close` writes the last.
"""

from __future__ import annotations

import threading
from pathlib import Path

from coordinator.rounds.checkpoint import Checkpoint, save_checkpoint


class CheckpointWriter:
    """Saves checkpoints of one run directory on a background thread, in order, newest last."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self._condition = threading.Condition()
        self._pending: Checkpoint | None = None
        self._writing = False
        self._closed = False
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._loop, name="checkpoint-writer", daemon=True)
        self._thread.start()

    @staticmethod
    def optional(directory: str | Path | None) -> CheckpointWriter | NoCheckpoints:
        """A writer for directory, or one that writes nothing when there is no directory."""
        return NoCheckpoints() if directory is None else CheckpointWriter(directory)

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def submit(self, checkpoint: Checkpoint) -> None:
        """Queue checkpoint for writing, replacing one not yet started; re-raise an earlier write's error."""
        with self._condition:
            self._raise_error()
            self._pending = checkpoint
            self._condition.notify()

    def close(self) -> None:
        """Write what is pending, stop the thread, and raise if any write failed."""
        with self._condition:
            self._closed = True
            self._condition.notify()
        self._thread.join()
        with self._condition:
            self._raise_error()

    def _raise_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def _loop(self) -> None:
        while True:
            with self._condition:
                while self._pending is None and not self._closed:
                    self._condition.wait()
                if self._pending is None:  # closed, nothing left
                    return
                checkpoint, self._pending = self._pending, None
            try:
                save_checkpoint(self.directory, checkpoint)
            except BaseException as error:  # handed to the search's thread at its next submit or close
                with self._condition:
                    self._error = error


class NoCheckpoints:
    """A run without a directory: checkpoints go nowhere."""

    def __enter__(self) -> NoCheckpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Nothing to close."""

    def submit(self, checkpoint: Checkpoint) -> None:
        """Drop it."""
