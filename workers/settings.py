"""What one climb does: the strategy and its step rules, each setting declared once.

Every climb setting is declared here, once: its name, type, range, default and a one-line
description. The search's config (`coordinator.config.SearchConfig`) extends this model, and
its YAML keys, command-line flags and help all derive from these declarations.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workers.losses import CLASSIFIER_LOSSES, REGRESSION_LOSSES

Strategy = Literal["adjust", "random"]
StepScope = Literal["global", "parameter"]
Engine = Literal["numba", "numpy"]
# The network's weights (workers.grid: float, or scale * an integer level of int8, ternary or binary), its
# hidden layers' activation, and the loss a climb minimises.
Weights = Literal["float", "int8", "ternary", "binary"]
Activation = Literal["relu", "tanh", "sign", "step"]
Loss = Literal["cross_entropy", "error", "mse", "mae"]  # a classifier's (objective.CLASSIFIER_LOSSES), a regressor's

# Bounds on an adapted step size: below the floor a step changes nothing in float64,
# above the ceiling a step throws a network into saturation and never comes back.
MIN_STEP_SIZE = 1e-9
MAX_STEP_SIZE = 1e3

# The chapter's rule of random adjustment: every parameter moves by step_size * randn each step,
# with a fixed step size. The defaults below are this project's (chosen by measurement).
SEED_RULE: dict[str, Any] = {"mutation_rate": 1.0, "adaptive": False, "step_scope": "global"}


# The automatic cap on the parameters a step moves is AUTO_CAP / parameters, fitted to the step rules measured
# side by side (bench/step_rules.py, BENCHMARKS.md): 8 keeps the chapter's 2-64-3 at its 2% (387 parameters, 8
# a step, which beat 1, 2 and 5 there), and the wider 2-64-64-3, 64-32-10 and 784-32-10 move one a step,
# which climbs at least as far in the same time and makes the most steps a second.
AUTO_CAP = 3000.0


def auto_max_mutations(num_params: int) -> int:
    """The most parameters a step moves when max_mutations is None: round(AUTO_CAP / num_params), at least 1."""
    return max(1, round(AUTO_CAP / num_params))


def setting(default: Any, description: str, section: str, **constraints: Any) -> Any:
    """A pydantic Field that also names the help section it belongs to (for flags and docs)."""
    return Field(default, description=description, json_schema_extra={"section": section}, **constraints)


def finite_non_negative(value: float | None) -> float | None:
    """The value if it is None or a finite number >= 0; otherwise a ValueError that quotes it."""
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise ValueError(f"must be a finite number >= 0, got {value!r}")
    return value


class ClimbSettings(BaseModel):
    """How a climber moves: strategy, steps, step size and its adaptation, engine."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    strategy: Strategy = setting(
        "adjust", "'adjust' (hill climb: keep a change only if the loss falls) or 'random' (fresh weights)", "climb"
    )
    steps: int = setting(20_000, "steps each climber makes per round", "climb", ge=1)
    step_size: float = setting(0.05, "starting step size (the chapter's 0.05)", "climb")
    mutation_rate: float = setting(
        0.02, "fraction of the parameters changed per step; 1.0 moves all of them (the chapter)", "climb"
    )
    # A step's cost grows with the parameters it moves (each is evaluated on the samples it reaches), and on a
    # wide network a few per step climb fastest (2% of 784-32-10's 25,450 would be 509 a step); on the chapter's
    # small ones 2% is best. The automatic cap follows both (bench/step_rules.py, BENCHMARKS.md).
    max_mutations: int | None = setting(
        None,
        f"most parameters changed per step below a mutation_rate of 1; none = round({AUTO_CAP:g} / parameters), "
        "at least 1: 8 on the chapter's 2-64-3, 1 on 64-32-10 or wider",
        "climb", ge=1,
    )  # fmt: skip
    adaptive: bool = setting(
        True, "adapt step sizes by the one-fifth success rule; off keeps the chapter's fixed step", "climb"
    )
    step_scope: StepScope = setting("parameter", "'parameter' (a step size per parameter) or 'global' (one)", "climb")
    # One-fifth success rule: a success multiplies the step by `step_growth`, a failure by
    # `step_growth ** -0.25`, so the step holds still at a success rate of one in five.
    step_growth: float = setting(2.0, "step factor after a success; a failure applies growth ** -0.25", "climb")
    random_steps: int = setting(0, "random-search steps each climber makes before its first adjust step", "climb", ge=0)
    engine: Engine = setting("numba", "'numba' (the compiled kernel) or 'numpy' (the plain reference)", "climb")
    # The objective adds l2 / (2 * samples) * the sum of squared weights (biases excluded): scikit-learn
    # MLPClassifier's `alpha` term, so its values transfer.
    l2: float = setting(
        0.0, "L2 penalty on the weights, as scikit-learn's MLPClassifier alpha (loss + l2 / 2n * sum w^2)", "climb"
    )

    weights: Weights = setting(
        "float",
        "the weights: 'float', or a per-layer scale times an integer, 'int8' (-127..127), 'ternary' (-1, 0, 1) "
        "or 'binary' (-1, 1), climbed on that grid (biases stay float)",
        "network",
    )
    activation: Activation = setting(
        "relu", "the hidden layers' activation: 'relu' (the chapter's), 'tanh', 'sign' (-1, +1) or 'step' (0, 1)",
        "network",
    )  # fmt: skip
    # One setting for both tasks; which names fit is checked against the task (the coordinator's config) or the
    # rows (`workers.rows.with_loss`). None: the task's default, cross-entropy or mse.
    loss: Loss | None = setting(
        None,
        "what a climb minimises: a classifier's 'cross_entropy' (the chapter's) or 'error' (the error rate, "
        "cross-entropy breaking ties: it needs no gradient, and suits step and sign units); a regressor's 'mse' "
        "(mean squared error) or 'mae' (mean absolute error); none = cross_entropy for a classifier, mse for a "
        "regressor",
        "climb",
    )

    @model_validator(mode="after")
    def _grid_climbs(self) -> ClimbSettings:
        if self.weights != "float" and (self.strategy == "random" or self.random_steps > 0):
            raise ValueError(
                f"weights: random search draws float weights; {self.weights!r} weights need strategy 'adjust' "
                "and random_steps 0"
            )
        return self

    @field_validator("step_size")
    @classmethod
    def _positive_finite(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"must be a positive finite number, got {value!r}")
        return value

    @field_validator("mutation_rate")
    @classmethod
    def _fraction(cls, value: float) -> float:
        if not (0 < value <= 1):
            raise ValueError(f"must lie in (0, 1], got {value!r}")
        return value

    @field_validator("step_growth")
    @classmethod
    def _growth(cls, value: float) -> float:
        if not (math.isfinite(value) and value > 1):
            raise ValueError(f"must be a finite number above 1, got {value!r}")
        return value

    @field_validator("l2")
    @classmethod
    def _penalty(cls, value: float | None) -> float | None:
        # None only where a subclass allows it (the coordinator resolves it before any climb).
        return finite_non_negative(value)

    @property
    def step_shrink(self) -> float:
        """Factor applied to the step after a failure."""
        return self.step_growth**-0.25

    def mutated_count(self, num_params: int) -> int:
        """Parameters changed per adjust step: mutation_rate of them, at least 1 and at most max_mutations
        (`auto_max_mutations` when it is None); all of them (`num_params`) at a rate of 1."""
        if self.mutation_rate >= 1.0:
            return num_params
        cap = self.max_mutations if self.max_mutations is not None else auto_max_mutations(num_params)
        return max(1, min(num_params, cap, round(self.mutation_rate * num_params)))

    def climb_settings(self) -> ClimbSettings:
        """Only the climb settings (a subclass, such as the search's config, carries more)."""
        return ClimbSettings(**{name: getattr(self, name) for name in ClimbSettings.model_fields})


def resolved_loss(loss: str | None, regression: bool) -> str:
    """The loss a climb minimises: `loss`, or the task's default (a classifier's cross-entropy, a regressor's mse)."""
    if loss is not None:
        return loss
    return REGRESSION_LOSSES[0] if regression else CLASSIFIER_LOSSES[0]


def loss_mismatch(loss: str | None, regression: bool) -> str | None:
    """Why `loss` does not fit the task (one line, naming the setting), or None where it does (or is unset)."""
    if loss is None or (loss in REGRESSION_LOSSES) == regression:
        return None
    if regression:
        return f"loss: {loss!r} is a classifier's loss; a regressor minimises {' or '.join(REGRESSION_LOSSES)}"
    return f"loss: {loss!r} is a regressor's loss; a classifier minimises {' or '.join(CLASSIFIER_LOSSES)}"
