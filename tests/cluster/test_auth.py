"""Token authentication: a head started with RAY_AUTH_MODE=token takes jobs and direct connections only from a
client that has its token, and says so in one line to one that has not."""

from __future__ import annotations

import secrets
import socket
import sys
import time

import pytest

from coordinator import load_result
from tests.cluster.conftest import run_command
from tests.cluster.head import RayHead

AUTH_VARIABLES = ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")

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


def wait_for_port(port: int, timeout_s: float = 60) -> None:
    """Return once something accepts connections on 127.0.0.1:port (the Ray client server comes up last)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def run_directly(address: str, tmp_path, environment: dict[str, str]):
    """`python -m coordinator run --address ADDRESS` of a tiny search, with no token setting but environment's."""
    return run_command(
        "-m", "coordinator", "run", "--address", address, *SEARCH_FLAGS, "--quiet", "--out", str(tmp_path / "run"),
        environment={"HOME": str(tmp_path), **environment}, without=AUTH_VARIABLES, timeout=120,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("server", "environment", "told"),
    [
        ("gcs", {}, ""),
        ("client", {}, ""),
        ("gcs", {"RAY_AUTH_MODE": "disabled"}, ", and RAY_AUTH_MODE=disabled here sends none"),
    ],
    ids=["gcs", "ray-client", "auth-disabled-here"],
)
def test_a_direct_connection_without_the_token_is_one_line_within_15_s(
    head_with_token, tmp_path, server, environment, told
):
    if server == "gcs":
        address = head_with_token.gcs_address
    else:
        wait_for_port(head_with_token.client_port)
        address = f"ray://127.0.0.1:{head_with_token.client_port}"
    started = time.monotonic()
    finished = run_directly(address, tmp_path, environment)
    # Ray alone retried for 20 s (ray://: 30 s) and never spoke of authentication.
    assert time.monotonic() - started < 15
    assert finished.returncode == 2, finished.stderr
    assert finished.stderr.splitlines() == [
        f"error: authentication: the cluster at {address} wants a token{told}; put it in ~/.ray/auth_token "
        "or name its file in RAY_AUTH_TOKEN_PATH (see docs/cluster.md)"
    ]
    assert not (tmp_path / "run").exists()


def test_a_direct_connection_with_a_wrong_token_is_one_line(head_with_token, tmp_path):
    finished = run_directly(head_with_token.gcs_address, tmp_path, {"RAY_AUTH_TOKEN": "not-the-token"})
    assert finished.returncode == 2
    assert finished.stderr.splitlines() == [
        f"error: authentication: the cluster at {head_with_token.gcs_address} refused the token; get the right "
        "one with `ray get-auth-token` on the head"
    ]
