"""Reaching Ray: a fresh local instance on loopback, the cluster this process runs in, or an address."""

from __future__ import annotations

import atexit
import contextlib
import inspect
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlparse

from cluster.auth import find_token
from cluster.errors import ClusterError
from cluster.quiet import ray_log_directory_known
from cluster.stopping import wait_until_stopped

# The checks before Ray is asked to connect wait at most this long for a TCP connection, then for
# the answer to a gRPC greeting: an unreachable or silent address is told within their sum (15 s).
CONNECT_TIMEOUT_S = 10.0
GREETING_TIMEOUT_S = 5.0


# Without this Ray listens on every interface even when told 127.0.0.1 (measured with `ss -ltn`
# on Ray 2.60), and it rewrites a loopback address given to ray.init into the machine's routable
# one; with it, a local instance's GCS, raylet, object manager and dashboard stay on loopback.
# Ray reads it when it is imported and when it starts its processes, so it is set before both,
# and only for the private local Ray: a node of a multi-node cluster must not have it, and a
# driver joining a cluster must see that cluster's nodes as they see themselves.
LOOPBACK_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_USAGE_STATS_ENABLED": "0"}

AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"
# A cheap call of each kind of server, for telling whether it wants a token: the GCS's and the Ray
# client server's. With token authentication on, both answer UNAUTHENTICATED before they read the
# (empty) request; otherwise they answer, or fail on the request itself.
AUTH_PROBES = {"gcs": "/ray.rpc.NodeInfoGcsService/GetClusterId", "client": "/ray.rpc.RayletDriver/ClusterInfo"}

# The first bytes of every HTTP/2 (so gRPC) connection, then an empty SETTINGS frame.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0])
_HTTP2_SETTINGS = 4


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


def split_address(address: str) -> tuple[str, int]:
    """(host, port) of host:port, ray://host:port or http://host:port; ClusterError if it is neither."""
    parsed = urlparse(address if "://" in address else f"tcp://{address}")
    try:
        host, port = parsed.hostname, parsed.port
    except ValueError:
        host, port = None, None
    if not host or not port:
        raise ClusterError(f"address: {address!r} is not host:port or ray://host:port")
    return host, port


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Raise ClusterError unless something accepts TCP connections at address (host:port or URL)."""
    host, port = split_address(address)
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as error:
        reason = "timed out" if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise ClusterError(f"address: cannot reach Ray at {address} ({reason}); is the cluster up?") from None


def check_speaks_grpc(address: str, timeout_s: float = GREETING_TIMEOUT_S) -> None:
    """Raise ClusterError unless the server at address answers an HTTP/2 greeting as gRPC servers do.

    Ray's GCS and its client server are gRPC servers. Something else on the port (or a process
    that accepts connections and never answers) would make ray.init wait for minutes; this finds
    it in at most timeout_s. With TLS (RAY_USE_TLS=1) the greeting is encrypted: not checked then.
    """
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        return
    host, port = split_address(address)
    deadline = time.monotonic() + timeout_s
    answer = b""
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as connection:
            connection.sendall(_HTTP2_PREFACE)
            while len(answer) < 9 and time.monotonic() < deadline:
                connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = connection.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
    except TimeoutError:
        raise ClusterError(
            f"address: {address} accepts connections but does not answer like Ray (no reply in {timeout_s:.0f} s)"
        ) from None
    except OSError as error:
        raise ClusterError(f"address: cannot reach Ray at {address} ({error.strerror or error})") from None
    if len(answer) < 9 or answer[3] != _HTTP2_SETTINGS:
        raise ClusterError(
            f"address: {address} is not a Ray cluster's GCS (host:6379) or client server (ray://host:10001)"
        )


def _addresses_ray_will_use(address: str) -> tuple[str, str | None]:
    """(the address as found, the host:port ray.init(address) will connect to).

    Ray resolves "auto" (RAY_ADDRESS, else the address `ray start` recorded on this machine) and may
    turn a loopback address into this machine's routable one. The second is None if Ray cannot say
    without connecting.
    """
    if address.startswith("ray://"):
        return address, address
    try:
        from ray._private.services import canonicalize_bootstrap_address, get_ray_address_from_environment
    except ImportError:
        return address, None if address == "auto" else address
    try:
        # Quietly: with several Ray instances on the machine Ray logs a warning here, before ray.init
        # (which logs it again if it connects); an error must stay one line.
        with _quiet_logger("ray._private.services"):
            found = get_ray_address_from_environment(address, None) if address == "auto" else address
            return found, canonicalize_bootstrap_address(found)
    except ConnectionError as error:
        raise ClusterError(
            f"address: auto found no single Ray started on this machine (`ray start --head`): {first_line(error)}"
        ) from None
    except Exception:
        return address, None if address == "auto" else address


@contextlib.contextmanager
def _quiet_logger(name: str) -> Iterator[None]:
    """The logger name says only errors for the duration of the block."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(saved)


