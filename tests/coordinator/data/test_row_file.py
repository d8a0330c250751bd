"""A .npy file's training rows stay in the file: read by the workers that hold their shares, never by the driver."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator import SearchConfig, search
from coordinator.data.datasets import npy_dataset
from coordinator.data.row_file import BLOCK_ROWS, FileRows
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.prepare import prepare_run
from tests.coordinator.cli_runner import assert_one_line_error, run_cli
from tests.coordinator.on_actors import ON_ACTORS, assert_ran_on_actors


def _rows(count: int = 2_400, seed: int = 0) -> np.ndarray:
    """(count, 13): 12 mostly-zero features, then the label (3 classes)."""
    generator = np.random.default_rng(seed)
    X = generator.normal(size=(count, 12))
    X[generator.random(X.shape) < 0.5] = 0.0
    y = (X[:, :3].sum(axis=1) > 0).astype(int) + (X[:, 3] > 0.5)
    return np.c_[X, y]


@pytest.fixture(scope="module")
def npy_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("npy") / "rows.npy"
    np.save(path, _rows())
    return path


def _config(path, **settings) -> SearchConfig:
    values = {"dataset": str(path), "hidden": (6,), "climbers": 3, "steps": 600, "rounds": 3, "time_budget": None}
    return SearchConfig(**(values | {"shares": 3} | settings))


@pytest.fixture(scope="module")
def in_process_result(npy_file):
    FileRows.reads = 0
    result = search(_config(npy_file), executor="inprocess")
    return result, FileRows.reads


def test_the_driver_reads_only_the_held_out_rows(in_process_result):
    result, reads = in_process_result
    assert result.config.shares == 3 and result.data.rows == 1_920 and result.data.validation.rows == 480
    assert reads == 480  # the held-out rows; the training rows were read by the worker (here, in this process)


def test_streamed_statistics_and_digest_are_those_of_the_rows_in_memory(npy_file):
    rows = _rows()
    dataset = npy_dataset(npy_file)
    big = FileRows(npy_file, np.r_[np.arange(len(rows)), np.arange(len(rows))][: BLOCK_ROWS + 7], 12, 13)
    statistics = big.statistics()  # more than one block
    X = np.r_[rows, rows][: BLOCK_ROWS + 7, :12]
    np.testing.assert_allclose(statistics["mean"], X.mean(axis=0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(statistics["std"], X.std(axis=0), rtol=1e-12)
    assert statistics["nonzeros"] == np.count_nonzero(X) and statistics["absmax"].tolist() == np.abs(X).max(0).tolist()
    in_memory = dataset.take(np.arange(100))
    assert (
        in_memory.sha256()
        == type(in_memory)(in_memory.name, np.asarray(in_memory.X), in_memory.labels, in_memory.classes).sha256()
    )


def test_one_share_of_a_file_is_the_run_of_its_rows_in_memory(npy_file, tmp_path):
    rows = _rows()
    np.savez(tmp_path / "rows.npz", X=rows[:, :12], y=rows[:, 12].astype(int))
    from_npy = search(_config(npy_file, shares=1, rounds=2), executor="inprocess")
    from_npz = search(_config(tmp_path / "rows.npz", shares=1, rounds=2), executor="inprocess")
    assert from_npy.params.tobytes() == from_npz.params.tobytes()
    assert from_npy.data.sha256 == from_npz.data.sha256


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_that_read_their_own_rows_give_the_same_bits(ray_local, npy_file, in_process_result, workers):
    reference, _ = in_process_result
    FileRows.reads = 0
    result = search(_config(npy_file, workers=workers, **ON_ACTORS))
    assert FileRows.reads == 480  # the driver read its held-out rows alone
    assert_ran_on_actors(result, actors=workers)
    assert result.params.tobytes() == reference.params.tobytes()


def test_a_killed_worker_is_replaced_by_one_that_reads_its_rows_again(ray_local, npy_file, in_process_result):
    import os
    import signal

    from coordinator.rounds.stepper import SilentProgress

    class Kill(SilentProgress):
        def __init__(self, executor):
            self.executor, self.killed = executor, None

        def climber_done(self, round_index, done, total, best):
            if round_index == 1 and done == 1 and self.killed is None:
                self.killed = self.executor.pool.worker_info[0][0]
                os.kill(self.killed, signal.SIGKILL)

    config = _config(npy_file, workers=2, **ON_ACTORS)
    prepared = prepare_run(config)
    executor = RayExecutor(prepared.dataset, prepared.config, share_indices=prepared.share_indices)
    try:
        executor.wait_until_ready()
        kill = Kill(executor)
        result = search(config, executor=executor, progress=kill)
        assert kill.killed is not None and executor.pool.replacements >= 1
    finally:
        executor.close()
    assert result.params.tobytes() == in_process_result[0].params.tobytes()


@pytest.mark.parametrize(
    ("array", "words"),
    [
        (np.arange(5.0), "expected a 2-D array of numbers"),
        (np.array([["a", "b"], ["c", "d"]]), "expected a 2-D array of numbers"),
        (np.zeros((4, 1)), "expected a 2-D array of numbers"),
    ],
)
def test_a_file_that_is_not_rows_of_numbers_is_one_line(tmp_path, array, words):
    np.save(tmp_path / "bad.npy", array)
    refused = run_cli("run", "--dataset", "bad.npy", "--out", "run", "--inprocess", cwd=tmp_path)
    assert_one_line_error(refused, "bad.npy", words)
    assert not (tmp_path / "run").exists()


def test_a_label_column_a_npy_file_does_not_have_is_one_line(tmp_path, npy_file):
    refused = run_cli("run", "--dataset", str(npy_file), "--label-column", "13", "--inprocess", cwd=tmp_path)
    assert_one_line_error(refused, "label_column: 13 is not a column")
    refused = run_cli("run", "--dataset", "missing.npy", "--inprocess", cwd=tmp_path)
    assert_one_line_error(refused, "missing.npy: no such data file")
