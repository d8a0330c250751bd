"""The search as a scikit-learn classifier: `HillClimbClassifier` fits, predicts and scores like any other.

It works in a Pipeline, in cross_val_score and in GridSearchCV; labels of any kind round-trip
exactly (the search learns class indices; `classes_` maps them back). The estimator's parameters
are SearchConfig's settings under their own names, except scikit-learn's `hidden_layer_sizes`
and `random_state`; `search_config` is the one place that maps them, and SearchConfig checks them.

    >>> from sklearn.datasets import load_iris
    >>> from coordinator import HillClimbClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = HillClimbClassifier(rounds=3, steps=300).fit(X, y)
    >>> model.n_iter_, model.predict(X[:2]).tolist(), model.score(X, y) > 0.8
    (3, [0, 0], True)
"""

from __future__ import annotations

import numbers
import re
from pathlib import Path
from typing import Any

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
except ImportError as error:  # an optional extra: the service itself never needs scikit-learn
    raise ImportError(
        "HillClimbClassifier needs scikit-learn; install it with pip install 'hillclimb[sklearn]'"
    ) from error

try:
    from sklearn.utils.validation import validate_data
except ImportError:  # scikit-learn before 1.6 validates through the estimator's own method

    def validate_data(estimator, *args, **kwargs):
        """scikit-learn 1.6's validate_data, on an older scikit-learn."""
        return estimator._validate_data(*args, **kwargs)


from coordinator.config import (
    DEFAULT_L2,
    DEFAULT_SCALING,
    DEFAULT_VALIDATION_FRACTION,
    ConfigError,
    SearchConfig,
    make_config,
)
from coordinator.prepare import prepare_run
from coordinator.result import SearchResult
from coordinator.search import run_prepared
from workers import Solution

# Estimator parameters that are SearchConfig fields under scikit-learn's names.
SKLEARN_NAMES = {"hidden_layer_sizes": "hidden", "random_state": "seed"}
# Estimator parameters that are SearchConfig fields under the same names.
SEARCH_SETTINGS = (
    "steps",
    "climbers",
    "rounds",
    "patience",
    "time_budget",
    "mutation_rate",
    "step_size",
    "l2",
    "scaling",
    "validation_fraction",
)
EXECUTORS = ("ray", "inprocess")


# SearchConfig's own defaults, where the estimator keeps them (declared once, there).
MUTATION_RATE = SearchConfig.model_fields["mutation_rate"].default
STEP_SIZE = SearchConfig.model_fields["step_size"].default


class HillClimbClassifier(ClassifierMixin, BaseEstimator):
    """A small neural network (dense, ReLU, softmax) trained by many hill climbs, as a scikit-learn classifier.

    The defaults suit scikit-learn's use: a fixed amount of work (at most `rounds` rounds of
    `climbers` x `steps` steps, stopping after `patience` rounds without a lower loss on the 20% of
    rows held out), so a fit is a function of the data and `random_state` alone, on any machine.
    time_budget (seconds) caps a fit's time instead, at the price of a result that depends on speed.
    random_state: an int seed; None means 0; a numpy RandomState gives one draw from itself.
    executor: "inprocess" (every climb in this process: no Ray to start, a fit of iris in under a
    second) or "ray" (climbers on Ray actors: a local Ray shared by every fit of the process, or
    the cluster at `address`; worth its start-up when rounds are long). Both give the same result.
    l2: the L2 penalty on the weights, as MLPClassifier's alpha (the same term, so the same values).
    warm_start: a refit starts from the previous fit's network and step sizes. verbose: 1 prints a
    progress line per round on stderr.
    """

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        steps=1000,
        climbers=4,
        rounds=100,
        patience=10,
        time_budget=None,
        mutation_rate=MUTATION_RATE,
        step_size=STEP_SIZE,
        l2=DEFAULT_L2,
        scaling=DEFAULT_SCALING,
        validation_fraction=DEFAULT_VALIDATION_FRACTION,
        random_state=None,
        executor="inprocess",
        address=None,
        warm_start=False,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.steps = steps
        self.climbers = climbers
        self.rounds = rounds
        self.patience = patience
        self.time_budget = time_budget
        self.mutation_rate = mutation_rate
        self.step_size = step_size
        self.l2 = l2
        self.scaling = scaling
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.executor = executor
        self.address = address
        self.warm_start = warm_start
        self.verbose = verbose

    def fit(self, X, y):
        """Search for the network that best fits X (samples, features) and labels y of any kind; returns self."""
        config = search_config(self.get_params())
        self._check_running_options()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, indices = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y: has one class ({classes[0]!r}); a classifier needs at least two")
        start = self._warm_start_network(classes, X.shape[1], config)
        # Class indices, not the labels: labels of any dtype (floats, booleans, objects) come back exactly.
        prepared = prepare_run(config, X, indices.reshape(-1), start=start)
        if self.executor == "ray":
            from cluster.connect import shared_local_ray

            shared_local_ray(self.address)  # every fit of this process uses one Ray, started once
        progress = None
        if self.verbose:
            from coordinator.progress import LineProgress

            progress = LineProgress(config.time_budget)
        try:
            result = run_prepared(prepared, self.executor, self.address, progress)
        finally:
            if progress is not None:
                progress.close()  # end a live line before whatever is printed next
        self.classes_ = classes
        self.result_ = _with_labels(result, classes)
        self.loss_ = result.best_loss
        self.n_iter_ = result.rounds_completed
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (samples, classes), columns in the order of `classes_`."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.result_.predict_proba(X)

    def predict(self, X) -> np.ndarray:
        """The most probable class's label for each row of X."""
        probabilities = self.predict_proba(X)  # first: it says "not fitted" before classes_ is wanted
        return self.classes_[np.argmax(probabilities, axis=1)]

    def to_onnx(self, path: str | Path) -> Path:
        """Write the fitted network as an ONNX graph (see coordinator.export), labels as `classes_`."""
        check_is_fitted(self)
        from coordinator.export import export_onnx

        return export_onnx(self.result_, path, classes=self.classes_)

    def _check_running_options(self) -> None:
        """The parameters that are not search settings, each in one line naming it."""
        if self.executor not in EXECUTORS:
            raise ValueError(f"executor: must be 'ray' or 'inprocess', got {self.executor!r}")
        if self.address is not None and (self.executor != "ray" or not isinstance(self.address, str)):
            raise ValueError(f"address: a Ray address (text) for executor='ray' only, got {self.address!r}")
        if not isinstance(self.warm_start, (bool, np.bool_)):
            raise ValueError(f"warm_start: must be True or False, got {self.warm_start!r}")
        if not isinstance(self.verbose, numbers.Integral) or self.verbose < 0:
            raise ValueError(f"verbose: must be an integer >= 0, got {self.verbose!r}")

    def _warm_start_network(self, classes: np.ndarray, features: int, config: SearchConfig) -> Solution | None:
        """The previous fit's network to start from, with warm_start and a fit before; ValueError if it cannot."""
        if not self.warm_start or not hasattr(self, "result_"):
            return None
        previous = self.result_
        if len(classes) != len(self.classes_) or not np.array_equal(classes, self.classes_):
            raise ValueError(
                f"warm_start: y has classes {classes.tolist()}, the previous fit had {self.classes_.tolist()}; "
                "set warm_start=False to start afresh"
            )
        layers = (features, *config.hidden, len(classes))
        if tuple(previous.config.layers) != layers:
            raise ValueError(
                f"warm_start: the previous fit's network is {_sizes(previous.config.layers)}, this fit's would be "
                f"{_sizes(layers)}; set warm_start=False to start afresh"
            )
        return Solution(previous.params, previous.step_sizes)


