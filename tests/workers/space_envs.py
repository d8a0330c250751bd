"""Small gymnasium environments of the spaces gymnasium ships, registered when this module is imported.

As a package of environments does it (ale_py's ALE/...): a run names one as `tests.workers.space_envs:NAME`.
Each episode lasts EPISODE_STEPS steps; its observations are drawn from the episode's seed, and the
reward is the number of the action's entries that match the observation's first entries (so a policy
can learn something).
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

EPISODE_STEPS = 3
SPACES = {
    "Image-v0": (spaces.Box(0, 255, (210, 160, 3), np.uint8), spaces.Discrete(3)),
    "Grid-v0": (spaces.Box(-1.0, 1.0, (2, 3), np.float32), spaces.Box(-1.0, 1.0, (2, 2), np.float32)),
    "MultiDiscrete-v0": (spaces.MultiDiscrete([3, 2, 4], start=[1, 0, -2]), spaces.MultiDiscrete([2, 3], start=[0, 5])),
    "MultiBinary-v0": (spaces.MultiBinary(4), spaces.MultiBinary([2, 2])),
    "WholeBox-v0": (spaces.Discrete(5, start=2), spaces.Box(-3, 3, (2,), np.int64)),
    "Tuple-v0": (spaces.Tuple((spaces.Discrete(3), spaces.Discrete(2))), spaces.Discrete(2)),
    "Dict-v0": (spaces.Box(-1.0, 1.0, (2,), np.float32), spaces.Dict({"move": spaces.Discrete(2)})),
}


class SpaceEnv(gymnasium.Env):
    """An environment of the given spaces: observations drawn from its seed, rewards for matching them."""

    def __init__(self, name: str):
        self.observation_space, self.action_space = SPACES[name]
        self._observation = None

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.observation_space.seed(int(self.np_random.integers(2**31)))
        self._observation = self.observation_space.sample()
        return self._observation, {}

    def step(self, action):
        assert self.action_space.contains(action), (action, self.action_space)
        wanted = np.ravel(np.asarray(self._observation, dtype=np.float64))
        given = np.ravel(np.asarray(action, dtype=np.float64))
        size = min(wanted.size, given.size)
        reward = float(np.sum(np.sign(wanted[:size]) == np.sign(given[:size])))
        self._observation = self.observation_space.sample()
        return self._observation, reward, False, False, {}


for _name in SPACES:
    gymnasium.register(
        f"SpaceTest/{_name}", entry_point=SpaceEnv, kwargs={"name": _name}, max_episode_steps=EPISODE_STEPS
    )
