"""Writing run files so a reader never sees half of one (on cluster.files.atomic_write_bytes)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cluster.files import atomic_write_bytes

__all__ = ["atomic_save_npz", "atomic_write_bytes", "atomic_write_text"]


def atomic_write_text(path: str | Path, text: str) -> None:
    """atomic_write_bytes for UTF-8 text."""
    atomic_write_bytes(path, text.encode())


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> None:
    """np.savez to path, atomically."""
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