def search_config(params: dict[str, Any]) -> SearchConfig:
    """The SearchConfig an estimator's parameters stand for; a ValueError in one line names the bad parameter."""
    values = {name: _plain(params[name]) for name in SEARCH_SETTINGS}
    values[SKLEARN_NAMES["hidden_layer_sizes"]] = _hidden_sizes(params["hidden_layer_sizes"])
    values[SKLEARN_NAMES["random_state"]] = _seed(params["random_state"])
    try:
        config = make_config(values)
    except ConfigError as error:
        raise ConfigError(_estimator_names(str(error))) from None
    if config.patience is not None and config.validation_fraction == 0:
        raise ConfigError(
            "patience: counts rounds without a lower loss on held-out rows; with validation_fraction=0 "
            "none are held out, so set patience=None too"
        )
    return config


def _estimator_names(message: str) -> str:
    """A SearchConfig message with its field named as the estimator names it (seed -> random_state)."""
    for parameter, field in SKLEARN_NAMES.items():
        message = re.sub(rf"^{field}\b", parameter, message)
    return message


def _plain(value: Any) -> Any:
    """numpy scalars (as a parameter grid of numpy values gives them) as the Python numbers SearchConfig takes."""
    return value.item() if isinstance(value, np.generic) else value


def _hidden_sizes(value: Any) -> Any:
    """hidden_layer_sizes as SearchConfig's hidden: 64 or (64,) or [64, 32]; anything else left for it to refuse."""
    if isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_)):
        return (int(value),)
    if isinstance(value, (tuple, list, np.ndarray)):
        return tuple(_plain(size) for size in value)
    return value


def _seed(random_state: Any) -> Any:
    """The search's seed: an int as it is, None as 0, one draw from a RandomState (which moves it on)."""
    if random_state is None:
        return 0
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(np.iinfo(np.int32).max))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, (bool, np.bool_)):
        return int(random_state)
    raise ConfigError(f"random_state: must be an int >= 0, None or a numpy RandomState, got {random_state!r}")


def _with_labels(result: SearchResult, classes: np.ndarray) -> SearchResult:
    """The result with its classes named by the labels where a result can hold them (whole numbers or text).

    Other labels (floats, booleans, mixed objects) stay class indices into `classes_` in the result.
    """
    if classes.dtype.kind in "iu" or all(
        isinstance(label, numbers.Integral) and not isinstance(label, (bool, np.bool_)) for label in classes
    ):
        labels = [int(label) for label in classes]
    elif all(isinstance(label, str) for label in classes):
        labels = [str(label) for label in classes]
    else:
        return result
    return result.model_copy(update={"data": result.data.model_copy(update={"class_labels": labels})})


def _sizes(layers) -> str:
    return "-".join(map(str, layers))
