"""Where the compiled kernel is cached: one per-user directory, keyed by the kernel sources' content.

numba's own `cache=True` keys a cache by the source file's directory (or writes next to it, in
`__pycache__`), so a Ray Job, whose working_dir is unpacked to a fresh path every time, compiled
the kernel again for 11-18 s. Here the kernel's functions are cached in
`$NUMBA_CACHE_DIR/hillclimb/<hash>` if NUMBA_CACHE_DIR is set, else in
`$XDG_CACHE_HOME/hillclimb/numba/<hash>` (`~/.cache/...` without XDG_CACHE_HOME), where <hash>
is that of the bytes of the sources a compiled module depends on (each module registers its own,
`workers.from_scratch` and `workers.kernel`): any copy of the same sources, wherever it lies, finds the same
cache, and an edited source never loads a stale one. numba's index also keys each entry by numba
version, Python version, signature and CPU, so one directory serves every machine that shares it.
If the directory cannot be written, the kernel compiles without a cache (never an error).
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from pathlib import Path

import numba
from numba.core import caching, config

# Newer numba calls it CacheImpl, older _CacheImpl; the locator base is _CacheLocator in both.
_CacheImpl = getattr(caching, "CacheImpl", None) or caching._CacheImpl


def cache_root() -> Path:
    """The per-user directory under which kernel caches live (before the content hash)."""
    if config.CACHE_DIR:
        return Path(config.CACHE_DIR) / "hillclimb"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "hillclimb" / "numba"


def sources_hash(sources: list[str]) -> str:
    """sha256 over the names and bytes of the given source files, in order."""
    digest = hashlib.sha256()
    for source in sources:
        path = Path(source)
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def writable(directory: Path) -> bool:
    """Whether directory exists (created if need be) and a file can be written in it."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
    except OSError:
        return False
    return True


# registry: realpath of a compiled module -> (its cache directory, its sources' hash)
_CACHED: dict[str, tuple[Path, str]] = {}


class ContentKeyedLocator(caching._CacheLocator):
    """Caches a registered module's functions in its content-keyed directory, fresh while its sources are the same."""

    hillclimb = True  # marks this project's locator among numba's

    def __init__(self, py_func, directory: Path, content: str):
        self._lineno = py_func.__code__.co_firstlineno
        self._directory = directory
        self._content = content

    def ensure_cache_path(self):
        """Create the directory and check that it is writable (numba's check)."""
        self._directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=self._directory).close()

    def get_cache_path(self):
        """The content-keyed directory."""
        return str(self._directory)

    def get_source_stamp(self):
        """The sources' hash, in place of numba's mtime (or single-file hash)."""
        return self._content

    def get_disambiguator(self):
        """The function's first line, as numba's locators use."""
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        """A locator for a registered module's functions, None for anyone else's."""
        entry = _CACHED.get(os.path.realpath(py_file))
        if entry is None:
            return None
        locator = cls(py_func, *entry)
        try:
            locator.ensure_cache_path()
        except OSError:
            return None
        return locator


def install(sources: list[str], cached_file: str) -> bool:
    """Cache the compiled functions of cached_file by the content of sources; False (no cache) if unwritable.

    Must run before the @njit(cache=...) decorators of cached_file do: numba picks a function's cache
    locator when the function is decorated. Each compiled module registers itself, with the sources it
    depends on.
    """
    try:
        content = sources_hash(sources)
    except OSError:  # sources not on a file system (a zip, say): numba could not key them either
        return False
    directory = cache_root() / content[:20]
    if not writable(directory):
        return False
    _CACHED[os.path.realpath(cached_file)] = (directory, content)
    locators = _CacheImpl._locator_classes
    if ContentKeyedLocator not in locators:
        locators[:] = [ContentKeyedLocator, *(locator for locator in locators if not hasattr(locator, "hillclimb"))]
    return True


def compiler(cached: bool):
    """numba.njit as the project's compiled modules use it: cached where `install` said so, numpy's error model
    (no exceptions from the hot loop), and without the GIL, so that a climb in a thread of the driver lets its
    other threads run (Ray's start, for one)."""
    return functools.partial(numba.njit, cache=cached, error_model="numpy", nogil=True)
