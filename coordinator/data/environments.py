"""Gymnasium environments as a run's objective: checking a name, the policy's spaces, scoring unseen episodes.

Gymnasium is an optional extra (pip install 'hillclimb[rl]'): it is imported here only when a run
names an environment, and a missing one, or a name gymnasium does not know, is one line before
anything starts. A saved policy acts without gymnasium (`SearchResult.predict`); rolling out
episodes (`evaluate`) needs it again.
"""

from __future__ import annotations

import difflib
import importlib
import math
from dataclasses import dataclass

import numpy as np

from coordinator.config import ConfigError
from workers.episodes import EVALUATION, EpisodeObjective
from workers.objective import Objective
from workers.policy import PolicySpec, space_spec

INSTALL = "pip install 'hillclimb[rl]'"
EXAMPLES = ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "Pendulum-v1", "MountainCarContinuous-v0")
# An environment a package registers when imported (gymnasium 1.x loads no plugins of itself), named as gymnasium.make
# takes it: the package, a colon, the environment.
PLUGIN_EXAMPLE = "ale_py:ALE/Pong-v5"
EVALUATION_EPISODES = 100  # what `evaluate` rolls out unless told otherwise (gymnasium's CartPole is solved on 100)


def _gymnasium():
    try:
        import gymnasium
    except ImportError:
        raise ConfigError(f"env: needs gymnasium, which is not installed ({INSTALL})") from None
    return gymnasium


def registered_name(env_id: str) -> str:
    """The name gymnasium registers an environment under: "ALE/Pong-v5" of "ale_py:ALE/Pong-v5", whose package is
    imported first (gymnasium's own form of a name: a package that registers environments when imported)."""
    gymnasium = _gymnasium()
    if ":" not in env_id:
        return env_id
    if env_id.count(":") > 1:
        raise ConfigError(f"env: {env_id!r} has more than one ':'; give PACKAGE:NAME, such as {PLUGIN_EXAMPLE}")
    package, name = env_id.split(":")
    try:
        importlib.import_module(package)
    except Exception as error:  # not installed, or failing on import: either way it registers nothing
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"env: {env_id}: cannot import {package}, which should register {name} ({first})") from None
    if name not in gymnasium.registry:
        raise ConfigError(f"env: {package} was imported but registers no environment {name!r}")
    return name


def env_spec(env_id: str) -> PolicySpec:
    """The policy spec of a gymnasium environment, or a ConfigError in one line (not installed, unknown, unfit)."""
    gymnasium = _gymnasium()
    name = registered_name(env_id)
    if name not in gymnasium.registry:
        close = difflib.get_close_matches(name, list(gymnasium.registry), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else f" (such as {', '.join(EXAMPLES[:4])})"
        raise ConfigError(
            f"env: {name!r} is not an environment gymnasium knows{hint}; one that a package registers is named with "
            f"its package, such as {PLUGIN_EXAMPLE}"
        )
    spec = gymnasium.spec(name)
    if spec.max_episode_steps is None:
        raise ConfigError(f"env: {env_id} has no time limit (max_episode_steps), so an episode might never end")
    try:
        env = gymnasium.make(env_id)  # with gymnasium's checker: a broken environment is told here
    except Exception as error:  # an extra gymnasium needs for it (box2d, mujoco), or a broken registration
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ConfigError(f"env: {env_id} cannot be made: {first}") from None
    try:
        return space_spec(env.observation_space, env.action_space)
    except ValueError as error:
        raise ConfigError(f"env: {env_id}: {error}") from None
    finally:
        env.close()


def episode_limit(env_id: str) -> int:
    """The most steps one episode of env_id takes (its registered time limit; env_spec has checked there is one)."""
    return int(_gymnasium().spec(registered_name(env_id)).max_episode_steps)


def check_layers(env_id: str, spec: PolicySpec, layers: tuple[int, ...]) -> None:
    """Refuse layer sizes that do not fit the environment's observations and actions."""
    if layers[0] != spec.observation_size:
        raise ConfigError(
            f"layers: {env_id}'s observations are {spec.observation_size} inputs ({inputs_of(spec)}), layers start "
            f"with {layers[0]}"
        )
    if layers[-1] != spec.action_size:
        raise ConfigError(f"layers: {env_id}'s actions take {outputs_of(spec)}, layers end with {layers[-1]}")


def inputs_of(spec: PolicySpec) -> str:
    """What a policy's inputs are: "Box(4,) of float32, its numbers" or "Discrete(16), one-hot"."""
    space = spec.observation_space or spec.observation
    return f"{space}, one-hot" if spec.observation in ("discrete", "multi_discrete") else f"{space}, its numbers"


def outputs_of(spec: PolicySpec) -> str:
    """What a policy's outputs are made into: "4 outputs, the largest the action (Discrete(4))"."""
    space = spec.action_space or spec.action
    made = {
        "discrete": "the largest the action",
        "multi_discrete": "each component's largest its choice",
        "multi_binary": "a bit set where an output is above 0",
        "box": "tanh of each scaled to the box",
    }[spec.action]
    return f"{spec.action_size} outputs, {made} ({space})"


def env_objective(env_id: str, episodes: int, spec: PolicySpec, layers: tuple[int, ...]) -> Objective:
    """Minus the mean return over `episodes` training episodes a round, as a seeded batch objective."""
    return Objective(EpisodeObjective(env_id, episodes, spec, layers), seeded=True, batch=True, name=env_id)


@dataclass(frozen=True)
class EpisodeEvaluation:
    """A policy's returns on episodes it never trained on."""

    env: str
    returns: np.ndarray  # (episodes,)
    seed: int  # the evaluation's seed: its episodes' seeds are drawn from it (all odd; training's are even)

    @property
    def mean(self) -> float:
        """The mean return."""
        return float(np.mean(self.returns))

    def report(self) -> str:
        """The figures in a few lines, for people."""
        returns = self.returns
        return (
            f"{self.env}: {len(returns)} episodes never seen in training (evaluation seed {self.seed})\n"
            f"mean return {self.mean:.2f} (std {float(np.std(returns)):.2f}), "
            f"min {float(np.min(returns)):.2f}, median {float(np.median(returns)):.2f}, "
            f"max {float(np.max(returns)):.2f}\n"
        )


def evaluate_policy(
    env_id: str, spec: PolicySpec, layers: tuple[int, ...], params: np.ndarray, episodes: int, seed: int
) -> EpisodeEvaluation:
    """Roll the policy out on `episodes` evaluation episodes (seeds drawn from seed, never a training episode's)."""
    _gymnasium()
    if not (isinstance(episodes, int) and episodes >= 1):
        raise ConfigError(f"episodes: must be a whole number of at least 1, got {episodes!r}")
    if not (isinstance(seed, int) and seed >= 0):
        raise ConfigError(f"seed: must be a whole number of at least 0, got {seed!r}")
    objective = EpisodeObjective(env_id, 1, spec, layers)
    returns = objective.returns(np.asarray(params, dtype=np.float64), episodes, seed, EVALUATION)
    if not np.all(np.isfinite(returns)):
        bad = int(np.count_nonzero(~np.isfinite(returns)))
        raise ConfigError(f"env: {bad} of {episodes} episodes of {env_id} returned a non-finite sum of rewards")
    return EpisodeEvaluation(env_id, returns, seed)


def returns_line(loss: float) -> str:
    """A round's best loss as the return it stands for (minus the loss)."""
    return "nan" if math.isnan(loss) else f"{-loss:.2f}"
