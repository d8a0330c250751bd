"""Where the compiled kernel is cached: one per-user directory, keyed by the kernel sources' content.

numba's own `cache=True` keys a cache by the source file's directory (or writes next to it, in
`__pycache__`), so a Ray Job, whose working_dir is unpacked to a fresh path every time, compiled
the kernel again for 11-18 s. Here the kernel's functions are cached in
`$NUMBA_CACHE_DIR/hillclimb/<hash>` if NUMBA_CACHE_DIR is set, else in
`$XDG_CACHE_HOME/hillclimb/numba/<hash>` (`~/.cache/...` without XDG_CACHE_HOME), where <hash>
is that of the sources' bytes: any copy of the same sources, wherever it lies, finds the same
cache, and an edited source never loads a stale one. numba's index also keys each entry by numba
version, Python version, signature and CPU, so one directory serves every machine that shares it.
If the directory cannot be written, the kernel compiles without a cache (never an error).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

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


def install(sources: list[str], cached_files: list[str]) -> bool:
    """Cache the functions of cached_files by the content of sources; False (no cache) if unwritable.

    Must run before the @njit(cache=...) decorators of cached_files do: numba picks a function's
    cache locator when the function is decorated.
    """
    try:
        content = sources_hash(sources)
    except OSError:  # sources not on a file system (a zip, say): numba could not key them either
        return False
    directory = cache_root() / content[:20]
    if not writable(directory):
        return False
    files = frozenset(os.path.realpath(path) for path in cached_files)

    class ContentKeyedLocator(caching._CacheLocator):
        """Caches the kernel's functions in `directory`, fresh while the sources' content is the same."""

        def __init__(self, py_func, py_file):
            self._lineno = py_func.__code__.co_firstlineno

        def ensure_cache_path(self):
            """Create the directory and check that it is writable (numba's check)."""
            directory.mkdir(parents=True, exist_ok=True)
            tempfile.TemporaryFile(dir=directory).close()

        def get_cache_path(self):
            """The content-keyed directory."""
            return str(directory)

        def get_source_stamp(self):
            """The sources' hash, in place of numba's mtime (or single-file hash)."""
            return content

        def get_disambiguator(self):
            """The function's first line, as numba's locators use."""
            return str(self._lineno)

        @classmethod
        def from_function(cls, py_func, py_file):
            """A locator for the kernel's own functions, None for anyone else's."""
            if os.path.realpath(py_file) not in files:
                return None
            locator = cls(py_func, py_file)
            try:
                locator.ensure_cache_path()
            except OSError:
                return None
            return locator

    ContentKeyedLocator.hillclimb = True
    locators = _CacheImpl._locator_classes
    locators[:] = [ContentKeyedLocator, *(locator for locator in locators if not hasattr(locator, "hillclimb"))]
    return True
