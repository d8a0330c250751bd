"""The coordinator: configures a search, hands out seeds, keeps the global best, saves the result.

from coordinator import SearchConfig, search
result = search(SearchConfig(dataset="spiral", layers=(2, 64, 3), time_budget=30))
result.save("runs/spiral")

Its rooms: `config` (the settings), `data/` (what comes in), `results/` (what a run saves and
answers), `rounds/` (the search, round by round), `interface/` (what people call and see). The
names below are the public ones, every extension point docs/architecture.md describes among them:
import them from here, not from the module that holds them today. They load on first use:
`import coordinator` needs neither Ray nor the compiled kernel until a search runs, and
`HillClimbClassifier` (a scikit-learn estimator) imports scikit-learn only then: it is an optional
extra (pip install 'hillclimb[sklearn]').
"""

import importlib.abc
import importlib.util
import sys
import warnings
from importlib import import_module

_HOMES = {
    # the settings
    "ConfigError": "coordinator.config",
    "SearchConfig": "coordinator.config",
    # the data coming in
    "Dataset": "coordinator.data.datasets",
    "load_dataset": "coordinator.data.datasets",
    "nnfs_data": "coordinator.data.datasets",
    # what a run minimises instead of a data set's loss
    "Objective": "workers.objective",
    "ObjectiveError": "workers.objective",
    # the search, round by round
    "search": "coordinator.rounds.search",
    "run_prepared": "coordinator.rounds.search",
    "prepare_run": "coordinator.rounds.prepare",
    "PreparedRun": "coordinator.rounds.prepared_run",
    "SearchStepper": "coordinator.rounds.stepper",
    "Progress": "coordinator.rounds.stepper",
    "SilentProgress": "coordinator.rounds.stepper",
    "Executor": "coordinator.rounds.executors",
    "InProcessExecutor": "coordinator.rounds.executors",
    "RayExecutor": "coordinator.rounds.executors",
    "open_executor": "coordinator.rounds.executors",
    "Checkpoint": "coordinator.rounds.checkpoint",
    "load_checkpoint": "coordinator.rounds.checkpoint",
    # what a run saves and answers
    "SearchResult": "coordinator.results.result",
    "load_result": "coordinator.results.result",
    "RoundRecord": "coordinator.results.records",
    "StopReason": "coordinator.results.records",
    "Evaluation": "coordinator.results.evaluation",
    "RegressionEvaluation": "coordinator.results.evaluation",
    # what people call and see
    "HillClimbClassifier": "coordinator.interface.estimator",
    "HillClimbRegressor": "coordinator.interface.estimator",
    "LineProgress": "coordinator.interface.progress",
    "JsonProgress": "coordinator.interface.progress",
    "ProgressGroup": "coordinator.interface.progress",
    "RayMetrics": "coordinator.interface.ray_metrics",
    "export_onnx": "coordinator.interface.export",
    "export_c": "coordinator.interface.export_c",
    "plot_run": "coordinator.interface.plot",
    "predict_file": "coordinator.interface.predict",
}

__all__ = sorted(_HOMES)

# Modules that moved into the rooms, by their old names: an import of one still works (with a warning naming
# its new home). `coordinator.search`, `.data` and `.rounds` are not among them: those names now belong to the
# function `search` and to two rooms.
_MOVED = {
    "coordinator.best": "coordinator.rounds.best",
    "coordinator.checkpoint": "coordinator.rounds.checkpoint",
    "coordinator.checkpoint_writer": "coordinator.rounds.checkpoint_writer",
    "coordinator.cli": "coordinator.interface.cli",
    "coordinator.columns": "coordinator.data.columns",
    "coordinator.combine": "coordinator.rounds.combine",
    "coordinator.environments": "coordinator.data.environments",
    "coordinator.estimator": "coordinator.interface.estimator",
    "coordinator.evaluation": "coordinator.results.evaluation",
    "coordinator.executors": "coordinator.rounds.executors",
    "coordinator.export": "coordinator.interface.export",
    "coordinator.flags": "coordinator.interface.flags",
    "coordinator.metrics": "coordinator.interface.ray_metrics",
    "coordinator.objectives": "coordinator.rounds.objective_round",
    "coordinator.plot": "coordinator.interface.plot",
    "coordinator.predict": "coordinator.interface.predict",
    "coordinator.prepare": "coordinator.rounds.prepare",
    "coordinator.prepare_objective": "coordinator.rounds.prepare_objective",
    "coordinator.prepared": "coordinator.rounds.prepared_run",
    "coordinator.progress": "coordinator.interface.progress",
    "coordinator.reference": "coordinator.interface.reference",
    "coordinator.result": "coordinator.results.result",
    "coordinator.scaling": "coordinator.data.scaling",
    "coordinator.seeds": "coordinator.rounds.seeds",
    "coordinator.splits": "coordinator.data.splits",
    "coordinator.stepper": "coordinator.rounds.stepper",
    "coordinator.tables": "coordinator.data.tables",
}


class _MovedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds a module by its old name and hands over the module at its new home (the same object)."""

    def find_spec(self, name, path=None, target=None):
        """A spec for an old name, None for any other."""
        return importlib.util.spec_from_loader(name, self) if name in _MOVED else None

    def create_module(self, spec):
        """The module at its new home, imported."""
        warnings.warn(f"{spec.name} is now {_MOVED[spec.name]}", DeprecationWarning, stacklevel=2)
        return import_module(_MOVED[spec.name])

    def exec_module(self, module):
        """Nothing runs (the module ran at its new home); the import system gave it the old name's spec: it gets its
        own back."""
        module.__spec__ = importlib.util.spec_from_file_location(module.__name__, module.__file__)


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())


def __getattr__(name: str):
    """Load `name` from its module on first use."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
