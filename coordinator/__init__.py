"""The coordinator: configures a search, hands out seeds, keeps the global best, saves the result.

from coordinator import SearchConfig, search
result = search(SearchConfig(dataset="spiral", layers=(2, 64, 3), time_budget=30))
result.save("runs/spiral")

The names below load on first use: `import coordinator` needs neither Ray nor the compiled kernel
until a search runs, and `HillClimbClassifier` (a scikit-learn estimator) imports scikit-learn only
then: it is an optional extra (pip install 'hillclimb[sklearn]').
"""

import sys
from importlib import import_module

_HOMES = {
    "ConfigError": "coordinator.config",
    "SearchConfig": "coordinator.config",
    "Dataset": "coordinator.data",
    "load_dataset": "coordinator.data",
    "nnfs_data": "coordinator.data",
    "HillClimbClassifier": "coordinator.estimator",
    "HillClimbRegressor": "coordinator.estimator",
    "RoundRecord": "coordinator.result",
    "SearchResult": "coordinator.result",
    "load_result": "coordinator.result",
    "search": "coordinator.search",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Load `name` from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    # Importing a module of the package sets its name here: `coordinator.search` the module would then
    # shadow `search` the function for a later `from coordinator import search`. The function wins.
    if "coordinator.search" in sys.modules:
        globals()["search"] = sys.modules["coordinator.search"].search
    return value


def __dir__() -> list[str]:
    return __all__
