"""The coordinator: configures a search, hands out seeds, keeps the global best, saves the result.

from coordinator import SearchConfig, search
result = search(SearchConfig(dataset="spiral", layers=(2, 64, 3), time_budget=30))
result.save("runs/spiral")

`from coordinator import HillClimbClassifier` (a scikit-learn estimator) imports scikit-learn only
then: it is an optional extra (pip install 'hillclimb[sklearn]').
"""

from coordinator.config import ConfigError, SearchConfig
from coordinator.data import Dataset, load_dataset, nnfs_data
from coordinator.result import RoundRecord, SearchResult, load_result
from coordinator.search import search

__all__ = [
    "ConfigError",
    "Dataset",
    "HillClimbClassifier",
    "RoundRecord",
    "SearchConfig",
    "SearchResult",
    "load_dataset",
    "load_result",
    "nnfs_data",
    "search",
]


def __getattr__(name: str):
    """HillClimbClassifier on first use, so that `import coordinator` never needs scikit-learn."""
    if name == "HillClimbClassifier":
        from coordinator.estimator import HillClimbClassifier

        return HillClimbClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
