"""A policy network and its episodes: actions from outputs, seeded episodes, a row's action independent of its batch."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from workers import Layout
from workers.episodes import EVALUATION, TRAINING, EpisodeObjective, episode_seeds, make_env, rollout_returns
from workers.policy import PolicySpec, act, outputs, space_spec

gymnasium = pytest.importorskip("gymnasium")
import tests.workers.space_envs  # noqa: E402, F401  (registers SpaceTest/...: an environment of each space)

DISCRETE = PolicySpec(observation="box", observation_size=4, action="discrete", action_size=3, action_start=-1)
BOX = PolicySpec(
    observation="box", observation_size=3, action="box", action_size=2, action_shape=[2],
    low=[-2.0, 0.0], high=[2.0, np.inf],
)  # fmt: skip


@pytest.mark.parametrize("sizes", [(4, 16, 2), (3, 16, 1), (6, 64, 3), (3, 32, 32, 1)])
def test_a_rows_outputs_are_the_same_bits_alone_or_in_a_batch_of_any_size(sizes):
    layout = Layout(sizes)
    rng = np.random.default_rng(0)
    params = rng.standard_normal(layout.num_params)
    X = 3 * rng.standard_normal((97, sizes[0]))
    together = outputs(params, X, layout)
    assert all(outputs(params, X[row : row + 1], layout).tobytes() == together[row].tobytes() for row in range(97))
    assert outputs(params, X[10:40], layout).tobytes() == together[10:40].tobytes()
    assert outputs(np.tile(params, (97, 1)), X, layout).tobytes() == together.tobytes()  # a network per row
    np.testing.assert_allclose(together, _blas_forward(params, X, layout), rtol=1e-12, atol=1e-12)


def _blas_forward(params, X, layout):
    values = X
    for index, (weights, biases) in enumerate(layout.unpack(params)):
        values = values @ weights + biases
        values = np.maximum(0.0, values) if index < len(layout.sizes) - 2 else values
    return values


def test_discrete_actions_are_the_first_largest_output_plus_the_spaces_start():
    actions = DISCRETE.actions(np.array([[0.1, 0.5, 0.2], [3.0, 3.0, 1.0], [-1.0, -2.0, 0.0]]))
    assert actions.tolist() == [0, -1, 1]
    assert actions.dtype == np.int64


def test_box_actions_are_tanh_scaled_to_the_bounds_and_unbounded_ones_pass_as_they_are():
    out = np.array([[0.0, 0.7], [50.0, -3.0], [-50.0, 2.0]])
    actions = BOX.actions(out)
    assert actions.shape == (3, 2)
    np.testing.assert_allclose(actions[:, 0], [0.0, 2.0, -2.0])  # tanh(0) is the middle, saturation the bounds
    assert actions[:, 1].tolist() == [0.7, -3.0, 2.0]  # high is infinite: the output itself


def test_observations_one_or_many_and_one_hot_states():
    assert DISCRETE.inputs([1, 2, 3, 4]).shape == (1, 4)
    assert DISCRETE.inputs(np.ones((5, 4), dtype=np.float32)).dtype == np.float64
    with pytest.raises(ValueError, match="expected 4 numbers each"):
        DISCRETE.inputs(np.ones((2, 5)))
    states = PolicySpec(
        observation="discrete", observation_size=3, observation_start=1, action="discrete", action_size=2
    )
    assert states.inputs([1, 3]).tolist() == [[1, 0, 0], [0, 0, 1]]
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\)"):
        states.inputs([4])


def test_the_spaces_of_classic_control():
    cartpole = make_env("CartPole-v1")
    spec = space_spec(cartpole.observation_space, cartpole.action_space)
    assert (spec.observation_size, spec.action, spec.action_size) == (4, "discrete", 2)
    pendulum = make_env("Pendulum-v1")
    spec = space_spec(pendulum.observation_space, pendulum.action_space)
    assert (spec.observation_size, spec.action, spec.action_shape, spec.low, spec.high) == (
        3,
        "box",
        [1],
        [-2.0],
        [2.0],
    )
    frozen = make_env("FrozenLake-v1")
    assert space_spec(frozen.observation_space, frozen.action_space).observation == "discrete"
    with pytest.raises(ValueError, match=r"observation space Tuple\(Discrete\(2\)\) is a Tuple space; .* reads Box, "):
        space_spec(gymnasium.spaces.Tuple((cartpole.action_space,)), cartpole.action_space)


@pytest.mark.parametrize("name", ["Image-v0", "Grid-v0", "MultiDiscrete-v0", "MultiBinary-v0", "WholeBox-v0"])
def test_every_space_gymnasium_ships_gives_inputs_of_the_spec_and_actions_its_space_contains(name):
    env_id = f"SpaceTest/{name}"  # registered by tests/workers/space_envs.py; its step asserts the action fits
    env = make_env(env_id)
    spec = space_spec(env.observation_space, env.action_space)
    layout = Layout(spec.layers((3,)))
    networks = np.random.default_rng(4).standard_normal((2, layout.num_params))
    envs = [make_env(env_id) for _ in range(6)]
    returns = rollout_returns(envs, networks, episode_seeds(1, 3, TRAINING), spec, layout)
    assert returns.shape == (2, 3) and np.all(np.isfinite(returns))
    observations = [env.observation_space.sample() for _ in range(5)]
    inputs = spec.inputs(np.stack(observations))
    assert inputs.shape == (5, spec.observation_size)
    assert all(spec.inputs(one).tolist() == [row] for one, row in zip(observations, inputs.tolist(), strict=True))
    flat = np.stack([np.ravel(one) for one in observations]).astype(np.float64)
    assert spec.inputs(flat).tolist() == inputs.tolist()  # a file's rows: each observation flattened
    actions = act(networks[0], np.stack(observations), spec, layout)
    dtype = env.action_space.dtype
    assert len(actions) == 5 and all(env.action_space.contains(np.asarray(one, dtype=dtype)) for one in actions)


def test_an_image_is_its_pixels_flattened_in_c_order_one_or_many():
    env = make_env("SpaceTest/Image-v0")
    spec = space_spec(env.observation_space, env.action_space)
    assert (spec.observation, spec.observation_size, spec.observation_shape) == ("box", 100800, [210, 160, 3])
    image = env.observation_space.sample()
    assert spec.inputs(image).tolist() == [np.ravel(image).astype(np.float64).tolist()]
    shaped = r"expected 100800 numbers each \(shape \(210, 160, 3\)\), got shape \(210, 480\)"
    with pytest.raises(ValueError, match=shaped):
        spec.inputs(image.reshape(210, 480))


def test_a_multi_discrete_observation_is_each_components_state_one_hot_from_its_start():
    env = make_env("SpaceTest/MultiDiscrete-v0")  # observations MultiDiscrete([3, 2, 4], start=[1, 0, -2])
    spec = space_spec(env.observation_space, env.action_space)
    assert spec.observation_size == 9 and spec.observation_length == 3
    assert spec.inputs([1, 1, 1]).tolist() == [[1, 0, 0, 0, 1, 0, 0, 0, 1]]
    assert spec.inputs([[3, 0, -2]]).tolist() == [[0, 0, 1, 1, 0, 1, 0, 0, 0]]
    with pytest.raises(ValueError, match=r"component 2's state must lie in \[-2, 2\), got 2"):
        spec.inputs([1, 0, 2])
    # Actions: the arg-max of each component's outputs, from its start (MultiDiscrete([2, 3], start=[0, 5])).
    assert spec.actions(np.array([[0.0, 1.0, 5.0, 0.0, 0.0]])).tolist() == [[1, 5]]


def test_bits_are_outputs_above_zero_and_a_box_of_whole_numbers_is_rounded_into_its_bounds():
    bits = space_spec(gymnasium.spaces.MultiBinary(4), gymnasium.spaces.MultiBinary([2, 2]))
    assert bits.actions(np.array([[0.5, -0.1, 0.0, 2.0]])).tolist() == [[[1, 0], [0, 1]]]
    whole = space_spec(gymnasium.spaces.Discrete(5), gymnasium.spaces.Box(-3, 3, (2,), np.int64))
    assert whole.actions(np.array([[0.1, 50.0], [-50.0, -0.4]])).tolist() == [[0.0, 3.0], [-3.0, -1.0]]


def test_an_episode_of_states_feeds_the_network_its_one_hot_inputs():
    env = make_env("FrozenLake-v1")  # Discrete(16) observations: one-hot, never one-hot of one-hot
    spec = space_spec(env.observation_space, env.action_space)
    layout = Layout(spec.layers((4,)))
    networks = np.random.default_rng(0).standard_normal((3, layout.num_params))
    envs = [make_env("FrozenLake-v1") for _ in range(6)]
    returns = rollout_returns(envs, networks, episode_seeds(0, 2, TRAINING), spec, layout)
    assert returns.shape == (3, 2) and set(returns.ravel().tolist()) <= {0.0, 1.0}


def test_episode_seeds_repeat_and_training_and_evaluation_never_share_one():
    training = episode_seeds(12345, 50, TRAINING)
    assert training == episode_seeds(12345, 50, TRAINING)
    assert all(seed % 2 == 0 and 0 <= seed < 2**63 for seed in training)
    evaluation = episode_seeds(12345, 50, EVALUATION)
    assert all(seed % 2 == 1 for seed in evaluation)
    assert len(set(training)) == 50 and episode_seeds(12346, 50, TRAINING) != training


def _cartpole():
    env = make_env("CartPole-v1")
    spec = space_spec(env.observation_space, env.action_space)
    layout = Layout(spec.layers((8,)))
    return spec, layout, np.random.default_rng(1).standard_normal((3, layout.num_params))


def test_an_episode_is_a_function_of_its_seed_and_policy_however_many_run_beside_it():
    spec, layout, networks = _cartpole()
    seeds = episode_seeds(5, 4, TRAINING)
    together = rollout_returns([make_env("CartPole-v1") for _ in range(12)], networks, seeds, spec, layout)
    assert together.shape == (3, 4)
    for network in range(3):
        alone = rollout_returns([make_env("CartPole-v1") for _ in range(4)], networks[network], seeds, spec, layout)
        assert alone[0].tobytes() == together[network].tobytes()
    one = rollout_returns([make_env("CartPole-v1")], networks[1], seeds[2:3], spec, layout)
    assert one[0, 0] == together[1, 2]
    assert len(set(together.ravel().tolist())) > 1  # the episodes really differ


def test_the_episode_objective_is_minus_the_mean_return_and_travels_without_its_environments():
    spec, layout, networks = _cartpole()
    objective = EpisodeObjective("CartPole-v1", 3, spec, layout.sizes)
    losses = objective(networks, 99)
    returns = rollout_returns(
        [make_env("CartPole-v1") for _ in range(9)], networks, episode_seeds(99, 3, 0), spec, layout
    )
    assert losses.tolist() == (-returns.mean(axis=1)).tolist()
    copy = pickle.loads(pickle.dumps(objective))
    assert copy._envs == [] and len(objective._envs) == 9
    assert copy(networks, 99).tolist() == losses.tolist()
    policy_actions = act(networks[0], np.zeros((2, 4)), spec, layout)
    assert policy_actions.shape == (2,) and set(policy_actions.tolist()) <= {0, 1}


def test_continuous_actions_stay_in_the_box_in_an_episode():
    env = make_env("Pendulum-v1")
    spec = space_spec(env.observation_space, env.action_space)
    layout = Layout(spec.layers((8,)))
    params = 5 * np.random.default_rng(2).standard_normal(layout.num_params)
    actions = act(params, 3 * np.random.default_rng(3).standard_normal((200, 3)), spec, layout)
    assert actions.shape == (200, 1)
    assert actions.min() >= -2.0 and actions.max() <= 2.0 and actions.max() - actions.min() > 1.0
    returns = rollout_returns([env], params, episode_seeds(0, 1, TRAINING), spec, layout)
    assert returns.shape == (1, 1) and returns[0, 0] < 0  # Pendulum's rewards are costs
