"""A policy network: observations in, actions out, as plain numpy functions of the flat parameters.

The network is the chapter's (dense layers, ReLU between them) with the softmax replaced by the
action: the arg-max output for a discrete action space (the first of equal outputs), tanh of each
output scaled to a box's bounds for a continuous one. No BLAS: each layer is an element-wise
product summed over its inputs, so a row's action is the same bits whether it is computed alone
or beside others, in a batch of any size (a rollout steps many episodes together; `predict`
answers one observation).

`PolicySpec` says how observations become inputs and outputs become actions; it is saved with a
result, so a reloaded policy acts without gymnasium.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from workers.network import Layout


class PolicySpec(BaseModel):
    """How a network's inputs and outputs meet an environment's observation and action spaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    observation: Literal["box", "discrete"]  # a box of numbers (flattened), or one of n states (one-hot)
    observation_size: int  # the network's inputs
    observation_start: int = 0  # a discrete observation's first state
    action: Literal["discrete", "box"]  # one of n actions (arg-max), or a box of numbers (tanh, scaled)
    action_size: int  # the network's outputs
    action_start: int = 0  # a discrete action's first number
    action_shape: list[int] | None = None  # a box action's shape
    low: list[float] | None = None  # a box action's bounds, flattened (an infinite bound: the output as it is)
    high: list[float] | None = None

    def inputs(self, observations) -> np.ndarray:
        """(M, observation_size) float64 network inputs for M observations."""
        if self.observation == "discrete":
            states = np.asarray(observations, dtype=np.int64).reshape(-1) - self.observation_start
            if np.any((states < 0) | (states >= self.observation_size)):
                raise ValueError(f"observations: states must lie in [0, {self.observation_size}) after the start")
            one_hot = np.zeros((states.size, self.observation_size))
            one_hot[np.arange(states.size), states] = 1.0
            return one_hot
        values = np.asarray(observations, dtype=np.float64)
        if values.ndim == 1 and self.observation_size != 1 and values.size == self.observation_size:
            values = values[None, :]  # one observation
        rows = values.reshape(values.shape[0] if values.ndim else 1, -1)
        if rows.shape[1] != self.observation_size:
            raise ValueError(
                f"observations: expected {self.observation_size} numbers each, got shape {np.shape(observations)}"
            )
        return rows

    def actions(self, outputs: np.ndarray) -> np.ndarray:
        """Actions for network outputs (M, action_size): (M,) int64 for discrete, (M, *action_shape) for a box."""
        if self.action == "discrete":
            return np.argmax(outputs, axis=1).astype(np.int64) + self.action_start
        low, high = np.asarray(self.low), np.asarray(self.high)
        bounded = np.isfinite(low) & np.isfinite(high)
        scaled = np.where(bounded, low + (np.tanh(outputs) + 1.0) * 0.5 * np.where(bounded, high - low, 0.0), outputs)
        return scaled.reshape(outputs.shape[0], *(self.action_shape or [self.action_size]))

    def layers(self, hidden: tuple[int, ...]) -> tuple[int, ...]:
        """The network's layer sizes: observations, the hidden layers, actions."""
        return (self.observation_size, *hidden, self.action_size)


def outputs(params: np.ndarray, inputs: np.ndarray, layout: Layout) -> np.ndarray:
    """Network outputs (M, action_size) for inputs (M, F); params (P,) for one network or (M, P), one per row."""
    params = np.asarray(params, dtype=np.float64)
    values = np.asarray(inputs, dtype=np.float64)
    layers = layout.unpack(params)
    for index, (weights, biases) in enumerate(layers):
        # (M, n_in, 1) * (M or 1, n_in, n_out), summed over n_in: a fixed order of additions for every row.
        values = np.sum(values[:, :, None] * weights, axis=1) + biases[..., 0, :]
        if index < len(layers) - 1:
            values = np.maximum(0.0, values)
    return values


def act(params: np.ndarray, observations, spec: PolicySpec, layout: Layout) -> np.ndarray:
    """The policy's actions for observations (one, or (M, ...) of them)."""
    return spec.actions(outputs(params, spec.inputs(observations), layout))


def space_spec(observation_space, action_space) -> PolicySpec:
    """The PolicySpec of gymnasium spaces; a ValueError in one line for a space a policy network cannot meet."""
    kind = type(observation_space).__name__
    if kind == "Box":
        observation = {"observation": "box", "observation_size": int(math.prod(observation_space.shape))}
    elif kind == "Discrete":
        observation = {
            "observation": "discrete",
            "observation_size": int(observation_space.n),
            "observation_start": int(observation_space.start),
        }
    else:
        raise ValueError(f"its observation space {observation_space} is not a Box or Discrete space")
    kind = type(action_space).__name__
    if kind == "Discrete":
        action = {"action": "discrete", "action_size": int(action_space.n), "action_start": int(action_space.start)}
    elif kind == "Box":
        action = {
            "action": "box",
            "action_size": int(math.prod(action_space.shape)),
            "action_shape": [int(size) for size in action_space.shape],
            "low": [float(value) for value in np.asarray(action_space.low, dtype=np.float64).reshape(-1)],
            "high": [float(value) for value in np.asarray(action_space.high, dtype=np.float64).reshape(-1)],
        }
    else:
        raise ValueError(f"its action space {action_space} is not a Box or Discrete space")
    return PolicySpec(**observation, **action)
