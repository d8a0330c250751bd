"""What one worker computes: the network, the hill climbs, the population strategies and the workers that run them.

The names below are the public ones, and load on first use, so that reading a setting
(`workers.settings`) does not compile or load the kernel: a command that only checks its input, or
prints its help, starts in a blink.
"""

import warnings
from importlib import import_module

_HOMES = {
    "ClimbOutcome": "workers.climbs",
    "Solution": "workers.climbs",
    "climb": "workers.climbs",
    "climb_batch": "workers.climbs",
    "climb_rows": "workers.climbs",
    "ClimbReport": "workers.messages",
    "ClimbTask": "workers.messages",
    "Layout": "workers.network",
    "evaluate": "workers.network",
    "evaluate_compiled": "workers.network",
    "init_params": "workers.network",
    "logits": "workers.network",
    "softmax": "workers.network",
    "Objective": "workers.objective",
    "ObjectiveError": "workers.objective",
    "climb_objective": "workers.objective_climb",
    "ObjectiveWorker": "workers.objective_worker",
    "PolicySpec": "workers.policy",
    "PopulationSettings": "workers.population",
    "PopulationState": "workers.population",
    "run_generation": "workers.population",
    "pack_rows": "workers.rows",
    "ClimbSettings": "workers.settings",
    "ClimbWorker": "workers.worker",
}
# Names that were public under another name; they still load, with a warning that names the new one.
_RENAMED = {"prepare_rows": "pack_rows", "score": "evaluate_compiled"}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Load `name` from its module on first use."""
    if name in _RENAMED:
        warnings.warn(f"workers.{name} is now workers.{_RENAMED[name]}", DeprecationWarning, stacklevel=2)
        return __getattr__(_RENAMED[name])
    if name not in _HOMES:
        raise AttributeError(f"module 'workers' has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
