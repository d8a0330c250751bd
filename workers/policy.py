"""A policy network: observations in, actions out, as plain numpy functions of the flat parameters.

The network is the chapter's (dense layers, ReLU between them) with the softmax replaced by the
action: the arg-max output for a discrete action space (the first of equal outputs), the arg-max of
each component's outputs for a multi-discrete one, an output above zero for each bit of a
multi-binary one, and tanh of each output scaled to a box's bounds for a continuous one. No BLAS:
each layer is an element-wise product summed over its inputs, so a row's action is the same bits
whether it is computed alone or beside others, in a batch of any size (a rollout steps many episodes
together; `predict` answers one observation).

Observations become inputs as numbers (a box of any shape, or a multi-binary space's bits,
flattened in C order) or one-hot (a discrete space's state; each component of a multi-discrete
space's). Any other space (Tuple, Dict, Text, ...) is refused by `space_spec`, in one line naming it.

`PolicySpec` says how observations become inputs and outputs become actions; it is saved with a
result, so a reloaded policy acts without gymnasium.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from workers.network import Layout

# The spaces a policy network meets, by gymnasium's class names: what each observation space becomes as inputs,
# and what each action space is made from outputs.
OBSERVATION_SPACES = {"Box": "box", "Discrete": "discrete", "MultiDiscrete": "multi_discrete", "MultiBinary": "box"}
ACTION_SPACES = {"Box": "box", "Discrete": "discrete", "MultiDiscrete": "multi_discrete", "MultiBinary": "multi_binary"}
SPACES_READ = "Box, Discrete, MultiDiscrete or MultiBinary"


class PolicySpec(BaseModel):
    """How a network's inputs and outputs meet an environment's observation and action spaces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Observations: numbers (a box, a multi-binary space; flattened), one of n states (one-hot), or a state
    # for each component of a multi-discrete space (one-hot each, side by side).
    observation: Literal["box", "discrete", "multi_discrete"]
    observation_size: int  # the network's inputs
    observation_start: int = 0  # a discrete observation's first state
    observation_shape: list[int] | None = None  # one observation's shape (None: flat, as older files say)
    observation_values: list[int] | None = None  # a multi-discrete observation's states per component, flattened
    observation_starts: list[int] | None = None  # a multi-discrete observation's first state per component
    # Actions: one of n (arg-max), one of each component's (arg-max of its outputs), bits (an output above 0),
    # or a box of numbers (tanh, scaled).
    action: Literal["discrete", "box", "multi_discrete", "multi_binary"]
    action_size: int  # the network's outputs
    action_start: int = 0  # a discrete action's first number
    action_shape: list[int] | None = None  # a box, multi-discrete or multi-binary action's shape
    action_values: list[int] | None = None  # a multi-discrete action's choices per component, flattened
    action_starts: list[int] | None = None  # a multi-discrete action's first number per component
    low: list[float] | None = None  # a box action's bounds, flattened (an infinite bound: the output as it is)
    high: list[float] | None = None
    whole_actions: bool = False  # a box of whole numbers: scaled outputs are rounded
    observation_space: str | None = None  # the spaces as a person reads them: "Discrete(16)", "Box(4,) of float32"
    action_space: str | None = None

    @property
    def observation_length(self) -> int:
        """The numbers one observation is written as (a row of a file): a box's, a state (1), a state per component."""
        if self.observation == "discrete":
            return 1
        if self.observation == "multi_discrete":
            return len(self.observation_values or ())
        return self.observation_size

    def inputs(self, observations) -> np.ndarray:
        """(M, observation_size) float64 network inputs for one observation or M of them."""
        if self.observation == "discrete":
            states = _whole_numbers(observations).reshape(-1) - self.observation_start
            if np.any((states < 0) | (states >= self.observation_size)):
                raise ValueError(f"observations: states must lie in [0, {self.observation_size}) after the start")
            one_hot = np.zeros((states.size, self.observation_size))
            one_hot[np.arange(states.size), states] = 1.0
            return one_hot
        if self.observation == "multi_discrete":
            return self._one_hot_components(observations)
        return _rows(np.asarray(observations, dtype=np.float64), self._observation_shape(), "numbers")

    def _observation_shape(self) -> tuple[int, ...]:
        """One observation's shape: as recorded, or flat."""
        if self.observation_shape is not None:
            return tuple(self.observation_shape)
        return (self.observation_length,)

    def _one_hot_components(self, observations) -> np.ndarray:
        """Each component's state one-hot, the components' side by side: (M, sum of the states per component)."""
        values = np.asarray(self.observation_values, dtype=np.int64)
        states = _rows(_whole_numbers(observations), self._observation_shape(), "states")
        states = states - np.asarray(self.observation_starts, dtype=np.int64)
        outside = np.argwhere((states < 0) | (states >= values))
        if outside.size:
            row, component = (int(index) for index in outside[0])
            first = int(self.observation_starts[component])
            raise ValueError(
                f"observations: component {component}'s state must lie in [{first}, {first + int(values[component])}), "
                f"got {int(states[row, component]) + first}"
            )
        offsets = np.concatenate([[0], np.cumsum(values)[:-1]])
        one_hot = np.zeros((states.shape[0], self.observation_size))
        rows = np.repeat(np.arange(states.shape[0]), states.shape[1])
        one_hot[rows, (offsets + states).reshape(-1)] = 1.0
        return one_hot

    def actions(self, outputs: np.ndarray) -> np.ndarray:
        """Actions for network outputs (M, action_size): (M,) int64 for discrete, (M, *action_shape) otherwise."""
        count = outputs.shape[0]
        shape = self.action_shape or [self.action_size]
        if self.action == "discrete":
            return np.argmax(outputs, axis=1).astype(np.int64) + self.action_start
        if self.action == "multi_discrete":
            values = self.action_values or []
            edges = np.concatenate([[0], np.cumsum(values)]).tolist()
            chosen = [np.argmax(outputs[:, edges[j] : edges[j + 1]], axis=1) for j in range(len(values))]
            choices = np.stack(chosen, axis=1).astype(np.int64) + np.asarray(self.action_starts, dtype=np.int64)
            return choices.reshape(count, *shape)
        if self.action == "multi_binary":
            return (outputs > 0).astype(np.int8).reshape(count, *shape)
        low, high = np.asarray(self.low), np.asarray(self.high)
        bounded = np.isfinite(low) & np.isfinite(high)
        scaled = np.where(bounded, low + (np.tanh(outputs) + 1.0) * 0.5 * np.where(bounded, high - low, 0.0), outputs)
        if self.whole_actions:
            scaled = np.clip(np.rint(scaled), low, high)
        return scaled.reshape(count, *shape)

    def layers(self, hidden: tuple[int, ...]) -> tuple[int, ...]:
        """The network's layer sizes: observations, the hidden layers, actions."""
        return (self.observation_size, *hidden, self.action_size)