def _check_is_ray(address: str) -> str | None:
    """The address ray.init will go to, once Ray answers there; ClusterError within CONNECT_TIMEOUT_S +
    GREETING_TIMEOUT_S otherwise."""
    found, target = _addresses_ray_will_use(address)
    if target is None:
        return None
    try:
        check_reachable(target)
        check_speaks_grpc(target)
    except ClusterError as error:
        if target == found:
            raise
        check_reachable(found)  # nothing there either: say so about the address given
        raise ClusterError(
            f"{error} (Ray turns {found} into {target}; a Ray bound to 127.0.0.1 wants "
            "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 in this environment too)"
        ) from None
    return target


def _is_refused(address: str, token: str | None) -> bool:
    """Whether the GCS or client server at address refuses a cheap call made with token (None: none)."""
    import grpc

    host, port = split_address(address)
    method = AUTH_PROBES["client" if address.startswith("ray://") else "gcs"]
    metadata = [("authorization", f"Bearer {token}")] if token else None
    with grpc.insecure_channel(f"{host}:{port}") as channel:
        try:
            channel.unary_unary(method)(b"", timeout=GREETING_TIMEOUT_S, metadata=metadata)
        except grpc.RpcError as error:
            return error.code() == grpc.StatusCode.UNAUTHENTICATED
    return False


def check_authentication(address: str) -> bool:
    """Whether the Ray at address (GCS host:port or ray://) wants a token that this machine has.

    ClusterError, in one line, if it wants one and none is found (where Ray looks: RAY_AUTH_TOKEN,
    RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token), or if it refuses the one found.
    """
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true") or not _is_refused(address, None):
        return False
    token = find_token()
    if token is None:
        disabled = os.environ.get(AUTH_MODE_VARIABLE, "").strip().lower() == "disabled"
        raise ClusterError(
            f"authentication: the cluster at {address} wants a token"
            + (f", and {AUTH_MODE_VARIABLE}=disabled here sends none" if disabled else "")
            + "; put it in ~/.ray/auth_token or name its file in RAY_AUTH_TOKEN_PATH (see docs/cluster.md)"
        )
    if _is_refused(address, token):
        raise ClusterError(
            f"authentication: the cluster at {address} refused the token; get the right one with "
            "`ray get-auth-token` on the head"
        )
    return True


@contextlib.contextmanager
def _token_mode() -> Iterator[None]:
    """Ray in this process sends the token for the duration of the block.

    Ray sends it on explicit addresses only with RAY_AUTH_MODE=token (it guesses from a token file
    only for "auto"); without, it retries for 20 s and says nothing of authentication. The mode is
    read by Ray's C++ core from the environment, so it is reloaded after each change.
    """
    saved = os.environ.get(AUTH_MODE_VARIABLE)
    if saved == "token":
        yield
        return
    os.environ[AUTH_MODE_VARIABLE] = "token"
    _reload_ray_config()
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop(AUTH_MODE_VARIABLE, None)
        else:
            os.environ[AUTH_MODE_VARIABLE] = saved
        _reload_ray_config()


def _reload_ray_config() -> None:
    # Ray's own switch to token mode (authentication_token_setup._enable_token_auth) does the same.
    with contextlib.suppress(ImportError, AttributeError):
        from ray._raylet import Config

        Config.initialize("")


