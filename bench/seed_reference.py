"""The seed's own code, copied from the chapter: the reference for parity tests and benchmarks.

Run as a script (in a process of its own: `nnfs.init()` patches numpy for the whole process) it
prints the seed's three experiments' final loss and accuracy, and its data sets, as JSON.
"""

from __future__ import annotations

import numpy as np


class Layer_Dense:  # noqa: N801 - the seed's names
    """The seed's dense layer."""

    def __init__(self, n_inputs, n_neurons, randn=None):
        self.weights = 0.01 * (randn or np.random.randn)(n_inputs, n_neurons)
        self.biases = np.zeros((1, n_neurons))

    def forward(self, inputs):
        """Outputs of the layer."""
        self.output = np.dot(inputs, self.weights) + self.biases


class Activation_ReLU:  # noqa: N801
    """The seed's ReLU."""

    def forward(self, inputs):
        """max(0, x)."""
        self.output = np.maximum(0, inputs)


class Activation_Softmax:  # noqa: N801
    """The seed's softmax."""

    def forward(self, inputs):
        """Normalised exponentials, max subtracted first."""
        exp_values = np.exp(inputs - np.max(inputs, axis=1, keepdims=True))
        self.output = exp_values / np.sum(exp_values, axis=1, keepdims=True)


class Loss:
    """The seed's loss base class."""

    def calculate(self, output, y):
        """Mean sample loss."""
        return np.mean(self.forward(output, y))


class Loss_CategoricalCrossentropy(Loss):  # noqa: N801
    """The seed's categorical cross-entropy."""

    def forward(self, y_pred, y_true):
        """Per-sample loss, clipped at 1e-7; sparse or one-hot labels."""
        samples = len(y_pred)
        y_pred_clipped = np.clip(y_pred, 1e-7, 1 - 1e-7)
        if len(y_true.shape) == 1:
            correct_confidences = y_pred_clipped[range(samples), y_true]
        elif len(y_true.shape) == 2:
            correct_confidences = np.sum(y_pred_clipped * y_true, axis=1)
        return -np.log(correct_confidences)


def seed_experiment(X, y, method, iterations=10000, hidden=3, randn=None):
    """The seed's loop: 'random' draws new weights each step, 'adjust' adds noise and reverts.

    As in the chapter, noise comes from the global np.random unless randn (a function like
    np.random.randn) is given; hidden=3 is the chapter's network, 2-3-3.
    """
    randn = randn or np.random.randn
    dense1 = Layer_Dense(2, hidden, randn)
    activation1 = Activation_ReLU()
    dense2 = Layer_Dense(hidden, 3, randn)
    activation2 = Activation_Softmax()
    loss_function = Loss_CategoricalCrossentropy()
    lowest_loss = 9999999
    best = [dense1.weights.copy(), dense1.biases.copy(), dense2.weights.copy(), dense2.biases.copy()]
    best_accuracy = 0.0
    for _iteration in range(iterations):
        if method == "random":
            dense1.weights = 0.05 * randn(2, hidden)
            dense1.biases = 0.05 * randn(1, hidden)
            dense2.weights = 0.05 * randn(hidden, 3)
            dense2.biases = 0.05 * randn(1, 3)
        else:
            dense1.weights += 0.05 * randn(2, hidden)
            dense1.biases += 0.05 * randn(1, hidden)
            dense2.weights += 0.05 * randn(hidden, 3)
            dense2.biases += 0.05 * randn(1, 3)
        dense1.forward(X)
        activation1.forward(dense1.output)
        dense2.forward(activation1.output)
        activation2.forward(dense2.output)
        loss = loss_function.calculate(activation2.output, y)
        predictions = np.argmax(activation2.output, axis=1)
        accuracy = np.mean(predictions == y)
        if loss < lowest_loss:
            best = [dense1.weights.copy(), dense1.biases.copy(), dense2.weights.copy(), dense2.biases.copy()]
            lowest_loss = loss
            best_accuracy = accuracy
        elif method == "adjust":
            dense1.weights, dense1.biases, dense2.weights, dense2.biases = (array.copy() for array in best)
    return float(lowest_loss), float(best_accuracy)


if __name__ == "__main__":
    import json
    import sys

    import nnfs
    from nnfs.datasets import spiral_data, vertical_data

    figures = {}
    for name, data, method in (
        ("vertical-random", vertical_data, "random"),
        ("vertical-adjust", vertical_data, "adjust"),
        ("spiral-adjust", spiral_data, "adjust"),
    ):
        nnfs.init()
        X, y = data(samples=100, classes=3)
        figures[name] = seed_experiment(X, y, method)
    data_sets = {}
    for name, data in (("vertical", vertical_data), ("spiral", spiral_data)):
        nnfs.init()
        X, y = data(samples=100, classes=3)
        data_sets[name] = {"X": X.tolist(), "y": y.tolist(), "dtype": str(X.dtype)}
    json.dump({"figures": figures, "data": data_sets}, sys.stdout)
