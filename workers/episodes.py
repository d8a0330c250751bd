"""Episodes of a gymnasium environment: a policy's returns, and minus their mean as an objective.

Gymnasium is an optional extra (pip install 'hillclimb[rl]'): it is imported when an environment is
made, never when this module is. Every episode starts from `env.reset(seed=...)` with a seed of its
own, so an episode is a function of its seed and the policy: the environments are stepped together
(many episodes, one network call per step) but each one's trajectory is its own.

Episode seeds are drawn from a seed (the round's, or an evaluation's) and kept apart by parity:
training episodes have even seeds, evaluation episodes odd ones, so `evaluate` never replays an
episode a search trained on.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from workers.network import Layout
from workers.policy import PolicySpec, outputs

# Which seeds an episode may have: even ones for training, odd ones for evaluation.
TRAINING, EVALUATION = 0, 1


def episode_seeds(seed: int, count: int, parity: int) -> list[int]:
    """`count` episode seeds drawn from `seed`, each below 2**63, all of the given parity (TRAINING or EVALUATION)."""
    words = np.random.SeedSequence(seed).generate_state(count, dtype=np.uint64)
    return [int(word >> np.uint64(2)) * 2 + parity for word in words]


def make_env(env_id: str):
    """One environment (gymnasium's own wrappers, its time limit included; no checker, it was checked before)."""
    import gymnasium

    return gymnasium.make(env_id, disable_env_checker=True)


def _as_actions(actions: np.ndarray, spec: PolicySpec, env) -> list:
    """What env.step takes, one per row: Python ints for a discrete space, arrays of the space's type otherwise."""
    if spec.action == "discrete":
        return actions.tolist()
    return list(actions.astype(env.action_space.dtype))


def _input_row(observation, spec: PolicySpec) -> np.ndarray:
    """One observation as the network's inputs (F,): numbers flattened in C order, or states one-hot."""
    if spec.observation == "box":
        return np.ravel(observation)  # as spec.inputs flattens it, without its checks (a rollout's inner loop)
    return spec.inputs(observation)[0]


def rollout_returns(
    envs: Sequence, params: np.ndarray, seeds: Sequence[int], spec: PolicySpec, layout: Layout
) -> np.ndarray:
    """Returns (B, K): each of B networks (params (B, P)) for an episode of each of K seeds, on B * K envs."""
    params = np.atleast_2d(np.asarray(params, dtype=np.float64))
    networks, episodes = params.shape[0], len(seeds)
    count = networks * episodes
    if len(envs) < count:
        raise ValueError(f"needs {count} environments, got {len(envs)}")
    owners = np.repeat(np.arange(networks), episodes)  # env m runs network m // K on episode m % K
    inputs = np.zeros((count, spec.observation_size))  # each live episode's last observation, as network inputs
    for m in range(count):
        observation, _ = envs[m].reset(seed=int(seeds[m % episodes]))
        inputs[m] = spec.inputs(observation)[0]  # checked once: the environment's observations fit the spec
    returns = np.zeros(count)
    alive = np.arange(count)
    while alive.size:
        # One network call for every live episode, then each environment's step.
        # The inputs are the network's already (one-hot states included): outputs, then actions, never inputs again.
        actions = _as_actions(spec.actions(outputs(params[owners[alive]], inputs[alive], layout)), spec, envs[0])
        still = []
        for m, action in zip(alive.tolist(), actions, strict=True):
            observation, reward, terminated, truncated, _ = envs[m].step(action)
            returns[m] += float(reward)
            if not (terminated or truncated):
                inputs[m] = _input_row(observation, spec)
                still.append(m)
        alive = np.asarray(still, dtype=np.int64)
    return returns.reshape(networks, episodes)


class EpisodeObjective:
    """Minus a policy's mean return over `episodes` episodes of an environment, their seeds drawn from the round's.

    A batch, seeded objective: (B, P) networks and the round's seed in, (B,) losses out. It makes its
    environments on first use, in the process that uses it (they never travel: pickling drops them).
    """

    def __init__(self, env_id: str, episodes: int, spec: PolicySpec, sizes: tuple[int, ...]):
        self.env_id = env_id
        self.episodes = episodes
        self.spec = spec
        self.layout = Layout(tuple(sizes))
        self._envs: list = []

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_envs"] = []
        return state

    def _envs_for(self, count: int) -> list:
        while len(self._envs) < count:
            self._envs.append(make_env(self.env_id))
        return self._envs

    def warm_up(self) -> None:
        """Make the environments of one network's episodes."""
        self._envs_for(self.episodes)

    def __call__(self, params: np.ndarray, seed: int) -> np.ndarray:
        """(B,) minus the mean return of each network in params (B, P) over this seed's training episodes."""
        params = np.atleast_2d(params)
        seeds = episode_seeds(seed, self.episodes, TRAINING)
        envs = self._envs_for(params.shape[0] * self.episodes)
        return -rollout_returns(envs, params, seeds, self.spec, self.layout).mean(axis=1)

    def returns(self, params: np.ndarray, episodes: int, seed: int, parity: int = EVALUATION) -> np.ndarray:
        """(episodes,) returns of one network on episodes drawn from seed (by default evaluation episodes)."""
        seeds = episode_seeds(seed, episodes, parity)
        return rollout_returns(self._envs_for(episodes), np.asarray(params)[None, :], seeds, self.spec, self.layout)[0]
