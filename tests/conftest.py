"""Shared test set-up: real Ray on loopback, no usage stats, no token files, no windows."""

from __future__ import annotations

import os

# Before Ray is imported anywhere: every listener on 127.0.0.1, no usage reporting, no auth token
# written to the home directory by a local ray.init, and plots without a screen.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_AUTH_MODE", "disabled")
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest

OBJECT_STORE_BYTES = 150 * 1024**2


@pytest.fixture(scope="module")
def ray_local():
    """A real local Ray with 2 CPUs on 127.0.0.1, shared by the tests of one module."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        _node_ip_address="127.0.0.1",
        object_store_memory=OBJECT_STORE_BYTES,
        log_to_driver=False,
    )
    yield ray
    ray.shutdown()