def first_line(error: BaseException) -> str:
    """The first line of an error's message, or its type's name."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


@contextlib.contextmanager
def connect(address: str | None = None, num_cpus: int | None = None) -> Iterator[RayInfo]:
    """Connect for the duration of a with-block.

    address None: join the cluster this process already belongs to (a caller that ran ray.init,
    or a Ray Job's driver, which finds RAY_ADDRESS set), else start a private local Ray with
    num_cpus CPUs (None: all) on 127.0.0.1. "auto": the cluster started on this machine with
    `ray start`. "host:port" or "ray://host:port": that cluster, with this environment's Ray
    settings as they are, except that a cluster with token authentication gets the token found
    here (RAY_AUTH_MODE=token need not be set). An address that cannot be reached, that is not
    Ray, or that wants a token this machine lacks is a one-line ClusterError within
    CONNECT_TIMEOUT_S + GREETING_TIMEOUT_S.
    """
    wait_until_stopped()  # a private Ray an earlier run left to stop is gone before another is reached
    if _is_connected():
        yield ray_info()  # the caller owns this connection (or it is the shared one): leave it open
        return
    address = _address_to_join(address)
    if address is None:
        _start_local_ray(num_cpus)
        try:
            yield ray_info()
        finally:
            _shutdown()
        return
    if address != "auto":
        split_address(address)

    import ray

    with contextlib.ExitStack() as stack:
        try:
            target = _check_is_ray(address)
            if target is not None and check_authentication(target):
                stack.enter_context(_token_mode())
            ray.init(address=address, **RAY_INIT_OPTIONS)
        except ClusterError:
            raise
        except Exception as error:
            raise ClusterError(f"address: cannot connect to Ray at {address}: {first_line(error)}") from None
        ray_log_directory_known()  # a quiet command line's Ray notices go among this session's logs
        try:
            yield ray_info()
        finally:
            ray.shutdown()


def shared_local_ray(address: str | None = None, num_cpus: int | None = None) -> RayInfo | None:
    """Make the searches of this process share one Ray: the one it is connected to, else a private local Ray.

    The private one is started on first use, as `connect(None, num_cpus)` starts one (127.0.0.1,
    num_cpus CPUs, None: all), and shut down when the process exits; `connect` finds it and leaves
    it open, so many searches (an estimator fitted again and again) pay Ray's start once. With an
    address (or RAY_ADDRESS set) nothing is started and None comes back: `connect` joins that cluster.
    """
    wait_until_stopped()  # a private Ray an earlier run left to stop is gone before another starts
    if _is_connected():
        return ray_info()
    if _address_to_join(address) is not None:
        return None
    global _shutdown_registered
    _start_local_ray(num_cpus)
    if not _shutdown_registered:
        # Ray registers an exit hook of its own when imported; ours runs before it (atexit runs the
        # latest first) and waits for the GCS, raylet and workers to end, so none outlives the process.
        atexit.register(_shutdown, wait=True)
        _shutdown_registered = True
    return ray_info()


_shutdown_registered = False
# What every ray.init here says: Ray's logs stay in its files, and Python's logging stays the caller's.
RAY_INIT_OPTIONS = {"log_to_driver": False, "configure_logging": False}


def starts_private_ray(address: str | None) -> bool:
    """Whether `connect(address)` would start a private local Ray (not joining one that is up or a cluster)."""
    wait_until_stopped()  # a private Ray an earlier run left to stop is not one to join
    return not _is_connected() and _address_to_join(address) is None


def _is_connected() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and ray.is_initialized()


def _address_to_join(address: str | None) -> str | None:
    """The cluster to join: the address given, else RAY_ADDRESS (a Ray Job's driver); None for a private local Ray."""
    if address is not None and address.startswith(("http://", "https://")):
        raise ClusterError(
            f"address: {address} is a dashboard (Ray Jobs) address, for `python -m cluster submit --address`; "
            "here give the GCS (host:6379) or the client server (ray://host:10001)"
        )
    environment_address = os.environ.get("RAY_ADDRESS", "")
    if address is None and environment_address and not environment_address.startswith(("http://", "https://")):
        return environment_address  # a Ray Job's driver: its cluster
    return address


def import_ray_for_local() -> None:
    """Import Ray as a private local Ray needs it: its loopback settings made first (a second, and done once)."""
    _set_loopback_environment()  # before Ray is imported: a private Ray stays on 127.0.0.1
    import ray  # noqa: F401


def _start_local_ray(num_cpus: int | None) -> None:
    """Start a private local Ray with num_cpus CPUs (None: all), every listener on 127.0.0.1."""
    import_ray_for_local()
    import ray

    try:
        ray.init(
            address="local",
            num_cpus=num_cpus,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            **RAY_INIT_OPTIONS,
        )
    except Exception as error:
        raise ClusterError(f"address: cannot connect to Ray at a new local instance: {first_line(error)}") from None
    ray_log_directory_known()  # a quiet command line's Ray notices go among this session's logs


def _shutdown(wait: bool = False) -> None:
    """Disconnect and end the Ray this process started, if it is up; wait: until its processes have exited."""
    ray = sys.modules.get("ray")
    if ray is None or not ray.is_initialized():
        return
    if wait and "wait_for_processes" in inspect.signature(ray.shutdown).parameters:  # not in every Ray we support
        ray.shutdown(wait_for_processes=True)
    else:
        ray.shutdown()


def _set_loopback_environment() -> None:
    """Keep a Ray on this machine on 127.0.0.1 (see LOOPBACK_ENVIRONMENT); settings already made win."""
    for key, value in LOOPBACK_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
