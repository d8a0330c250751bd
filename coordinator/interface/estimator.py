"""The search as a scikit-learn classifier and regressor: `HillClimbClassifier` and `HillClimbRegressor` fit,
predict and score like any other.

It works in a Pipeline, in cross_val_score and in GridSearchCV; labels of any kind round-trip
exactly (the search learns class indices; `classes_` maps them back). The estimator's parameters
are SearchConfig's settings, under scikit-learn's names where the meaning is scikit-learn's
(`hidden_layer_sizes`, `random_state`, `alpha`, `max_iter`, `n_iter_no_change`, `early_stopping`,
`validation_fraction`) and under their own otherwise; `search_config` is the one place that maps
them, and SearchConfig checks them.

    >>> from sklearn.datasets import load_iris
    >>> from coordinator import HillClimbClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> model = HillClimbClassifier(max_iter=3, steps=300).fit(X, y)
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
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted
except ImportError as error:  # an optional extra: the service itself never needs scikit-learn
    raise ImportError(
        "HillClimbClassifier and HillClimbRegressor need scikit-learn; install it with pip install 'hillclimb[sklearn]'"
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
from coordinator.results.result import SearchResult
from coordinator.rounds.prepare import prepare_run
from coordinator.rounds.search import run_prepared
from workers import Solution
from workers.losses import REGRESSION_LOSSES

# Estimator parameters that are SearchConfig fields under scikit-learn's names (MLPClassifier's, same meaning).
SKLEARN_NAMES = {
    "hidden_layer_sizes": "hidden",
    "random_state": "seed",
    "alpha": "l2",
    "max_iter": "rounds",
    "n_iter_no_change": "patience",
}
# Estimator parameters that are SearchConfig fields under the same names.
SEARCH_SETTINGS = (
    "steps",
    "climbers",
    "combine",
    "time_budget",
    "mutation_rate",
    "step_size",
    "scaling",
    "validation_fraction",
    "weights",
    "activation",
    "loss",
    "climb_while_starting",
)
EXECUTORS = ("ray", "inprocess")


# SearchConfig's own defaults, where the estimator keeps them (declared once, there).
MUTATION_RATE = SearchConfig.model_fields["mutation_rate"].default
COMBINE = SearchConfig.model_fields["combine"].default
STEP_SIZE = SearchConfig.model_fields["step_size"].default
WEIGHTS = SearchConfig.model_fields["weights"].default
ACTIVATION = SearchConfig.model_fields["activation"].default
LOSS = SearchConfig.model_fields["loss"].default  # None: the task's default (a classifier's cross-entropy)
CLIMB_WHILE_STARTING = SearchConfig.model_fields["climb_while_starting"].default
# The regressor names its default loss, as it did before the loss setting served both tasks.
REGRESSOR_LOSS = REGRESSION_LOSSES[0]


class _SearchEstimator:
    """What both estimators share: running the search on checked arrays, the running options, warm starts."""

    def _search(self, config: SearchConfig, X: np.ndarray, y: np.ndarray, start: Solution | None) -> SearchResult:
        """Prepare and run the search on checked arrays; the result."""
        prepared = prepare_run(config, X, y, start=start)
        if self.executor == "ray":
            from cluster.connect import shared_local_ray
            from cluster.quiet import ray_logs_to_file

            with ray_logs_to_file():  # Ray's notices go to its log files, as the search's own do
                shared_local_ray(self.address)  # every fit of this process uses one Ray, started once
        progress = None
        if self.verbose:
            from coordinator.interface.labels import figure_names
            from coordinator.interface.progress import LineProgress

            progress = LineProgress(config.time_budget, names=figure_names(prepared.config, prepared.data))
        try:
            result = run_prepared(prepared, self.executor, self.address, progress)
        finally:
            if progress is not None:
                progress.close()  # end a live line before whatever is printed next
        return result

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

    def _warm_start_network(self, classes: np.ndarray | None, features: int, config: SearchConfig) -> Solution | None:
        """The previous fit's network to start from, with warm_start and a fit before; ValueError if it cannot."""
        if not self.warm_start or not hasattr(self, "result_"):
            return None
        previous = self.result_
        if classes is None:  # a regressor's: its outputs stand for the classes
            layers = (features, *config.hidden, previous.layout.num_classes)
            if tuple(previous.config.layers) != layers or previous.layout.num_inputs != features:
                raise ValueError(
                    f"warm_start: the previous fit's network is {_sizes(previous.config.layers)}, this fit's takes "
                    f"{features} features and hidden layers {_sizes(config.hidden)}; set warm_start=False to start "
                    "afresh"
                )
            return Solution(previous.params, previous.step_sizes)
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


