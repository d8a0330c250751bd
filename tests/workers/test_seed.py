"""The seed's numbers: its own code reproduces them exactly, and our searches land where it did."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.seed_reference import Activation_ReLU, Activation_Softmax, Layer_Dense, Loss_CategoricalCrossentropy
from coordinator.data.datasets import nnfs_data
from coordinator.interface.reference import SEED_FIGURES as REFERENCE
from workers import ClimbSettings, Layout, climb, evaluate
from workers.network import evaluate_compiled, sparse_labels
from workers.settings import SEED_RULE

SEED_FIGURES = {figure.name: (figure.loss, figure.accuracy) for figure in REFERENCE}


@pytest.fixture(scope="module")
def seed_run():
    """The seed's code run as the chapter runs it (nnfs.init() patches numpy, so in a subprocess)."""
    script = Path(__file__).parents[2] / "bench" / "seed_reference.py"
    output = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120)
    return json.loads(output.stdout)


def test_the_seeds_code_reproduces_its_figures(seed_run):
    for name, (loss, accuracy) in SEED_FIGURES.items():
        measured_loss, measured_accuracy = seed_run["figures"][name]
        assert round(measured_loss, 4) == loss, name
        assert round(measured_accuracy, 3) == accuracy, name


@pytest.mark.parametrize("name", ["vertical", "spiral"])
def test_nnfs_data_is_nnfs_data_bit_for_bit(seed_run, name):
    X, y = nnfs_data(name, 100, 3)
    reference = seed_run["data"][name]
    assert reference["dtype"] == "float32" == str(X.dtype)
    np.testing.assert_array_equal(X, np.asarray(reference["X"], dtype=np.float32))
    np.testing.assert_array_equal(y, np.asarray(reference["y"]))


def _seed_network_figures(layers, X, y):
    """Loss and accuracy of the seed's classes on the given (weights, biases)."""
    dense = []
    for weights, biases in layers:
        layer = object.__new__(Layer_Dense)  # skip __init__: it draws from the global np.random
        layer.weights, layer.biases = weights, biases
        dense.append(layer)
    values = X
    for index, layer in enumerate(dense):
        layer.forward(values)
        values = layer.output
        if index < len(dense) - 1:
            activation = Activation_ReLU()
            activation.forward(values)
            values = activation.output
    softmax = Activation_Softmax()
    softmax.forward(values)
    loss = Loss_CategoricalCrossentropy().calculate(softmax.output, y)
    labels = y if y.ndim == 1 else np.argmax(y, axis=1)
    return loss, np.mean(np.argmax(softmax.output, axis=1) == labels)


@pytest.mark.parametrize("sizes", [(2, 3, 3), (2, 64, 3), (2, 8, 5, 3), (2, 3)])
@pytest.mark.parametrize("one_hot", [False, True])
def test_network_matches_the_seeds_classes(sizes, one_hot):
    X, y = nnfs_data("spiral", 100, 3)
    layout = Layout(sizes)
    rng = np.random.default_rng(sum(sizes))
    for scale in (0.01, 1.0, 10.0):
        params = scale * rng.standard_normal(layout.num_params)
        labels = np.eye(3)[y] if one_hot else y
        seed_loss, seed_accuracy = _seed_network_figures(layout.unpack(params), X.astype(np.float64), labels)
        loss, accuracy = evaluate(params, X, labels, layout)
        assert abs(loss - seed_loss) <= 1e-6
        assert accuracy == seed_accuracy
        np.testing.assert_array_equal(sparse_labels(labels), y)


def test_kernel_loss_matches_the_seeds_classes():
    X, y = nnfs_data("spiral", 100, 3)
    for sizes in [(2, 3, 3), (2, 64, 3), (2, 8, 5, 3)]:
        layout = Layout(sizes)
        rng = np.random.default_rng(len(sizes))
        for scale in (0.01, 1.0, 30.0):
            params = scale * rng.standard_normal(layout.num_params)
            seed_loss, _ = _seed_network_figures(layout.unpack(params), X.astype(np.float64), y)
            loss, _ = evaluate_compiled(params, X, y, layout)
            assert abs(loss - seed_loss) <= 1e-6 * max(1.0, seed_loss)


SEEDS = range(4)


def test_random_search_on_vertical_does_not_learn():
    """The seed: 10,000 random draws reach loss 1.0964, accuracy 0.333."""
    X, y = nnfs_data("vertical", 100, 3)
    outcomes = [
        climb(None, seed, X, y, Layout((2, 3, 3)), ClimbSettings(steps=10_000, strategy="random")) for seed in SEEDS
    ]
    assert all(1.09 <= outcome.loss <= 1.0986 for outcome in outcomes)  # log(3) = 1.0986: barely below chance
    assert np.median([outcome.score for outcome in outcomes]) <= 0.34


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_adjust_and_revert_learns_vertical(engine):
    """The seed: 10,000 adjust-and-revert steps at 0.05 reach loss 0.1728, accuracy 0.93."""
    X, y = nnfs_data("vertical", 100, 3)
    settings = ClimbSettings(steps=10_000, strategy="adjust", step_size=0.05, engine=engine, **SEED_RULE)
    for seed in SEEDS:
        outcome = climb(None, seed, X, y, Layout((2, 3, 3)), settings)
        assert outcome.loss <= 0.19
        assert outcome.score >= 0.92


def test_adjust_and_revert_is_stuck_on_spiral():
    """The seed: on spiral data the same climb stalls near loss 1.08, accuracy 0.39."""
    X, y = nnfs_data("spiral", 100, 3)
    for seed in SEEDS:
        outcome = climb(
            None, seed, X, y, Layout((2, 3, 3)), ClimbSettings(steps=10_000, strategy="adjust", **SEED_RULE)
        )
        assert 1.03 <= outcome.loss <= 1.09
        assert outcome.score <= 0.5
