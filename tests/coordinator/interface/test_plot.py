"""The plots: decision regions over the data, best loss and accuracy per round; PNG files, Agg only."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.image import imread

from coordinator import ConfigError
from coordinator.interface.plot import plot_run, read_run, regions_data
from coordinator.results.run_files import HISTORY_FILE, REGIONS_FILE
from tests.coordinator.cli_runner import TINY_FLAGS, assert_one_line_error, make_run, run_cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A finished tiny run; tests copy it before changing anything."""
    run_dir = tmp_path_factory.mktemp("plot") / "run"
    make_run(run_dir)
    return run_dir


def _check_png(path, min_width=400):
    """A real, non-blank PNG of a sensible size."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    assert 5_000 < path.stat().st_size < 200_000
    pixels = imread(path)
    assert pixels.ndim == 3 and pixels.shape[1] >= min_width
    assert pixels[..., :3].std() > 0.05  # more than a blank page
    return pixels


def test_plot_run_writes_both_pictures(finished_run, tmp_path):
    backend = matplotlib.get_backend()
    paths = plot_run(finished_run, tmp_path / "pictures")
    assert [path.name for path in paths] == [REGIONS_FILE, HISTORY_FILE]
    assert all(path.parent == tmp_path / "pictures" for path in paths)
    regions = _check_png(paths[0])
    _check_png(paths[1])
    assert matplotlib.get_backend() == backend  # the caller's pyplot set-up is left alone
    assert sorted(p.name for p in (tmp_path / "pictures").iterdir()) == [REGIONS_FILE, HISTORY_FILE]  # no temp files

    # The regions picture shows the brg colours of all three classes (blue, red, green).
    rgb = regions[..., :3].reshape(-1, 3)
    strong = rgb.max(axis=1) - rgb.min(axis=1) > 0.5
    dominant = np.argmax(rgb[strong], axis=1)
    assert {0, 1, 2} <= set(np.unique(dominant).tolist())


def test_plot_run_defaults_to_the_run_directory(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    assert plot_run(run_dir) == [run_dir / REGIONS_FILE, run_dir / HISTORY_FILE]


def test_a_run_still_going_is_drawn_from_its_checkpoint(finished_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    (run_dir / "result.json").unlink()
    (run_dir / "weights.npz").unlink()
    paths = plot_run(run_dir)
    for path in paths:
        _check_png(path)


def test_a_resumed_run_past_its_result_is_drawn_from_the_checkpoint(finished_run, tmp_path):
    from coordinator.interface.plot import read_run
    from coordinator.rounds.checkpoint import load_checkpoint, save_checkpoint

    run_dir = tmp_path / "run"
    shutil.copytree(finished_run, run_dir)
    assert read_run(run_dir).finished
    checkpoint = load_checkpoint(run_dir)
    save_checkpoint(run_dir, dataclasses.replace(checkpoint, rounds_completed=checkpoint.rounds_completed + 1))
    view = read_run(run_dir)
    assert not view.finished and view.rounds_completed == 3


def test_data_with_more_than_two_features_gets_only_the_history(tmp_path):
    generator = np.random.default_rng(0)
    X = generator.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    np.savez(tmp_path / "three.npz", X=X, y=y)
    run_dir = tmp_path / "run"
    make_run(run_dir, dataset=str(tmp_path / "three.npz"), layers=(3, 4, 2))
    assert plot_run(run_dir) == [run_dir / HISTORY_FILE]


def test_a_missing_data_file_still_gives_the_history_and_says_why_the_regions_are_missing(tmp_path):
    data = tmp_path / "points.csv"
    data.write_text("x,y,label\n0,0,0\n1,1,1\n0,1,0\n1,0,1\n")
    run_dir = tmp_path / "run"
    make_run(run_dir, dataset=str(data), layers=(2, 3, 2))
    data.unlink()
    assert plot_run(run_dir, tmp_path / "pictures") == [tmp_path / "pictures" / HISTORY_FILE]
    _dataset, reason = regions_data(read_run(run_dir))
    assert "\n" not in reason
    assert str(data) in reason and "no such data file" in reason
    completed = run_cli("plot", str(run_dir), cwd=tmp_path)
    assert completed.returncode == 0 and completed.stdout.split() == [str(run_dir / HISTORY_FILE)]
    assert completed.stderr.startswith("note: decision regions need the run's data")


def test_a_run_on_a_file_plots_from_any_directory(tmp_path):
    data = tmp_path / "points.csv"
    data.write_text("x,y,label\n0,0,a\n1,1,b\n0,1,a\n1,0,b\n")
    completed = run_cli("run", *TINY_FLAGS[4:], "--dataset", "points.csv", "--hidden", "3", "--inprocess", "--quiet",
                        "--out", "run", "--validation-fraction", "0", cwd=tmp_path)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    completed = run_cli("plot", str(tmp_path / "run"), cwd=elsewhere)
    assert completed.returncode == 0, completed.stderr
    assert sorted(Path(line).name for line in completed.stdout.split()) == [REGIONS_FILE, HISTORY_FILE]


def test_a_missing_run_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="no such run directory"):
        plot_run(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"result\.json: missing"):
        plot_run(tmp_path / "empty")


def test_plot_command(finished_run, tmp_path):
    completed = run_cli("plot", str(finished_run), "--output", "pictures", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == [f"pictures/{REGIONS_FILE}", f"pictures/{HISTORY_FILE}"]
    _check_png(tmp_path / "pictures" / REGIONS_FILE)

    assert_one_line_error(run_cli("plot", "missing-run", cwd=tmp_path), "missing-run", "no such run directory")


def test_run_with_plot_writes_the_pictures_and_lists_them(tmp_path):
    completed = run_cli("run", *TINY_FLAGS, "--inprocess", "--out", "run", "--plot", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    for name in (REGIONS_FILE, HISTORY_FILE):
        _check_png(tmp_path / "run" / name)
        assert f"run/{name}" in completed.stdout


def test_a_resumed_runs_pictures_are_drawn_again_and_a_forced_runs_old_ones_removed(tmp_path):
    flags = [*TINY_FLAGS, "--inprocess", "--time-budget", "none", "--quiet"]
    assert run_cli("run", *flags, "--out", "run", "--plot", cwd=tmp_path).returncode == 0
    before = {name: (tmp_path / "run" / name).read_bytes() for name in (REGIONS_FILE, HISTORY_FILE)}
    completed = run_cli("run", "--resume", "run", "--rounds", "4", "--inprocess", cwd=tmp_path)  # no --plot
    assert completed.returncode == 0, completed.stderr
    assert f"run/{HISTORY_FILE}" in completed.stdout.splitlines()[-1]  # the summary's "written:" line
    assert all((tmp_path / "run" / name).read_bytes() != data for name, data in before.items())
    completed = run_cli("run", *flags, "--out", "run", "--force", "--seed", "1", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert not (tmp_path / "run" / REGIONS_FILE).exists() and not (tmp_path / "run" / HISTORY_FILE).exists()


def test_a_regressors_fit_is_drawn_and_scored_on_each_set_of_rows_as_the_summary_scores_them(tmp_path):
    from coordinator import SearchConfig, search
    from coordinator.interface.plot import _fit_figure, run_rows
    from coordinator.results.evaluation import regression_evaluation_of

    config = SearchConfig(dataset="diabetes", hidden=(4,), climbers=2, steps=200, rounds=2, time_budget=None)
    result = search(config, executor="inprocess", run_dir=tmp_path / "run")
    run = read_run(tmp_path / "run")
    rows, reason = run_rows(run)
    assert reason is None and [name for name, _part in rows.parts()] == ["training", "held-out", "test"]
    data = result.data
    assert [len(part.X) for _name, part in rows.parts()] == [data.rows, data.validation.rows, data.test.rows]
    r2 = {name: regression_evaluation_of(result.predict_values(part.X), part.targets).r2 for name, part in rows.parts()}
    assert r2["training"] == pytest.approx(result.best_r2, abs=1e-9)  # the summary's training R^2
    assert r2["held-out"] == pytest.approx(result.validation_r2, abs=1e-9)
    assert r2["test"] == pytest.approx(result.test_r2, abs=1e-9)  # and its test R^2: no set drawn mixed in another
    title = _fit_figure(run, rows).axes[0].get_title()
    assert f"R^2: training {result.best_r2:.3f} ({data.rows} rows), held-out {result.validation_r2:.3f} " in title
    assert f"test {result.test_r2:.3f} ({data.test.rows} rows)\nMSE in the targets' units: training " in title


def test_decision_regions_name_each_set_of_rows_and_the_training_loss_with_its_l2_term(tmp_path):
    from coordinator import SearchConfig, search
    from coordinator.interface.plot import _regions_figure, run_rows

    generator = np.random.default_rng(0)
    X = generator.normal(size=(80, 2))
    lines = ["a,b,label"] + [f"{a!r},{b!r},{int(a > 0)}" for a, b in X.tolist()]
    (tmp_path / "two.csv").write_text("\n".join(lines) + "\n")
    config = SearchConfig(dataset=str(tmp_path / "two.csv"), hidden=(3,), climbers=2, steps=100, rounds=2,
                          time_budget=None)  # fmt: skip
    result = search(config, executor="inprocess", run_dir=tmp_path / "run")
    run = read_run(tmp_path / "run")
    rows, _reason = run_rows(run)
    training, held = rows.training, rows.held_out
    assert (len(training.X), len(held.X)) == (result.data.rows, result.data.validation.rows) == (64, 16)
    assert np.mean(result.predict(training.X) == training.labels) == result.best_accuracy
    assert np.mean(result.predict(held.X) == held.labels) == result.validation_accuracy
    title = _regions_figure(run, rows).axes[0].get_title()
    assert f"training rows (64): cross-entropy + L2 {result.best_loss:.4f}\naccuracy: training rows (64) " in title
    assert f", held-out rows (16) {result.validation_accuracy:.1%}" in title