class HillClimbClassifier(ClassifierMixin, _SearchEstimator, BaseEstimator):
    """A small neural network (dense, ReLU or another activation, softmax) trained by many hill climbs, as a
    scikit-learn classifier.

    The defaults suit scikit-learn's use: a fixed amount of work (at most `max_iter` rounds of
    `climbers` x `steps` steps; with `early_stopping`, stopping after `n_iter_no_change` rounds
    without a better score on the `validation_fraction` of rows held out), so a fit is a function
    of the data and `random_state` alone, on any machine. time_budget (seconds) caps a fit's time
    instead, at the price of a result that depends on speed.
    random_state: an int seed; None means 0; a numpy RandomState gives one draw from itself.
    executor: "inprocess" (every climb in this process: no Ray to start, a fit of iris in under a
    second) or "ray" (climbers on Ray actors: a local Ray shared by every fit of the process, or
    the cluster at `address`; worth its start-up when rounds are long). Both give the same result.
    climb_while_starting: with executor "ray", climb in this process while the actors start (False:
    every climb waits for them); the same result either way.
    combine: what a round keeps, "recombine" (the best climber or a recombination of the climbers'
    changes that scores lower) or "best" (the best climber).
    alpha: the L2 penalty on the weights, MLPClassifier's alpha (the same term, so the same values).
    weights: "float", or a per-layer scale times integers, "int8", "ternary" or "binary", climbed on that
    grid; activation: the hidden units, "relu", "tanh", "sign" or "step"; loss: what a climb minimises,
    None or "cross_entropy" or "error" (the error rate, cross-entropy breaking ties); a regressor's "mse" or "mae"
    are refused.
    early_stopping: hold validation_fraction of the rows out (stratified) and keep the network that
    scores best on them; False learns from every row and keeps the last network.
    warm_start: a refit starts from the previous fit's network and step sizes. verbose: 1 prints a
    progress line per round on stderr.
    """

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        steps=1000,
        climbers=4,
        combine=COMBINE,
        max_iter=100,
        early_stopping=True,
        n_iter_no_change=10,
        validation_fraction=DEFAULT_VALIDATION_FRACTION,
        time_budget=None,
        mutation_rate=MUTATION_RATE,
        step_size=STEP_SIZE,
        alpha=DEFAULT_L2,
        scaling=DEFAULT_SCALING,
        weights=WEIGHTS,
        activation=ACTIVATION,
        loss=LOSS,
        random_state=None,
        executor="inprocess",
        address=None,
        climb_while_starting=CLIMB_WHILE_STARTING,
        warm_start=False,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.steps = steps
        self.climbers = climbers
        self.combine = combine
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.time_budget = time_budget
        self.mutation_rate = mutation_rate
        self.step_size = step_size
        self.alpha = alpha
        self.scaling = scaling
        self.weights = weights
        self.activation = activation
        self.loss = loss
        self.random_state = random_state
        self.executor = executor
        self.address = address
        self.climb_while_starting = climb_while_starting
        self.warm_start = warm_start
        self.verbose = verbose

    def fit(self, X, y):
        """Search for the network that best fits X (samples, features) and labels y of any kind; returns self."""
        config = search_config(self.get_params())
        self._check_running_options()
        X, y = validate_data(self, X, y, dtype=np.float64)
        try:
            check_classification_targets(y)
        except ValueError as error:  # scikit-learn's words (its checks look for them), and what to do
            raise ValueError(f"{error}; to predict numbers, use HillClimbRegressor") from None
        classes, indices = np.unique(y, return_inverse=True)
        if len(classes) < 2:
            raise ValueError(f"y: has one class ({classes[0]!r}); a classifier needs at least two")
        start = self._warm_start_network(classes, X.shape[1], config)
        # Class indices, not the labels: labels of any dtype (floats, booleans, objects) come back exactly.
        result = self._search(config, X, indices.reshape(-1), start)
        self.classes_ = classes
        self.result_ = _with_labels(result, classes, getattr(self, "feature_names_in_", None))
        self.loss_ = result.best_loss
        self.n_iter_ = result.rounds_completed
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (samples, classes), columns in the order of `classes_`."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.result_.predict_proba(X)

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of the class probabilities (samples, classes), columns in the order of `classes_`."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return self.result_.predict_log_proba(X)

    def predict(self, X) -> np.ndarray:
        """The most probable class's label for each row of X."""
        probabilities = self.predict_proba(X)  # first: it says "not fitted" before classes_ is wanted
        return self.classes_[np.argmax(probabilities, axis=1)]

    def to_onnx(self, path: str | Path, dtype: str = "float32") -> Path:
        """Write the fitted network as an ONNX graph (`interface.export`), labels as `classes_`; X of dtype."""
        check_is_fitted(self)
        from coordinator.interface.export import export_onnx

        return export_onnx(self.result_, path, classes=self.classes_, dtype=dtype)

    def export_c(self, path: str | Path, name: str | None = None) -> Path:
        """Write the fitted network as one C99 header (`interface.export_c`): the class index of `classes_`."""
        check_is_fitted(self)
        from coordinator.interface.export_c import export_c

        return export_c(self.result_, path, name, classes=self.classes_)


