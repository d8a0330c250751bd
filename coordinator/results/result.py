"""A search's result: what was asked, what was found, how it went, where it ran; saved and reloaded."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from cluster.atomic_files import atomic_save_npz, atomic_write_text
from coordinator.config import ConfigError, SearchConfig, current_names
from coordinator.data.columns import column_names, match_columns
from coordinator.data.datasets import class_indices, encode_targets
from coordinator.data.scaling import Scaling
from coordinator.results.evaluation import Evaluation, RegressionEvaluation, evaluation_of, regression_evaluation_of
from coordinator.results.records import (
    DataRecord,
    Environment,
    ObjectiveRecord,
    RoundRecord,
    StopReason,
    regressor_fields,
)
from coordinator.results.run_files import RESULT_FILE, WEIGHTS_FILE
from workers.network import Layout, evaluate_compiled, logits, softmax
from workers.policy import PolicySpec, outputs
from workers.settings import resolved_loss


class SearchResult(BaseModel):
    """The best network a search found, with its history; `save` and `load_result` round-trip it."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    config: SearchConfig
    best_loss: float  # the loss the climbs minimise, on the training rows (with the L2 term), or the objective's
    best_accuracy: float | None = None  # a classifier's, on the training rows (None: a regressor, an objective)
    best_r2: float | None = None  # a regressor's R^2 on the training rows (None: a classifier, an objective)
    rounds_completed: int
    evaluations: int
    wall_seconds: float
    stopped_because: StopReason
    history: list[RoundRecord]
    environment: Environment
    params: np.ndarray  # (P,) flat weights and biases, as workers.network.Layout lays them out
    step_sizes: np.ndarray  # (P,)
    data: DataRecord | None = None  # None in results saved before runs recorded their data
    scaling: Scaling = Scaling(kind="none")
    selected_round: int | None = None  # the round whose best was kept for its held-out score
    validation_loss: float | None = None  # of the kept network, on the held-out rows that picked it
    validation_accuracy: float | None = None  # a classifier's
    validation_r2: float | None = None  # a regressor's
    test_loss: float | None = None  # on the held-out test rows of a scikit-learn data set
    test_accuracy: float | None = None  # a classifier's
    test_r2: float | None = None  # a regressor's
    start_sha256: str | None = None  # of the network a warm start began from (None: each climber's own)
    objective: ObjectiveRecord | None = None  # what the run minimised, when it learnt from no data
    policy: PolicySpec | None = None  # an environment's policy: how observations and actions meet the network
    target_scaling: Scaling | None = None  # a regressor's, fitted on its training targets

    @property
    def regression(self) -> bool:
        """Whether the network predicts numbers (a regressor) rather than classes."""
        return self.config.task == "regression"

    @property
    def score_name(self) -> str | None:
        """What the network's score is: a classifier's "accuracy", a regressor's "R^2" (None: an objective's run)."""
        if self.objective is not None:
            return None
        return "R^2" if self.regression else "accuracy"

    @property
    def best_score(self) -> float | None:
        """The score on the training rows: best_accuracy or best_r2, whichever the task has."""
        return self.best_r2 if self.regression else self.best_accuracy

    @property
    def validation_score(self) -> float | None:
        """The score on the held-out rows that picked the network: validation_accuracy or validation_r2."""
        return self.validation_r2 if self.regression else self.validation_accuracy

    @property
    def test_score(self) -> float | None:
        """The score on the test rows: test_accuracy or test_r2."""
        return self.test_r2 if self.regression else self.test_accuracy

    @property
    def loss_name(self) -> str:
        """What held-out rows are scored by: a classifier's cross-entropy, a regressor's "mse" or "mae" (its loss)."""
        return resolved_loss(self.config.loss, True) if self.regression else "cross_entropy"

    @property
    def classes(self) -> list[int | str]:
        """The label each output stands for, in order."""
        return list(self.data.class_labels) if self.data is not None else list(range(self.layout.num_classes))

    @property
    def layout(self) -> Layout:
        """Where each layer's weights and biases sit in params."""
        return Layout(tuple(self.config.layers), self.config.activation, self.config.weights)

    @property
    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(weights (n_in, n_out), biases (1, n_out)) for each layer."""
        return self.layout.unpack(self.params)

    def predict_values(self, X) -> np.ndarray:
        """A regressor's predictions (S, T) for features X (S, F), in the targets' own units."""
        self._classifier("predict_values")
        if not self.regression:
            raise ConfigError("predict_values: this network is a classifier; use predict or predict_proba")
        outputs = logits(self.params, self.scaling.apply(self._features(X)), self.layout)
        return (self.target_scaling or Scaling(kind="none")).invert(outputs)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (S, C) for features X (S, F), columns in the order of `classes`.

        A data frame's columns are matched to the run's feature names, when it recorded them; a row
        that is not all finite numbers is refused (a ConfigError naming it), never answered.
        """
        self._classifier("predict_proba")
        if self.regression:
            raise ConfigError("predict_proba: this network is a regressor; it predicts numbers (predict)")
        return softmax(logits(self.params, self.scaling.apply(self._features(X)), self.layout))

    def predict_log_proba(self, X) -> np.ndarray:
        """The logarithm of predict_proba (S, C), computed without underflow to -inf where it can be."""
        self._classifier("predict_log_proba")
        if self.regression:
            raise ConfigError("predict_log_proba: this network is a regressor; it predicts numbers (predict)")
        values = logits(self.params, self.scaling.apply(self._features(X)), self.layout)
        shifted = values - values.max(axis=1, keepdims=True)
        return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))

    def _features(self, X) -> np.ndarray:
        """X as (samples, features) float64, columns matched by name; a ConfigError if it does not fit the network."""
        names = column_names(X)
        try:
            X = np.asarray(X, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError("input: X must be a rectangular array of numbers") from None
        if X.ndim == 1 and self.layout.num_inputs == 1:
            X = X[:, None]
        if X.ndim == 2 and self.data is not None:
            X = match_columns(X, names, self.data.feature_names, "input")
        if X.ndim != 2 or X.shape[1] != self.layout.num_inputs:
            raise ConfigError(f"input: expected (samples, {self.layout.num_inputs}) features, got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            row, column = (int(index) for index in np.argwhere(~np.isfinite(X))[0])
            raise ConfigError(
                f"input: row {row}, column {column} is {X[row, column]}; the network answers finite numbers only"
            )
        return X

    def _classifier(self, what: str) -> None:
        """Refuse what only a network of data answers, for a run that learnt a policy or minimised a function."""
        if self.policy is not None:
            raise ConfigError(
                f"{what}: this run learnt a policy for {self.config.env}; predict(observations) gives its actions, "
                "rollout(episodes) its returns on unseen episodes"
            )
        if self.objective is not None:
            raise ConfigError(
                f"{what}: this run minimised {self.objective.name}, a function of the parameters, not a loss on rows; "
                "its answer is params"
            )

    def predict(self, X) -> np.ndarray:
        """The most probable class's label (S,) for features X (S, F); for a policy, its actions for observations X.

        A policy's actions: (S,) integers for a discrete action space, (S, *shape) for a box. A regressor's
        numbers: (S,) for one target, (S, T) for several.
        """
        if self.regression:
            values = self.predict_values(X)
            return values[:, 0] if values.shape[1] == 1 else values
        if self.policy is not None:
            return self.act(X)
        self._classifier("predict")  # a run that minimised a function: said of predict, not of predict_proba
        return np.asarray(self.classes)[np.argmax(self.predict_proba(X), axis=1)]

    def act(self, observations) -> np.ndarray:
        """A policy's actions for observations: one observation, or (S, ...) of them."""
        if self.policy is None:
            raise ConfigError("act: this run did not learn a policy for an environment")
        try:
            inputs = self.policy.inputs(observations)
        except (TypeError, ValueError) as error:
            raise ConfigError(str(error)) from None
        if not np.all(np.isfinite(inputs)):
            raise ConfigError("observations: must be finite numbers")
        return self.policy.actions(outputs(self.params, inputs, self.layout))  # inputs made once: states one-hot

    def rollout(self, episodes: int = 100, seed: int = 0):
        """A policy's returns on `episodes` episodes it never trained on (needs gymnasium): an EpisodeEvaluation."""
        from coordinator.data.environments import evaluate_policy

        if self.policy is None or self.config.env is None:
            raise ConfigError("rollout: this run did not learn a policy for an environment")
        return evaluate_policy(self.config.env, self.policy, tuple(self.config.layers), self.params, episodes, seed)

    def score(self, X, y) -> float:
        """Accuracy on labelled rows (labels as the run saw them), as scikit-learn's `score`; a regressor's R^2."""
        self._classifier("score")
        evaluation = self.evaluate(X, y)
        return evaluation.r2 if isinstance(evaluation, RegressionEvaluation) else evaluation.accuracy

    def evaluate(self, X, y) -> Evaluation | RegressionEvaluation:
        """Loss, accuracy, per-class precision and recall, and the confusion matrix on labelled rows.

        A regressor's: MSE, MAE and R^2 of its predictions, in the targets' own units.
        """
        self._classifier("evaluate")
        if self.regression:
            targets = encode_targets(y, "targets")
            predicted = self.predict_values(X)
            if targets.shape != predicted.shape:
                raise ConfigError(
                    f"targets: expected {predicted.shape[1]} per row for {len(predicted)} rows, "
                    f"got shape {targets.shape}"
                )
            return regression_evaluation_of(predicted, targets)
        labels = class_indices(self.classes, y)
        X = self._features(X)
        # The loss from the compiled code (the same bits on every CPU); the classes from the probabilities.
        loss, _ = evaluate_compiled(self.params, self.scaling.apply(X), labels, self.layout)
        return evaluation_of(np.argmax(self.predict_proba(X), axis=1), labels, self.classes, loss)

    def summary(self) -> dict:
        """The JSON-ready part of the result (everything but the arrays)."""
        return self.model_dump(mode="json", exclude={"params", "step_sizes"})

    def save(self, directory: str | Path) -> Path:
        """Write result.json and weights.npz into directory, each atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {"params": self.params, "step_sizes": self.step_sizes}
        layout = self.layout
        levels = layout.levels(self.params) if layout.on_grid else None
        for index, (weights, biases) in enumerate(self.layers):
            if levels is not None:  # on a grid: the integers and their scale; weights_i * scale_i is the layer's
                arrays[f"weights_{index}"] = levels[index]
                arrays[f"scale_{index}"] = np.float64(layout.scales[index])
            else:
                arrays[f"weights_{index}"] = weights
            arrays[f"biases_{index}"] = biases
        # result.json goes last and names the finished run: until the new one is in place there is
        # none, so a crash in between never pairs an old result.json with new weights.
        (directory / RESULT_FILE).unlink(missing_ok=True)
        atomic_save_npz(directory / WEIGHTS_FILE, **arrays)
        atomic_write_text(directory / RESULT_FILE, json.dumps(self.summary(), indent=2) + "\n")
        return directory


def load_result(directory: str | Path) -> SearchResult:
    """Read back what SearchResult.save wrote (arrays never unpickled)."""
    directory = Path(directory)
    result_path, weights_path = directory / RESULT_FILE, directory / WEIGHTS_FILE
    for path in (result_path, weights_path):
        if not path.is_file():
            raise ConfigError(f"{path}: missing; is {directory} a finished run directory?")
    try:
        summary = json.loads(result_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ConfigError(f"{result_path}: not valid JSON (truncated or corrupt)") from None
    if not isinstance(summary, dict):
        raise ConfigError(f"{result_path}: expected a JSON object, got a {type(summary).__name__}")
    try:
        with np.load(weights_path, allow_pickle=False) as archive:
            params, step_sizes = archive["params"], archive["step_sizes"]
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, ValueError, TypeError):
        raise ConfigError(f"{weights_path}: not a readable weights file (truncated or corrupt)") from None
    if isinstance(summary.get("config"), dict):
        summary["config"] = current_names(summary["config"])
        if summary["config"].get("task") == "regression":  # R^2 under a classifier's names, in an older file
            summary = regressor_fields(summary)
            if isinstance(summary.get("history"), list):
                summary["history"] = [
                    regressor_fields(record) if isinstance(record, dict) else record for record in summary["history"]
                ]
    try:
        result = SearchResult(**summary, params=params, step_sizes=step_sizes)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise ConfigError(f"{result_path}: field {field}: {first['msg']}") from None
    except TypeError:  # a field named params or step_sizes: not something save() wrote
        raise ConfigError(f"{result_path}: not a result file (unexpected fields)") from None
    if params.shape != (result.layout.num_params,) or step_sizes.shape != params.shape:
        raise ConfigError(
            f"{weights_path}: parameters of shape {params.shape} do not fit layers {list(result.config.layers)}"
        )
    if result.layout.on_grid:
        try:
            result.layout.levels(params)
        except ValueError as error:
            raise ConfigError(f"{weights_path}: {error}") from None
    return result
