"""The coordinator: configures a search, hands out seeds, keeps the global best, saves the result.

from coordinator import SearchConfig, search
result = search(SearchConfig(dataset="spiral", layers=(2, 64, 3), time_budget=30))
result.save("runs/spiral")

The names below load on first use: `import coordinator` needs neither Ray nor the compiled kernel
until a search runs, and `HillClimbClassifier` (a scikit-learn estimator) imports scikit-learn only
then: it is an optional extra (pip install 'hillclimb[sklearn]').
"""

from importlib import import_module

_HOMES = {
    "ConfigError": "coordinator.config",
    "SearchConfig": "coordinator.config",
    "Dataset": "coordinator.data.datasets",
    "load_dataset": "coordinator.data.datasets",
    "nnfs_data": "coordinator.data.datasets",
    "HillClimbClassifier": "coordinator.interface.estimator",
    "HillClimbRegressor": "coordinator.interface.estimator",
    "RoundRecord": "coordinator.results.result",
    "SearchResult": "coordinator.results.result",
    "load_result": "coordinator.results.result",
    "search": "coordinator.rounds.search",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str):
    """Load `name` from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