class HillClimbRegressor(RegressorMixin, _SearchEstimator, BaseEstimator):
    """A small neural network (dense, ReLU, a linear output) trained by many hill climbs, as a scikit-learn regressor.

    HillClimbClassifier's parameters, the same names and defaults, but weights and activation (a regressor's
    network has float weights and ReLU units), and loss: "mse" (mean squared error, the default) or "mae"
    (mean absolute error). y: numbers (samples,) or (samples, outputs); targets are scaled
    (standard) on the training rows and predictions scaled back. `score` is R^2 (scikit-learn's
    regressors' score); early_stopping keeps the network with the lowest loss on the held-out rows.

        >>> from sklearn.datasets import load_diabetes
        >>> X, y = load_diabetes(return_X_y=True)
        >>> model = HillClimbRegressor(max_iter=3, steps=300).fit(X, y)
        >>> model.predict(X[:2]).shape, model.score(X, y) > 0.2
        ((2,), True)
    """

    def __init__(
        self,
        hidden_layer_sizes=(64,),
        *,
        loss=REGRESSOR_LOSS,
        steps=1000,
        climbers=4,
        combine=COMBINE,
        max_iter=100,
        early_stopping=True,
        n_iter_no_change=10,
        validation_fraction=DEFAULT_VALIDATION_FRACTION,
        time_budget=None,
        mutation_rate=MUTATION_RATE,
        step_size=STEP_SIZE,
        alpha=DEFAULT_L2,
        scaling=DEFAULT_SCALING,
        random_state=None,
        executor="inprocess",
        address=None,
        climb_while_starting=CLIMB_WHILE_STARTING,
        warm_start=False,
        verbose=0,
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.loss = loss
        self.steps = steps
        self.climbers = climbers
        self.combine = combine
        self.max_iter = max_iter
        self.early_stopping = early_stopping
        self.n_iter_no_change = n_iter_no_change
        self.validation_fraction = validation_fraction
        self.time_budget = time_budget
        self.mutation_rate = mutation_rate
        self.step_size = step_size
        self.alpha = alpha
        self.scaling = scaling
        self.random_state = random_state
        self.executor = executor
        self.address = address
        self.climb_while_starting = climb_while_starting
        self.warm_start = warm_start
        self.verbose = verbose

    def __sklearn_tags__(self):
        """Several targets at once are welcome."""
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags

    def fit(self, X, y):
        """Search for the network that best fits X (samples, features) to numbers y (samples,) or (samples, outputs)."""
        config = search_config(self.get_params(), regression=True)
        self._check_running_options()
        X, y = validate_data(self, X, y, dtype=np.float64, multi_output=True, y_numeric=True)
        start = self._warm_start_network(None, X.shape[1], config)
        result = self._search(config, X, y, start)
        names = getattr(self, "feature_names_in_", None)
        self.result_ = result if names is None else _with_feature_names(result, names)
        self.loss_ = result.best_loss
        self.n_iter_ = result.rounds_completed
        self.n_outputs_ = 1 if np.ndim(y) == 1 else y.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """The predicted numbers: (samples,) for one target, (samples, outputs) for several."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        values = self.result_.predict_values(X)
        return values[:, 0] if self.n_outputs_ == 1 else values

    def to_onnx(self, path: str | Path, dtype: str = "float32") -> Path:
        """Write the fitted network as an ONNX graph (`interface.export`): output `prediction`; X of dtype."""
        check_is_fitted(self)
        from coordinator.interface.export import export_onnx

        return export_onnx(self.result_, path, dtype=dtype)

    def export_c(self, path: str | Path, name: str | None = None) -> Path:
        """Write the fitted network as one C99 header (`interface.export_c`): NAME_predict(x, y) fills y."""
        check_is_fitted(self)
        from coordinator.interface.export_c import export_c

        return export_c(self.result_, path, name)


def _with_feature_names(result: SearchResult, feature_names) -> SearchResult:
    """The result with a data frame's column names recorded, so that a saved run matches columns by name."""
    update = {"feature_names": [str(name) for name in feature_names]}
    return result.model_copy(update={"data": result.data.model_copy(update=update)})


def search_config(params: dict[str, Any], regression: bool = False) -> SearchConfig:
    """The SearchConfig an estimator's parameters stand for; a ValueError in one line names the bad parameter."""
    # A regressor has no weights or activation parameters: its network is float, ReLU (SearchConfig's defaults).
    values = {name: _plain(params[name]) for name in SEARCH_SETTINGS if name in params}
    if regression:
        values["task"] = "regression"
    for parameter in ("alpha", "max_iter", "n_iter_no_change"):
        values[SKLEARN_NAMES[parameter]] = _plain(params[parameter])
    values[SKLEARN_NAMES["hidden_layer_sizes"]] = _hidden_sizes(params["hidden_layer_sizes"])
    values[SKLEARN_NAMES["random_state"]] = _seed(params["random_state"])
    early_stopping = params["early_stopping"]
    if not isinstance(early_stopping, (bool, np.bool_)):
        raise ConfigError(f"early_stopping: must be True or False, got {early_stopping!r}")
    if not early_stopping:  # as MLPClassifier: no rows held out, validation_fraction and patience unused
        values |= {"validation_fraction": 0.0, "patience": None}
    try:
        config = make_config(values)
    except ConfigError as error:
        raise ConfigError(_estimator_names(str(error))) from None
    if early_stopping and config.validation_fraction == 0:
        raise ConfigError(
            "validation_fraction: early_stopping holds rows out to score the network on; give a fraction above 0, "
            "or early_stopping=False to learn from every row"
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


def _with_labels(result: SearchResult, classes: np.ndarray, feature_names=None) -> SearchResult:
    """The result with its classes named by the labels where a result can hold them (whole numbers or text).

    Other labels (floats, booleans, mixed objects) stay class indices into `classes_` in the result.
    feature_names (a data frame's columns, `feature_names_in_`) are recorded, so the saved run matches columns.
    """
    update = {} if feature_names is None else {"feature_names": [str(name) for name in feature_names]}
    if classes.dtype.kind in "iu" or all(
        isinstance(label, numbers.Integral) and not isinstance(label, (bool, np.bool_)) for label in classes
    ):
        update["class_labels"] = [int(label) for label in classes]
    elif all(isinstance(label, str) for label in classes):
        update["class_labels"] = [str(label) for label in classes]
    return result.model_copy(update={"data": result.data.model_copy(update=update)})


def _sizes(layers) -> str:
    return "-".join(map(str, layers))
