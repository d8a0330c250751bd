"""A policy for a real gymnasium environment (classic control, no downloads): the API and the command line."""

from __future__ import annotations

import numpy as np
import pytest

from coordinator import ConfigError, SearchConfig, load_result, search
from tests.coordinator.cli_runner import assert_one_line_error, run_cli

gymnasium = pytest.importorskip("gymnasium")

SPACE_ENVS = "tests.workers.space_envs"  # a module that registers an environment of each space when imported
# Small on purpose: two rounds of the default search (a generation of a few members), two episodes a candidate.
FLAGS = ["--hidden", "4", "--rounds", "2", "--episodes", "2"]


def test_a_cartpole_policy_climbs_acts_in_its_space_and_reloads(tmp_path):
    config = SearchConfig(
        env="CartPole-v1", search="climb", hidden=(4,), climbers=2, steps=10, rounds=2, episodes=2, time_budget=None
    )
    result = search(config, executor="inprocess", run_dir=tmp_path / "run")
    losses = [record.best_loss for record in result.history]
    assert losses == sorted(losses, reverse=True)  # a round's best never loses ground under its own seed
    assert -500.0 <= result.best_loss <= -8.0  # minus a mean return: CartPole pays 1 a step, at least 8 steps
    assert result.config.layers == (4, 4, 2) and result.policy.action == "discrete"
    observations = np.random.default_rng(0).uniform(-0.05, 0.05, (7, 4))
    actions = result.predict(observations)
    assert actions.shape == (7,) and set(actions.tolist()) <= {0, 1}
    assert result.predict(observations[0]).tolist() == actions[:1].tolist()  # one observation or many
    reloaded = load_result(tmp_path / "run")
    assert reloaded.predict(observations).tolist() == actions.tolist()
    first, again = reloaded.rollout(3, seed=5), result.rollout(3, seed=5)
    assert first.returns.tolist() == again.returns.tolist() and np.all((first.returns >= 8) & (first.returns <= 500))
    with pytest.raises(ConfigError, match=r"observations: expected 4 numbers each, got shape \(2, 3\)"):
        result.predict(np.zeros((2, 3)))
    with pytest.raises(ConfigError, match=r"evaluate: this run learnt a policy for CartPole-v1; .* rollout"):
        result.evaluate(observations, np.zeros(7))


def test_an_environments_round_is_capped_by_its_episodes_at_their_time_limit():
    from coordinator.rounds.length import ENV_ROUND_STEPS, objective_round_steps

    config = SearchConfig(env="CartPole-v1", search="climb", episodes=5)
    assert objective_round_steps(config, 2, episode_steps=500) == ENV_ROUND_STEPS // 2500 == 40
    assert objective_round_steps(config, 4, episode_steps=200) == 50  # 200 evaluations over 4 climbers, below the cap
    assert objective_round_steps(config.model_copy(update={"episodes": 1000}), 1, episode_steps=500) == 1
    result = search(
        config.model_copy(update={"hidden": (2,), "climbers": 1, "rounds": 1, "episodes": 1}), executor="inprocess"
    )
    assert result.config.steps == ENV_ROUND_STEPS // 500  # CartPole-v1's time limit: 500 steps


def test_a_pendulum_policys_actions_stay_in_the_box():
    config = SearchConfig(env="Pendulum-v1", hidden=(4,), rounds=1, episodes=1, time_budget=None)
    result = search(config, executor="inprocess")
    actions = result.predict(np.random.default_rng(1).uniform(-8.0, 8.0, (50, 3)))
    assert actions.shape == (50, 1) and np.all(np.abs(actions) <= 2.0)  # tanh scaled to Pendulum's torque box
    assert result.policy.action == "box" and -16.3 * 200 <= result.best_loss * -1 <= 0.0


