"""Throughput inside a worker: several candidates' episodes stepped together, against one episode at a time.

TIMED: run it with nothing else on the machine. For an environment and B candidate policies (bench/
objectives.py's: one hidden layer of 16 ReLU units, each a random network from the seed) times K
episodes each, the same episodes (seeds drawn as `workers.episodes` draws a round's), four ways:

- one_at_a_time: one environment, each candidate's episodes one after another, a network call a step;
- lock_step: what workers/episodes.py does today (`rollout_returns`): B * K environments made with
  gymnasium.make, stepped together, one network call a step for every live episode;
- sync_vector: gymnasium.vector.SyncVectorEnv over B * K environments (each reset with its seed, its
  finished episodes masked out until every one has finished);
- numpy_vector: gymnasium's own vectorised environment where it has one (CartPole-v1's
  CartPoleVectorEnv: the whole batch's dynamics in numpy arrays), each episode's start state drawn
  from its seed exactly as the single environment draws it.

Every way is checked against one_at_a_time before it is timed: `same_returns`, and where they differ
the largest difference (SyncVectorEnv hands rewards back as float32: Pendulum's sums differ by ~1e-5).
One JSON line per (environment, way, B): episodes a second, environment steps a second, the seconds
of the best of `--repeats` repeats.

    python bench/vector_episodes.py --envs CartPole-v1,Acrobot-v1,Pendulum-v1 --candidates 1,8,32,128 \
        --out bench/results/vector_episodes.jsonl
    python bench/vector_episodes.py --candidates 2 --episodes 2 --repeats 1 --out /tmp/check.jsonl   # a check
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import ONE_THREAD, RESULTS, environment_defaults

environment_defaults(ONE_THREAD)

import numpy as np  # noqa: E402

from workers.episodes import TRAINING, episode_seeds, make_env, rollout_returns  # noqa: E402
from workers.network import Layout, init_params  # noqa: E402
from workers.policy import act  # noqa: E402

ENVS = ("CartPole-v1", "Acrobot-v1", "Pendulum-v1")
HIDDEN = (16,)
WAYS = ("one_at_a_time", "lock_step", "sync_vector", "numpy_vector")
# Random policies balance or swing for a few dozen steps only: candidates this far from the start act with purpose.
SPREAD = 0.5


def candidates(layout: Layout, count: int, seed: int) -> np.ndarray:
    """(count, P) policies: the project's start plus SPREAD * noise, from a Generator of the seed's own."""
    rng = np.random.default_rng(seed)
    return np.stack([init_params(layout, rng) + SPREAD * rng.standard_normal(layout.num_params) for _ in range(count)])


def _actions(actions: np.ndarray, spec, env) -> list:
    return actions.tolist() if spec.action == "discrete" else list(actions.astype(env.action_space.dtype))


def one_at_a_time(env_id, spec, layout, params, seeds) -> tuple[np.ndarray, int]:
    """Returns (B, K) and environment steps: one environment, one episode after another."""
    env = make_env(env_id)
    returns = np.zeros((params.shape[0], len(seeds)))
    steps = 0
    for row, network in enumerate(params):
        for column, seed in enumerate(seeds):
            observation, _ = env.reset(seed=int(seed))
            done = False
            while not done:
                action = _actions(act(network, observation, spec, layout), spec, env)[0]
                observation, reward, terminated, truncated, _ = env.step(action)
                returns[row, column] += float(reward)
                steps += 1
                done = terminated or truncated
    return returns, steps


def lock_step(env_id, spec, layout, params, seeds) -> tuple[np.ndarray, int]:
    """Returns (B, K): today's `rollout_returns` on B * K environments (steps: not counted here, -1)."""
    envs = [make_env(env_id) for _ in range(params.shape[0] * len(seeds))]
    return rollout_returns(envs, params, seeds, spec, layout), -1


def sync_vector(env_id, spec, layout, params, seeds) -> tuple[np.ndarray, int]:
    """Returns (B, K): gymnasium's SyncVectorEnv, finished episodes masked until all have finished."""
    import gymnasium

    count = params.shape[0] * len(seeds)
    vector = gymnasium.vector.SyncVectorEnv([lambda: make_env(env_id) for _ in range(count)])
    observations, _ = vector.reset(seed=[int(seeds[m % len(seeds)]) for m in range(count)])
    return _masked_episodes(vector, observations, spec, layout, params, seeds)


