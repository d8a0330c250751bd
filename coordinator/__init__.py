"""The coordinator: configures a search, hands out seeds, keeps the global best, saves the result.

from coordinator import SearchConfig, search
result = search(SearchConfig(dataset="spiral", layers=(2, 64, 3), time_budget=30))
result.save("runs/spiral")
"""

from coordinator.config import ConfigError, SearchConfig
from coordinator.data import Dataset, load_dataset, nnfs_data
from coordinator.result import RoundRecord, SearchResult, load_result
from coordinator.search import search

__all__ = [
    "ConfigError",
    "Dataset",
    "RoundRecord",
    "SearchConfig",
    "SearchResult",
    "load_dataset",
    "load_result",
    "nnfs_data",
    "search",
]