def _whole_numbers(observations) -> np.ndarray:
    """Observations that are states, as int64; a ValueError for a number that is not whole."""
    values = np.asarray(observations)
    if values.dtype.kind in "iub":
        return values.astype(np.int64)
    numbers = values.astype(np.float64)
    if not np.all(np.isfinite(numbers) & (numbers == np.round(numbers))):
        raise ValueError("observations: states must be whole numbers")
    return numbers.astype(np.int64)


def _rows(values: np.ndarray, shape: tuple[int, ...], what: str) -> np.ndarray:
    """(M, size) rows of one observation of `shape` or M of them (each of `shape`, or flat as a file's rows)."""
    size = math.prod(shape)
    if values.shape == shape:
        return values.reshape(1, size)  # one observation
    if values.ndim >= 1 and values.shape[1:] == shape:
        return values.reshape(values.shape[0], size)
    if values.ndim == 2 and values.shape[1] == size:
        return values  # flat rows, as a file holds them
    if values.ndim <= 1 and size == 1:
        return values.reshape(-1, 1)  # single numbers, one an observation
    shaped = f" (shape {shape})" if len(shape) > 1 else ""
    raise ValueError(f"observations: expected {size} {what} each{shaped}, got shape {values.shape}")


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


def space_name(space) -> str:
    """A gymnasium space as a person reads it, short: "Discrete(16)", "Box(210, 160, 3) of uint8", "Tuple(...)"."""
    if type(space).__name__ == "Box":
        return f"Box{tuple(int(size) for size in space.shape)} of {space.dtype}"
    text = str(space)
    return text if len(text) <= 80 else text[:77] + "..."


def space_spec(observation_space, action_space) -> PolicySpec:
    """The PolicySpec of gymnasium spaces; a ValueError in one line naming a space a policy network cannot meet."""
    kind = type(observation_space).__name__
    if kind not in OBSERVATION_SPACES:
        raise ValueError(
            f"its observation space {space_name(observation_space)} is a {kind} space; a policy network reads "
            f"{SPACES_READ} observations"
        )
    if kind == "Discrete":
        observation = {
            "observation": "discrete",
            "observation_size": int(observation_space.n),
            "observation_start": int(observation_space.start),
        }
    elif kind == "MultiDiscrete":
        values = [int(count) for count in np.asarray(observation_space.nvec).reshape(-1)]
        observation = {
            "observation": "multi_discrete",
            "observation_size": sum(values),
            "observation_shape": [int(size) for size in observation_space.shape],
            "observation_values": values,
            "observation_starts": [int(start) for start in np.asarray(observation_space.start).reshape(-1)],
        }
    else:  # a Box or a MultiBinary space: numbers, flattened
        observation = {
            "observation": "box",
            "observation_size": int(math.prod(observation_space.shape)),
            "observation_shape": [int(size) for size in observation_space.shape],
        }
    kind = type(action_space).__name__
    if kind not in ACTION_SPACES:
        raise ValueError(
            f"its action space {space_name(action_space)} is a {kind} space; a policy network acts in "
            f"{SPACES_READ} spaces"
        )
    shape = [int(size) for size in getattr(action_space, "shape", None) or ()]
    if kind == "Discrete":
        action = {"action": "discrete", "action_size": int(action_space.n), "action_start": int(action_space.start)}
    elif kind == "MultiDiscrete":
        values = [int(count) for count in np.asarray(action_space.nvec).reshape(-1)]
        action = {
            "action": "multi_discrete",
            "action_size": sum(values),
            "action_shape": shape,
            "action_values": values,
            "action_starts": [int(start) for start in np.asarray(action_space.start).reshape(-1)],
        }
    elif kind == "MultiBinary":
        action = {"action": "multi_binary", "action_size": int(math.prod(shape)), "action_shape": shape}
    else:
        action = {
            "action": "box",
            "action_size": int(math.prod(shape)),
            "action_shape": shape,
            "low": [float(value) for value in np.asarray(action_space.low, dtype=np.float64).reshape(-1)],
            "high": [float(value) for value in np.asarray(action_space.high, dtype=np.float64).reshape(-1)],
            "whole_actions": np.dtype(action_space.dtype).kind in "iu",
        }
    names = {"observation_space": space_name(observation_space), "action_space": space_name(action_space)}
    return PolicySpec(**observation, **action, **names)
