"""A black-box objective: the user's function of a network's flat parameter vector, as a climb calls it.

`f(params) -> float`, lower is better, `params` the flat vector (P,) in `workers.network.Layout`
order; or `f(params, seed)`, where `seed` is the round's seed, the same for every climber of a round
(common random numbers: a noisy objective, such as an environment's return over a few episodes,
then compares every candidate of a round on the same draws); or a batch form, `f(params) -> (B,)`
for params (B, P), scoring several vectors in one call. Either form may be seeded.

A climb calls `Objective.losses` on a batch (B, P) whatever the form, and gets (B,) float64 back. A
value that is not a real number, a wrong shape, or an exception raised by `f` is an `ObjectiveCallError`
(the worker names the climber and round); a non-finite number (NaN, an infinity) becomes NaN, which
never wins a comparison.
"""

from __future__ import annotations

import inspect
import math
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class ObjectiveError(ValueError):
    """A user's objective failed: one line naming the climber and round, and what went wrong."""


class ObjectiveCallError(Exception):
    """What went wrong in one call of an objective; `row`: the failing row of the batch (None: the whole call)."""

    def __init__(self, message: str, row: int | None = None):
        super().__init__(message)
        self.message = message
        self.row = row


def required_positional(function: Callable) -> int | None:
    """How many positional arguments `function` needs (None: its signature cannot be read)."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return None
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    parameters = signature.parameters.values()
    return sum(1 for parameter in parameters if parameter.kind in kinds and parameter.default is parameter.empty)


def callable_name(function: Callable) -> str:
    """A function's name as a person reads it: module.qualname, or the type of a callable object."""
    name = getattr(function, "__qualname__", None) or type(function).__qualname__
    module = getattr(function, "__module__", None) or type(function).__module__
    return f"{module}.{name}" if module and module != "builtins" else name


@dataclass(frozen=True)
class Objective:
    """A function to minimise over a network's parameters, and how it is called.

    seeded: f(params, seed) gets the round's seed (an int below 2**63); batch: f scores (B, P) at once,
    returning (B,). `Objective.of(f)` reads `seeded` from f's signature (two required positional
    arguments) and leaves batch off; give an `Objective` to say otherwise.
    """

    function: Callable[..., Any]
    seeded: bool = False
    batch: bool = False
    name: str = field(default="")

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise TypeError(f"objective: must be callable, got {type(self.function).__name__}")
        if not self.name:
            object.__setattr__(self, "name", callable_name(self.function))
        self._check_arguments()

    def _check_arguments(self) -> None:
        """A TypeError now, not in round 0, for a function that cannot take what it will be given."""
        try:
            signature = inspect.signature(self.function)
        except (TypeError, ValueError):
            return  # a signature Python cannot read (some builtins): its first call tells
        form = "f(params, seed)" if self.seeded else "f(params)"
        try:
            signature.bind(*([None] * (2 if self.seeded else 1)))
        except TypeError:
            raise TypeError(
                f"objective: {self.name}{signature} cannot be called as {form}; an objective takes the parameters, "
                "and a seeded one the round's seed too"
            ) from None

    @classmethod
    def of(cls, function: Callable[..., Any] | Objective) -> Objective:
        """An Objective as given, or a plain callable's: seeded when it takes two required positional arguments."""
        if isinstance(function, Objective):
            return function
        if not callable(function):
            kind = type(function).__name__
            raise TypeError(f"objective: must be a function f(params) or f(params, seed), not {kind}")
        return cls(function, seeded=required_positional(function) == 2)

    def warm_up(self) -> None:
        """Let an objective that holds resources (environments) create them before the first round is timed."""
        warm = getattr(self.function, "warm_up", None)
        if callable(warm):
            warm()

    def losses(self, params: np.ndarray, seed: int | None) -> np.ndarray:
        """(B,) float64 losses of params (B, P); NaN where f gave a non-finite number. Raises ObjectiveCallError."""
        params = np.asarray(params, dtype=np.float64)
        arguments = (seed,) if self.seeded else ()
        if self.batch:
            values = self._call(params.copy(), arguments, None)
            losses = _as_batch(values, params.shape[0])
        else:
            losses = np.empty(params.shape[0])
            for row in range(params.shape[0]):
                # A copy: the function may keep or change what it is handed; the climb's rows stay its own.
                losses[row] = _as_number(self._call(params[row].copy(), arguments, row), row)
        losses[~np.isfinite(losses)] = np.nan
        return losses

    def _call(self, params: np.ndarray, arguments: tuple, row: int | None) -> Any:
        try:
            return self.function(params, *arguments)
        except Exception as error:
            raise ObjectiveCallError(describe_exception(error), row) from error


def describe_exception(error: BaseException) -> str:
    """`raised ZeroDivisionError: division by zero (at objective.py:12, in f)`: the innermost frame named."""
    text = f"raised {type(error).__name__}"
    message = str(error).strip().splitlines()
    if message:
        text += f": {message[0]}"
    frames = traceback.extract_tb(error.__traceback__)
    if frames:
        last = frames[-1]
        text += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}, in {last.name})"
    return text


def _as_number(value: Any, row: int | None) -> float:
    """A real number from what f returned (a float, an int, a numpy scalar or a one-element array)."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        raise ObjectiveCallError(f"returned {value!r}; expected a number", row)
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ObjectiveCallError(f"returned a {type(value).__name__}; expected a number", row) from None
    if array.size != 1:
        raise ObjectiveCallError(f"returned an array of shape {array.shape}; expected a number", row)
    number = float(array.reshape(()))
    return number if math.isfinite(number) else math.nan


def _as_batch(values: Any, count: int) -> np.ndarray:
    """(count,) float64 from what a batch f returned for `count` vectors."""
    try:
        array = np.array(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise ObjectiveCallError(f"returned a {type(values).__name__}; expected {count} numbers") from None
    if array.shape not in ((count,), (count, 1)):
        raise ObjectiveCallError(f"returned shape {array.shape} for {count} parameter vectors; expected ({count},)")
    return array.reshape(count)
