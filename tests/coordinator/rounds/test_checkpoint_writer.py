"""The background checkpoint writer: the newest state lands, in order, and errors are not lost."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator.config import SearchConfig
from coordinator.rounds.best import Best
from coordinator.rounds.checkpoint import Checkpoint, load_checkpoint
from coordinator.rounds.checkpoint_writer import CheckpointWriter
from workers import ClimbOutcome


def _checkpoint(rounds: int) -> Checkpoint:
    config = SearchConfig(layers=(2, 4, 3))
    params = np.full(2 * 4 + 4 + 4 * 3 + 3, float(rounds))
    best = Best(rounds - 1, 0, ClimbOutcome(params, params.copy(), 1.0 / rounds, 0.5, 0))
    return Checkpoint(
        config=config, rounds_completed=rounds, best=best, history=[], evaluations=rounds, wall_seconds=1.0
    )


def test_the_last_submitted_checkpoint_is_on_disk_after_close(tmp_path):
    writer = CheckpointWriter(tmp_path)
    for rounds in range(1, 200):
        writer.submit(_checkpoint(rounds))
    writer.close()
    loaded = load_checkpoint(tmp_path)
    assert loaded.rounds_completed == 199
    assert np.all(loaded.best.outcome.params == 199.0)


def test_a_failed_write_is_raised_not_swallowed(tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the run directory should be")
    writer = CheckpointWriter(blocker)
    writer.submit(_checkpoint(1))
    with pytest.raises(OSError):
        writer.close()


def test_close_with_nothing_submitted_writes_nothing(tmp_path):
    CheckpointWriter(tmp_path / "run").close()
    assert not (tmp_path / "run").exists()
