"""Token authentication: a head started with RAY_AUTH_MODE=token takes jobs only from a client that has its token."""

from __future__ import annotations

import secrets
import sys

import pytest

from coordinator import load_result
from tests.cluster.conftest import run_command
from tests.cluster.head import RayHead

SEARCH_FLAGS = [
    "--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "300", "--rounds", "1",
    "--time-budget", "none", "--workers", "1", "--engine", "numpy",
]  # fmt: skip


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    """A token of this module's own, in a file readable by its owner only (not ~/.ray/auth_token)."""
    path = tmp_path_factory.mktemp("auth") / "auth_token"
    path.write_text(secrets.token_hex(32))
    path.chmod(0o600)
    return path


@pytest.fixture(scope="module")
def head_with_token(token_file):
    """A real Ray head that requires the token in token_file on every request."""
    head = RayHead(num_cpus=2, environment={"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)}).start()
    yield head
    head.stop()


def submit(head, tmp_path, environment: dict[str, str]):
    """`python -m cluster submit` of a tiny search to head, with environment on top of this one."""
    return run_command(
        "-m", "cluster", "submit", "--address", head.dashboard_url, "--python", sys.executable, "--",
        *SEARCH_FLAGS, "--out", str(tmp_path / "run"), environment=environment, timeout=180,
    )  # fmt: skip


def test_without_a_token_the_cluster_refuses_in_one_line(head_with_token, tmp_path):
    finished = submit(head_with_token, tmp_path, {"RAY_AUTH_MODE": "disabled"})
    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        f"error: authentication: the cluster at {head_with_token.dashboard_url} wants a token; put it in "
        "~/.ray/auth_token or name its file in RAY_AUTH_TOKEN_PATH (see docs/cluster.md)"
    ]


def test_with_a_wrong_token_the_cluster_refuses_in_one_line(head_with_token, tmp_path):
    finished = submit(head_with_token, tmp_path, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token"})
    assert finished.returncode == 2
    assert len(finished.stderr.splitlines()) == 1
    assert (
        finished.stderr.startswith("error: authentication: the cluster at ") and "refused the token" in finished.stderr
    )


def test_with_the_token_the_search_runs_and_its_result_comes_home(head_with_token, token_file, tmp_path):
    finished = submit(head_with_token, tmp_path, {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_file)})
    assert finished.returncode == 0, finished.stderr
    result = load_result(tmp_path / "run")
    assert result.rounds_completed == 1 and result.environment.executor == "ray"