@pytest.mark.parametrize(
    ("flags", "says"),
    [
        (["--env", "CartPol-v1"], "env: 'CartPol-v1' is not an environment gymnasium knows; did you mean CartPole-v1?"),
        (["--env", "NoSuchEnv"], "env: 'NoSuchEnv' is not an environment gymnasium knows (such as CartPole-v1"),
        (["--env", "CartPole-v1", "--layers", "3,16,2"], "layers: CartPole-v1's observations are 4 inputs"),
        (["--env", "FrozenLake-v1", "--layers", "1,4,4"], "are 16 inputs (Discrete(16), one-hot), layers start"),
        (
            ["--env", f"{SPACE_ENVS}:SpaceTest/Tuple-v0"],
            "observation space Tuple(Discrete(3), Discrete(2)) is a Tuple space; a policy network reads Box, Discrete, "
            "MultiDiscrete or MultiBinary observations",
        ),
        (["--env", f"{SPACE_ENVS}:SpaceTest/Dict-v0"], "its action space Dict('move': Discrete(2)) is a Dict space"),
        (["--env", "no_such_package:Pong-v5"], "env: no_such_package:Pong-v5: cannot import no_such_package"),
        (["--env", f"{SPACE_ENVS}:Pong-v5"], "space_envs was imported but registers no environment 'Pong-v5'"),
        (["--env", "ALE/Pong-v5"], "one that a package registers is named with its package, such as ale_py:ALE/"),
        (["--env", "CartPole-v1", "--dataset", "spiral"], "give --env or --dataset, not both"),
        (["--env", "CartPole-v1", "--episodes", "0"], "episodes:"),
        (["--env", "CartPole-v1", "--task", "regression"], "task: 'regression' is a setting of the data; a policy for"),
        (
            ["--env", "CartPole-v1", "--weights", "ternary"],
            "weights: 'ternary' is for searches on data; a policy for CartPole-v1 climbs a network of float weights "
            "and ReLU units, and its loss is minus its mean return",
        ),
        (["--env", "CartPole-v1", "--scaling", "minmax"], "scaling: a policy for CartPole-v1 learns from episodes;"),
    ],
)
def test_a_bad_environment_is_one_line_and_exit_status_2(tmp_path, flags, says):
    completed = run_cli("run", *flags, "--inprocess", "--out", "out", cwd=tmp_path)
    assert_one_line_error(completed, says)
    assert not (tmp_path / "out").exists() and not (tmp_path / "runs").exists()


def test_without_gymnasium_an_environment_is_one_line_naming_the_extra(tmp_path):
    # A gymnasium that cannot be imported, first on the path: as on a machine without the [rl] extra.
    (tmp_path / "blocked" / "gymnasium").mkdir(parents=True)
    (tmp_path / "blocked" / "gymnasium" / "__init__.py").write_text("raise ImportError('no gymnasium here')\n")
    completed = run_cli("run", "--env", "CartPole-v1", "--inprocess", cwd=tmp_path, path_first=tmp_path / "blocked")
    assert_one_line_error(completed, "env: needs gymnasium, which is not installed (pip install 'hillclimb[rl]')")


def test_the_command_line_trains_a_policy_and_evaluates_it_on_unseen_episodes(tmp_path):
    completed = run_cli("run", "--env", "CartPole-v1", *FLAGS, "--inprocess", "--out", "run", cwd=tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert "evaluate run" in completed.stdout
    summary = completed.stdout.splitlines()[0]
    best = load_result(tmp_path / "run").best_loss
    assert summary.startswith(f"kept policy after 2 rounds (rounds reached): return {-best:.2f}, its mean on round 1's")
    assert "(each round scores it again on new episodes, so this can fall from round to round" in summary
    assert "on the round's 2 episodes" in completed.stderr  # the live line shows returns, not a loss
    evaluated = run_cli("evaluate", "run", "--episodes", "4", "--seed", "3", cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    lines = evaluated.stdout.splitlines()
    assert lines[0] == "CartPole-v1: 4 episodes never seen in training (evaluation seed 3)"
    assert lines[1].startswith("mean return ")
    expected = load_result(tmp_path / "run").rollout(4, seed=3).mean
    assert float(lines[1].split()[2]) == pytest.approx(expected, abs=0.005)
    refused = run_cli("evaluate", "run", "--input", "rows.csv", cwd=tmp_path)
    assert_one_line_error(refused, "--input: run learnt a policy for CartPole-v1; it is scored on episodes")


@pytest.mark.parametrize(("env", "states"), [("FrozenLake-v1", 16), ("Taxi-v4", 500)])
def test_an_environment_of_states_climbs_and_its_policy_acts_on_a_state(env, states):
    config = SearchConfig(env=env, hidden=(4,), rounds=2, episodes=1, time_budget=None)
    result = search(config, executor="inprocess")
    assert result.rounds_completed == 2 and np.isfinite(result.best_loss)
    assert result.config.layers == (states, 4, result.policy.action_size)
    actions = result.predict(np.array([[0.0], [3.0], [states - 1.0]]))  # rows of a file: one state each
    assert actions.shape == (3,) and actions.tolist() == [int(result.predict(state)[0]) for state in (0, 3, states - 1)]


def test_an_environment_a_package_registers_is_named_with_the_package_and_images_are_flattened(tmp_path):
    env = f"{SPACE_ENVS}:SpaceTest/Image-v0"  # Box(210, 160, 3) of uint8 observations, as Atari's
    config = SearchConfig(env=env, hidden=(2,), rounds=1, episodes=1, time_budget=None)
    result = search(config, executor="inprocess", run_dir=tmp_path / "run")
    assert result.config.layers == (210 * 160 * 3, 2, 3) and np.isfinite(result.best_loss)
    image = np.random.default_rng(0).integers(0, 256, (210, 160, 3))
    one = load_result(tmp_path / "run").predict(image)
    assert one.shape == (1,) and result.predict(np.stack([image, image])).tolist() == [one[0], one[0]]
    assert result.rollout(2, seed=1).returns.shape == (2,)
