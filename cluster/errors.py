"""The one error of the cluster layer: Ray could not be reached or used, told in one line."""

from __future__ import annotations


class ClusterError(RuntimeError):
    """Ray could not be reached or used; told in one line."""