def numpy_vector(env_id, spec, layout, params, seeds) -> tuple[np.ndarray, int]:
    """Returns (B, K): gymnasium's numpy-vectorised environment, each start drawn from its episode's seed."""
    import gymnasium
    from gymnasium.utils import seeding

    entry = gymnasium.spec(env_id).vector_entry_point
    if entry is None:
        raise NotImplementedError(f"gymnasium has no vectorised {env_id}")
    count = params.shape[0] * len(seeds)
    vector = gymnasium.make_vec(env_id, num_envs=count, vectorization_mode="vector_entry_point")
    base = vector.unwrapped
    base.reset(seed=0)
    # The single environment's reset: np_random(seed).uniform(-0.05, 0.05, size=(4,)) (CartPoleEnv.reset).
    starts = [seeding.np_random(int(seeds[m % len(seeds)]))[0].uniform(-0.05, 0.05, size=(4,)) for m in range(count)]
    base.state = np.stack(starts, axis=1)  # (4, count)
    observations = base.state.T.astype(np.float32)
    return _masked_episodes(vector, observations, spec, layout, params, seeds)


def _masked_episodes(vector, observations, spec, layout, params, seeds) -> tuple[np.ndarray, int]:
    """Returns (B, K) and environment steps: a vector environment of B * K episodes stepped until every one has
    finished, each finished episode's later rewards masked out (a vector environment resets it by itself)."""
    count = params.shape[0] * len(seeds)
    owners = np.repeat(np.arange(params.shape[0]), len(seeds))  # (B * K,) the candidate of each episode
    returns, alive, steps = np.zeros(count), np.ones(count, dtype=bool), 0
    while alive.any():
        actions = act(params[owners], observations, spec, layout)
        observations, rewards, terminated, truncated, _ = vector.step(np.asarray(actions))
        returns += np.where(alive, rewards, 0.0)
        steps += int(alive.sum())
        alive &= ~(terminated | truncated)
    vector.close()
    return returns.reshape(params.shape[0], len(seeds)), steps


FUNCTIONS = {"one_at_a_time": one_at_a_time, "lock_step": lock_step, "sync_vector": sync_vector,
             "numpy_vector": numpy_vector}  # fmt: skip


def measure(env_id: str, count: int, episodes: int, repeats: int, ways: list[str]) -> list[dict]:
    """The rows of one environment and batch size: every way checked against one_at_a_time, then timed."""
    from coordinator.data.environments import env_spec

    spec = env_spec(env_id)
    layout = Layout(spec.layers(HIDDEN))
    params = candidates(layout, count, 0)
    seeds = episode_seeds(12345, episodes, TRAINING)
    reference, steps = one_at_a_time(env_id, spec, layout, params, seeds)
    rows = []
    for way in ways:
        try:
            returns, _ = FUNCTIONS[way](env_id, spec, layout, params, seeds)
        except NotImplementedError as error:
            print(f"{env_id} {way}: {error}", flush=True)
            continue
        same = bool(np.array_equal(returns, reference))
        row = {"env": env_id, "way": way, "candidates": count, "episodes": episodes, "env_steps": steps,
               "same_returns": same, "mean_return": float(reference.mean())}  # fmt: skip
        if not same:
            row["largest_difference"] = float(np.max(np.abs(returns - reference)))
        best = min(_timed(FUNCTIONS[way], env_id, spec, layout, params, seeds) for _ in range(repeats))
        row.update(seconds=best, episodes_per_second=count * episodes / best, steps_per_second=steps / best)
        row["load"] = os.getloadavg()
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _timed(function, *arguments) -> float:
    began = time.perf_counter()
    function(*arguments)
    return time.perf_counter() - began


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--ways", default=",".join(WAYS))
    parser.add_argument("--candidates", default="1,8,32,128", help="policies a batch")
    parser.add_argument("--episodes", type=int, default=5, help="episodes a policy (bench/objectives.py's 5)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default=str(RESULTS / "vector_episodes.jsonl"))
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for env_id in args.envs.split(","):
        for count in (int(value) for value in args.candidates.split(",")):
            for row in measure(env_id, count, args.episodes, args.repeats, args.ways.split(",")):
                with out.open("a") as stream:
                    stream.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
