"""Reaching Ray: a private local Ray on loopback, and one clear line, quickly, when an address is not Ray."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import pytest

from cluster.connect import ClusterError, check_speaks_grpc, connect
from tests.cluster.conftest import PROJECT
from tests.cluster.processes import descendants, listeners, not_on_loopback

SMALL_RUN = ["--dataset", "vertical", "--layers", "2,3,3", "--time-budget", "5", "--quiet"]


@pytest.fixture
def silent_listener():
    """host:port of a socket that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield f"127.0.0.1:{server.getsockname()[1]}"


def test_an_address_that_is_not_ray_is_one_line_exit_2_within_30_s(silent_listener, tmp_path):
    addresses = {"closed port": "127.0.0.1:1", "silent listener": silent_listener}
    started = time.monotonic()
    runs = {
        name: subprocess.Popen(
            [
                sys.executable,
                "-m",
                "coordinator",
                "run",
                "--address",
                address,
                *SMALL_RUN,
                "--out",
                str(tmp_path / name),
            ],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, address in addresses.items()
    }
    for name, process in runs.items():
        stdout, stderr = process.communicate(timeout=60)
        assert time.monotonic() - started < 30, name
        assert process.returncode == 2, (name, stderr)
        assert stdout == ""
        lines = stderr.strip().splitlines()
        assert len(lines) == 1, (name, stderr)
        assert lines[0].startswith("error: address: ") and addresses[name] in lines[0], lines[0]


def test_the_greeting_check_gives_up_on_a_silent_server_in_time(silent_listener):
    started = time.monotonic()
    with pytest.raises(ClusterError, match="does not answer like Ray"):
        check_speaks_grpc(silent_listener, timeout_s=1.0)
    assert time.monotonic() - started < 3


def test_a_dashboard_address_is_pointed_to_submit():
    with pytest.raises(ClusterError, match="python -m cluster submit"), connect("http://127.0.0.1:8265"):
        pass


def test_a_malformed_address_is_named():
    with pytest.raises(ClusterError, match="not host:port"), connect("127.0.0.1"):
        pass


@pytest.fixture
def private_ray_files(monkeypatch):
    """Ray's session files in a folder of this test's own, not the machine's shared /tmp/ray."""
    temporary = tempfile.mkdtemp(prefix="raylc-", dir="/tmp")  # short: Ray's socket paths live below it
    monkeypatch.setenv("RAY_TMPDIR", temporary)
    yield temporary
    shutil.rmtree(temporary, ignore_errors=True)


def test_a_private_local_ray_has_the_cpus_asked_for_and_listens_on_loopback_only(private_ray_files):
    import ray

    assert not ray.is_initialized()
    assert "RAY_ADDRESS" not in os.environ
    with connect(None, num_cpus=2) as info:
        assert (info.nodes, info.cpus) == (1, 2)
        assert ray.get_runtime_context().gcs_address.startswith("127.0.0.1:")
        ours = {os.getpid(), *descendants(os.getpid())}
        assert listeners(ours), "found no listening socket at all: the check would prove nothing"
        assert not_on_loopback(ours) == []
    assert not ray.is_initialized()
