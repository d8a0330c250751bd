"""Reaching Ray: a fresh local instance on loopback, the cluster this process runs in, or an address."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

CONNECT_TIMEOUT_S = 10.0


class ClusterError(RuntimeError):
    """Ray could not be reached or used; told in one line."""


# Without this Ray listens on every interface even when told 127.0.0.1 (measured with `ss -ltn`
# on Ray 2.60); with it, a local instance's GCS, raylet, object manager and dashboard stay on
# loopback. It must be in the environment before Ray starts its processes.
LOOPBACK_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class RayInfo:
    """What a connected Ray offers."""

    version: str
    nodes: int
    cpus: int


def ray_info() -> RayInfo:
    """Version, live nodes and CPUs of the Ray this process is connected to."""
    import ray

    nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
    return RayInfo(ray.__version__, nodes, int(ray.cluster_resources().get("CPU", 0)))


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ClusterError unless something accepts TCP connections at address (host:port or URL)."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    host, port = parsed.hostname, parsed.port
    if not host or not port:
        raise ClusterError(f"address: {address!r} is not host:port, ray://host:port or http://host:port")
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ClusterError(f"address: cannot reach Ray at {address} ({reason}); is the cluster up?") from None


@contextlib.contextmanager
def connect(address: str | None = None, num_cpus: int | None = None) -> Iterator[RayInfo]:
    """Connect for the duration of a with-block.

    address None: join the cluster this process already belongs to (a Ray Job's driver, or a
    caller that ran ray.init), else start a private local Ray with num_cpus CPUs on 127.0.0.1.
    "auto": the cluster started on this machine with `ray start`. "host:port" or "ray://...":
    that cluster; an unreachable one is a ClusterError within CONNECT_TIMEOUT_S.
    """
    import ray

    if ray.is_initialized():
        yield ray_info()  # the caller owns this connection: leave it open
        return
    os.environ.update({key: value for key, value in LOOPBACK_ENVIRONMENT.items() if key not in os.environ})
    options = {"log_to_driver": False, "configure_logging": False}
    if address is None and os.environ.get("RAY_ADDRESS"):
        address = os.environ["RAY_ADDRESS"]
    started = time.monotonic()
    try:
        if address is None:
            ray.init(
                address="local",
                num_cpus=num_cpus,
                include_dashboard=False,
                _node_ip_address="127.0.0.1",
                **options,
            )
        else:
            if address != "auto":
                check_reachable(address)
            ray.init(address=address, **options)
    except ClusterError:
        raise
    except (ConnectionError, TimeoutError, RuntimeError, ValueError) as error:
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise ClusterError(
            f"address: cannot connect to Ray at {address or 'a new local instance'}: {message}"
        ) from None
    del started
    try:
        yield ray_info()
    finally:
        ray.shutdown()
