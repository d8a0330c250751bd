"""What one worker computes: the network, the hill climbs and the worker that runs them.

The names below load on first use, so that reading a setting (`workers.settings`) does not compile
or load the kernel: a command that only checks its input, or prints its help, starts in a blink.
"""

from importlib import import_module

_HOMES = {
    "ClimbOutcome": "workers.climbs",
    "Solution": "workers.climbs",
    "climb": "workers.climbs",
    "climb_batch": "workers.climbs",
    "climb_rows": "workers.climbs",
    "prepare_rows": "workers.climbs",
    "ClimbReport": "workers.messages",
    "ClimbTask": "workers.messages",
    "Layout": "workers.network",
    "evaluate": "workers.network",
    "init_params": "workers.network",
    "logits": "workers.network",
    "score": "workers.network",
    "softmax": "workers.network",
    "ClimbSettings": "workers.settings",
    "ClimbWorker": "workers.worker",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Load `name` from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module 'workers' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
