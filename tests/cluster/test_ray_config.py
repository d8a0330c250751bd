"""ray_config.yaml is a cluster launcher config that `ray up` accepts, and keeps Ray's ports off the internet.

Validated the way `ray up` does it (Ray's prepare_config, then validate_config over the schema that
the installed Ray ships): the raw JSON schema alone rejects valid on-premises configs.
"""

from __future__ import annotations

import copy
import re

import click
import jsonschema
import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.cluster.conftest import PROJECT

CONFIG_PATH = PROJECT / "ray_config.yaml"


def load_config() -> dict:
    """ray_config.yaml as `ray up` reads it."""
    return yaml.safe_load(CONFIG_PATH.read_text())


def validate_like_ray_up(config: dict) -> dict:
    """What `ray up` does to a config before it touches a machine; the prepared config."""
    prepared = prepare_config(copy.deepcopy(config))
    validate_config(prepared)
    return prepared


def test_ray_up_accepts_the_config():
    prepared = validate_like_ray_up(load_config())
    assert prepared["provider"]["type"] == "local"
    assert prepared["head_node_type"] in prepared["available_node_types"]


@pytest.mark.parametrize(
    "misspell",
    [
        lambda config: config.update(head_start_ray_comands=config.pop("head_start_ray_commands")),
        lambda config: config.update(setup_command=config.pop("setup_commands")),
        lambda config: config["auth"].update(ssh_usr=config["auth"].pop("ssh_user")),
        lambda config: config["provider"].update(worker_ip=config["provider"].pop("worker_ips")),
    ],
    ids=["top-level key", "setup commands", "auth key", "provider key"],
)
def test_a_misspelled_key_is_rejected(misspell):
    config = load_config()
    misspell(config)
    with pytest.raises((jsonschema.ValidationError, click.ClickException)):
        validate_like_ray_up(config)


def test_every_node_installs_the_project_and_starts_ray_from_its_environment():
    config = load_config()
    mounts = config["file_mounts"]
    for package in ("cluster", "coordinator", "workers"):
        assert mounts[f"~/hillclimb/{package}"] == f"./{package}"
        assert (PROJECT / package).is_dir()
    assert mounts["~/hillclimb/pyproject.toml"] == "./pyproject.toml"
    setup = " ; ".join(config["setup_commands"])
    assert "pip install -e ~/hillclimb" in setup
    for command in config["head_start_ray_commands"][1:] + config["worker_start_ray_commands"][1:]:
        assert command.startswith("source ~/hillclimb-env/bin/activate && ")


def test_nothing_is_sent_that_should_stay_home():
    mounted = set(load_config()["file_mounts"].values())
    for local in mounted:
        assert not re.search(r"(^|/)(runs|\.git|\.venv|venv|\.env)(/|$)", local), local
    assert "." not in mounted and "./" not in mounted  # not the whole project folder


def test_dashboard_is_on_loopback_and_token_authentication_is_on():
    config = load_config()
    head = " ".join(config["head_start_ray_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head
    assert "0.0.0.0" not in head + workers
    assert "RAY_AUTH_MODE=token ray start --head" in head
    assert "RAY_AUTH_MODE=token ray start --address" in workers
    assert config["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"


def test_idle_workers_are_kept_as_the_config_says():
    # idle_timeout_minutes releases only workers above min_workers, which the local provider sets to them all.
    config = load_config()
    prepared = validate_like_ray_up(config)
    (node_type,) = prepared["available_node_types"].values()  # the local provider's one type, head and workers
    assert "idle_timeout_minutes" in config and "min_workers" not in config
    assert node_type["min_workers"] == len(config["provider"]["worker_ips"])
