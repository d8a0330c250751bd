"""The compiled scorer and kernel: the scorer is numpy's loss, climbs report it, the L2 term is
scikit-learn's, the compiled code is cached by content, and its arithmetic is the same on every CPU."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numba
import numpy as np
import pytest
from numba.core import config

from coordinator.config import ConfigError, make_config
from coordinator.data.datasets import nnfs_data
from workers import ClimbSettings, Layout, Solution, climb, evaluate, from_scratch, jitcache, kernel
from workers.network import evaluate_compiled
from workers.rows import pack_rows

SPIRAL = nnfs_data("spiral", 100, 3)
PACKAGE = Path(__file__).resolve().parents[2] / "workers"


def _mostly_zero_inputs(samples=200, features=16, classes=4):
    rng = np.random.default_rng(4)
    X = rng.uniform(0, 16, (samples, features)) * (rng.random((samples, features)) < 0.2)
    return X, rng.integers(0, classes, samples)


@pytest.mark.parametrize("sizes", [(2, 16, 3), (2, 8, 6, 3), (2, 5, 5, 5, 3), (16, 12, 4)])
@pytest.mark.parametrize("scale", [0.3, 1.0, 3.0])
@pytest.mark.parametrize("l2", [0.0, 0.1])
def test_the_scorer_is_numpys_evaluate(sizes, scale, l2):
    X, y = SPIRAL if sizes[0] == 2 else _mostly_zero_inputs()
    layout = Layout(sizes)
    batch = scale * np.random.default_rng(sum(sizes)).standard_normal((5, layout.num_params))
    losses, accuracies = evaluate_compiled(batch, X, y, layout, l2)
    expected_losses, expected_accuracies = evaluate(batch, X, y, layout, l2)
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-12)
    np.testing.assert_array_equal(accuracies, expected_accuracies)
    one_loss, one_accuracy = evaluate_compiled(batch[2], X, np.eye(layout.num_classes)[y], layout, l2)  # one-hot labels
    assert (one_loss, one_accuracy) == (losses[2], accuracies[2])


@pytest.mark.parametrize("weight", [np.inf, -np.inf, np.nan])
def test_a_non_finite_weight_on_a_mostly_zero_feature_scores_as_numpy_does(weight):
    """A listed feature's zeros are skipped, yet 0 * inf is NaN for them as in numpy's dense product."""
    X, y = _mostly_zero_inputs()
    layout = Layout((16, 6, 4))
    params = 0.3 * np.random.default_rng(2).standard_normal(layout.num_params)
    assert pack_rows(X, y).dense_row[3] < 0  # feature 3 is listed (mostly zero)
    params[3 * 6 + 1] = weight  # feature 3 -> hidden unit 1
    loss, accuracy = evaluate_compiled(params, X, y, layout)
    expected_loss, expected_accuracy = evaluate(params, X, y, layout)
    assert np.isnan(loss) and np.isnan(expected_loss) and accuracy == expected_accuracy


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize("l2", [0.0, 0.02])
def test_climbs_report_the_scorers_figures(engine, l2):
    X, y = SPIRAL
    layout = Layout((2, 8, 3))
    settings = ClimbSettings(steps=200, engine=engine, mutation_rate=0.05, adaptive=True, l2=l2)
    outcome = climb(None, 3, X, y, layout, settings)
    assert (outcome.loss, outcome.score) == evaluate_compiled(outcome.params, X, y, layout, l2)


def test_the_l2_term_is_scikit_learns_alpha_term():
    """The same penalty as MLPClassifier's loss with alpha = l2, so a value tuned there means the same here."""
    pytest.importorskip("sklearn")
    import sklearn
    from sklearn.neural_network import MLPClassifier

    X, y = SPIRAL
    X = X.astype(np.float64)
    layout = Layout((2, 5, 3))
    params = np.random.default_rng(0).standard_normal(layout.num_params)
    model = MLPClassifier(hidden_layer_sizes=(5,), alpha=0.3, max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one iteration does not converge
        model.fit(X, y)
    model.coefs_ = [weights.copy() for weights, _ in layout.unpack(params)]
    model.intercepts_ = [biases[0].copy() for _, biases in layout.unpack(params)]
    targets = model._label_binarizer.transform(y)

    def sklearn_loss(alpha):
        model.alpha = alpha
        activations = [X] + [None] * (model.n_layers_ - 1)
        deltas = [None] * (model.n_layers_ - 1)
        gradients = [np.empty_like(weights) for weights in model.coefs_]
        intercepts = [np.empty_like(biases) for biases in model.intercepts_]
        try:
            return model._backprop(X, targets, None, activations, deltas, gradients, intercepts)[0]
        except TypeError:  # a private method: another scikit-learn version may call it differently
            pytest.skip(
                "a private API changed: this parity check calls scikit-learn's private MLPClassifier._backprop, "
                f"which has another signature in scikit-learn {sklearn.__version__}"
            )

    expected = sklearn_loss(0.3) - sklearn_loss(0.0)
    for loss in (evaluate, evaluate_compiled):
        assert math.isclose(loss(params, X, y, layout, 0.3)[0] - loss(params, X, y, layout)[0], expected, rel_tol=1e-12)


@pytest.mark.parametrize("value", [-0.1, float("nan"), float("inf"), -float("inf")])
def test_settings_reject_a_bad_l2_quoting_it(value):
    with pytest.raises(
        ValueError, match=r"l2\n  Value error, " + re.escape(f"must be a finite number >= 0, got {value!r}")
    ):
        ClimbSettings(steps=1, l2=value)
    with pytest.raises(ConfigError, match=r"^l2: " + re.escape(f"must be a finite number >= 0, got {value!r}") + "$"):
        make_config({"l2": value})


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_no_l2_adds_nothing_not_even_zero_times_infinity(engine):
    """A weight of 1e200 on a unit nobody listens to: its square is inf, yet with l2 = 0 the loss is finite."""
    X, y = SPIRAL
    layout = Layout((2, 4, 3))
    params = 0.1 * np.random.default_rng(1).standard_normal(layout.num_params)
    params[0] = 1e200  # input 0 -> hidden unit 0 ...
    params[12:15] = 0.0  # ... whose outgoing weights are zero
    loss = evaluate_compiled(params, X, y, layout)[0]
    assert math.isfinite(loss) and loss == evaluate_compiled(params, X, y, layout, 0.0)[0]
    assert math.isclose(evaluate(params, X, y, layout)[0], loss, rel_tol=1e-12)
    assert evaluate_compiled(params, X, y, layout, 0.1)[0] == math.inf
    start = Solution(params, np.full(layout.num_params, 0.05))
    outcome = climb(start, 0, X, y, layout, ClimbSettings(steps=300, engine=engine, mutation_rate=0.1, adaptive=True))
    assert outcome.loss < loss


def _run_climb_script(pythonpath: Path, environment: dict[str, str] | None = None) -> dict:
    """A tiny climb in a fresh process importing the package from pythonpath; its figures and cache use."""
    script = """
import json, numpy as np
from numba.core import config
from workers import ClimbSettings, Layout, climb, from_scratch, kernel
from coordinator_free_data import X, y
outcome = climb(None, 7, X, y, Layout((2, 6, 5, 3)), ClimbSettings(steps=300, mutation_rate=0.05, adaptive=True,
                step_scope="parameter", l2=0.01))
functions = [kernel.adjust_sparse, from_scratch.evaluate_batch]
print(json.dumps({"params": outcome.params.tobytes().hex(), "loss": outcome.loss,
                  "cache": kernel.CACHE and from_scratch.CACHE,
                  "cpu": config.CPU_NAME,
                  "hits": sum(sum(f.stats.cache_hits.values()) for f in functions),
                  "misses": sum(sum(f.stats.cache_misses.values()) for f in functions)}))
"""
    X, y = SPIRAL
    (pythonpath / "coordinator_free_data.py").write_text(
        f"import numpy as np\nX = np.array({X.astype(np.float64).tolist()!r})\ny = np.array({y.tolist()!r})\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.startswith("NUMBA_")}
    env.update(environment or {}, PYTHONPATH=str(pythonpath))
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=280, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _fresh_copy(tmp_path: Path, name: str) -> Path:
    """The package copied to a new directory, its files with new times: as a Ray Job unpacks it."""
    root = tmp_path / name
    shutil.copytree(PACKAGE, root / "workers", ignore=shutil.ignore_patterns("__pycache__"))
    for source in (root / "workers").glob("*.py"):
        os.utime(source, (1e9, 1e9))
    return root


def test_a_fresh_copy_of_the_package_loads_the_kernel_from_the_cache(tmp_path):
    """The cache is keyed by the sources' content, not their directory or times (numba's own keys)."""
    X, y = SPIRAL
    settings = ClimbSettings(steps=300, mutation_rate=0.05, adaptive=True, step_scope="parameter", l2=0.01)
    here = climb(None, 7, X.astype(np.float64), y, Layout((2, 6, 5, 3)), settings)  # fills the cache if empty
    if not kernel.CACHE:
        pytest.skip("the per-user cache directory is not writable here")
    environment = {"XDG_CACHE_HOME": os.environ.get("XDG_CACHE_HOME", "")}
    if config.CACHE_DIR:
        environment["NUMBA_CACHE_DIR"] = config.CACHE_DIR
    there = _run_climb_script(_fresh_copy(tmp_path, "unpacked"), environment)
    assert there["cache"] and there["misses"] == 0 and there["hits"] >= 2
    assert there["params"] == here.params.tobytes().hex() and there["loss"] == here.loss
    # Each compiled module is cached by the sources it depends on: the engine by the scoring's too.
    names = ("from_scratch.py", "fastmath.py", "losses.py", "rows.py", "grid.py", "activations.py", "network.py")
    assert [Path(source).name for source in from_scratch.SOURCES] == list(names)
    assert [Path(source).name for source in kernel.SOURCES] == ["kernel.py", *names]
    for module, function in ((from_scratch, "evaluate_batch"), (kernel, "adjust_sparse")):
        digest = jitcache.sources_hash(module.SOURCES)
        assert list((jitcache.cache_root() / digest[:20]).glob(f"{module.__name__.split('.')[-1]}.{function}-*.nbi"))


def test_an_unwritable_cache_directory_means_no_cache_and_no_error(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setattr(config, "CACHE_DIR", "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker / "below-a-file"))
    assert jitcache.cache_root() == blocker / "below-a-file" / "hillclimb" / "numba"
    assert not jitcache.writable(jitcache.cache_root())
    assert jitcache.install([kernel.__file__], kernel.__file__) is False
    monkeypatch.setattr(config, "CACHE_DIR", str(tmp_path / "numba"))
    assert jitcache.cache_root() == tmp_path / "numba" / "hillclimb"


def test_no_fused_multiply_add_anywhere_in_the_arithmetic():
    """numba leaves a * b + c as two roundings (no FMA contraction): the bits a CPU without FMA gets.

    Checked on fresh compilations (cached code cannot be inspected) of the functions that multiply
    and add: the loss with its polynomial exp and log, the L2 sum, the forward pass's and the
    incremental updates' multiply-adds.
    """
    rows = np.random.default_rng(0).standard_normal((6, 40))
    state = np.random.default_rng(1).standard_normal((2, 6, 40))
    side = np.zeros(6, dtype=np.int64)
    labels = np.arange(40) % 3
    problem = pack_rows(*_mostly_zero_inputs(samples=40))
    calls = {
        from_scratch.sample_losses: (
            rows,
            3,
            labels,
            np.zeros(4, dtype=np.int64),
            np.empty(40),
            np.empty((2, 40)),
            (0, 40),
        ),
        from_scratch.mean_of: (rows[0],),
        from_scratch.squared_weights: (rows[0], Layout((2, 3, 4)).arrays),
        from_scratch._add_scaled: (rows[0], rows[1], 0.5, 0, 40),
        kernel._add_input_row: (state, 1, 2, rows, 3, 0.5),
        kernel._add_hidden_row: (state, 1, 2, 0, 3, 0.5, 0),
        kernel._activation_change: (state, side, 2, rows, 1, 0),
        from_scratch._activate_other: (0.3, 1),  # tanh
        kernel._add_four: (state, 1, 2, rows, 1, rows[0, :4].copy(), (0, 40)),
        kernel._add_four_twice: (state, (1, 1), 2, rows, rows[:5, :3].copy(), (1, 0), (0, 40)),
        from_scratch._add_listed: (rows[0], problem, 1, 0.5),
        kernel._add_nonzeros: (state, 1, 2, problem, 1, 0.5),
        from_scratch._accuracy: (rows, 3, labels),
    }
    for function, arguments in calls.items():
        fresh = numba.njit(error_model="numpy")(function.py_func)
        fresh(*arguments)
        for assembly in fresh.inspect_asm().values():
            assert not re.findall(r"\bvf(n)?m(add|sub)", assembly), function.__name__


def test_one_answer_on_a_cpu_without_avx(tmp_path):
    """The kernel compiled for baseline x86-64 (SSE2: 2 doubles a vector, no AVX) climbs to the same bits."""
    if not re.match(r"x86|amd64", os.uname().machine, re.IGNORECASE):
        pytest.skip("the baseline CPU here is x86-64")
    X, y = SPIRAL
    settings = ClimbSettings(steps=300, mutation_rate=0.05, adaptive=True, step_scope="parameter", l2=0.01)
    here = climb(None, 7, X.astype(np.float64), y, Layout((2, 6, 5, 3)), settings)
    there = _run_climb_script(
        _fresh_copy(tmp_path, "generic"), {"NUMBA_CPU_NAME": "generic", "XDG_CACHE_HOME": str(tmp_path / "cache")}
    )
    assert there["cpu"] == "generic"
    assert there["params"] == here.params.tobytes().hex() and there["loss"] == here.loss
