"""How we reach Ray: connecting, a pool of worker actors, and submitting searches as Ray Jobs."""

from cluster.connect import ClusterError, RayInfo, connect, ray_info, shared_local_ray
from cluster.pool import WorkerPool

__all__ = ["ClusterError", "RayInfo", "WorkerPool", "connect", "ray_info", "shared_local_ray"]
