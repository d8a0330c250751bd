"""Numerics: huge logits, overflow, NaN and infinite weights; both engines agree, and a NaN never wins.

The compiled kernel's loss is log(sum_c exp(z_c - z_true)) with polynomial exp and log
(workers.fastmath); numpy's is -log(softmax(z)[true]) with the row maximum subtracted. On the same
logits the two agree within 1e-9 relative, plus 2 ulp of 1.0 absolute (near the 1e-7 clip the loss
is -log of a number within 1e-7 of 1, which float64 holds only to an ulp of 1), and the kernel's is
NaN exactly where numpy's is. Over a whole network the two forward passes add in different orders
(numpy's matmul may fuse), so their logits differ by rounding: the losses then agree within that
plus twice the rounding (cross-entropy moves by at most twice the largest change of a logit).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from coordinator import SearchConfig, search
from coordinator.data.datasets import nnfs_data
from coordinator.results.records import Environment
from coordinator.rounds.best import Best, better_of
from workers import ClimbOutcome, ClimbReport, ClimbSettings, Layout, Solution, climb, evaluate, fastmath, from_scratch
from workers.network import CLIP, cross_entropy, evaluate_compiled, logits, softmax

LOSS_LOW, LOSS_HIGH = -math.log(1 - CLIP), -math.log(CLIP)
# Rounding of a forward pass, relative to the same pass over absolute values (n * epsilon, n <= 8).
FORWARD_ROUNDING = 1e-14
# How well float64 knows a loss near the 1e-7 clip: -log(p) for p within 1e-7 of 1, to 2 ulp of 1.0.
NEAR_ONE = 2 * np.finfo(np.float64).eps

PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _kernel_loss_of_logits(values: np.ndarray, labels: np.ndarray) -> float:
    """The kernel's loss of logits (S, C)."""
    columns = np.ascontiguousarray(values.T, dtype=np.float64)
    return from_scratch.loss_from_logits(columns, labels.astype(np.int64))


def _numpy_loss_of_logits(values: np.ndarray, labels: np.ndarray) -> float:
    """numpy's loss of logits (S, C), as workers.network.evaluate computes it."""
    with np.errstate(over="ignore", invalid="ignore"):
        return float(cross_entropy(softmax(values), labels))


def _assert_same_loss(actual: float, expected: float, slack: float = 0.0) -> None:
    if math.isnan(expected):
        assert math.isnan(actual), (actual, expected)
    else:
        assert abs(actual - expected) <= 1e-9 * abs(expected) + NEAR_ONE + slack, (actual, expected, slack)


# --- fastmath against numpy --------------------------------------------------------------------------


@PROPERTY
@given(st.floats(min_value=-708.0, max_value=709.0))
def test_fastmath_exp_is_numpy_exp(x):
    assert math.isclose(fastmath.exp(x), math.exp(x), rel_tol=1e-14)


@PROPERTY
@given(st.floats(min_value=2.2250738585072014e-308, max_value=1.7976931348623157e308))
def test_fastmath_log_is_numpy_log_for_positive_normal_numbers(x):
    assert math.isclose(fastmath.log(x), math.log(x), rel_tol=1e-14, abs_tol=1e-300)


def test_fastmath_exp_saturates_and_keeps_nan():
    """Documented: exp saturates at exp(709) and exp(-745) (the loss is clipped long before); NaN stays NaN."""
    assert fastmath.exp(710.0) == fastmath.exp(math.inf) == fastmath.exp(709.0) == pytest.approx(math.exp(709.0))
    assert fastmath.exp(-746.0) == fastmath.exp(-math.inf) == fastmath.exp(-745.0) == 5e-324
    assert math.isnan(fastmath.exp(math.nan))


# --- the loss of given logits ------------------------------------------------------------------------

INF, NAN = math.inf, math.nan
EXTREME_LOGITS = {
    "ordinary": ([1.0, 2.0, 3.0], 0),
    "true class +inf": ([INF, 0.0, 0.0], 0),
    "other class +inf": ([0.0, INF, 0.0], 0),
    "true class -inf": ([-INF, 0.0, 0.0], 0),
    "other class -inf": ([0.0, -INF, 0.0], 0),
    "two -inf, true among them": ([-INF, -INF, 0.0], 0),
    "all -inf": ([-INF, -INF, -INF], 1),
    "NaN in the true class": ([NAN, 0.0, 0.0], 0),
    "NaN in another class": ([0.0, NAN, 0.0], 0),
    "+inf and -inf": ([INF, -INF, 0.0], 2),
    "largest floats, true lowest": ([1.7e308, -1.7e308, 0.0], 1),
    "largest floats, true highest": ([1.7e308, -1.7e308, 0.0], 0),
    "huge and equal": ([1e300, 1e300, 1e300], 2),
    "true far below": ([-800.0, 0.0, 0.0], 0),
    "true far above": ([800.0, 0.0, 0.0], 0),
    "near the upper clip": ([0.0, 16.0, 16.0], 0),
    "near the lower clip": ([16.0, 0.0, 0.0], 0),
}


@pytest.mark.parametrize("case", list(EXTREME_LOGITS))
def test_the_kernel_loss_of_extreme_logits_is_numpys(case):
    row, label = EXTREME_LOGITS[case]
    values, labels = np.array([row, [0.5, 0.0, -0.5]]), np.array([label, 1])
    _assert_same_loss(_kernel_loss_of_logits(values, labels), _numpy_loss_of_logits(values, labels))


LOGIT = st.one_of(
    st.floats(min_value=-40.0, max_value=40.0),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([INF, -INF, NAN, 1e308, -1e308, 709.0, -745.0]),
)


@PROPERTY
@given(st.data())
def test_the_kernel_loss_of_any_logits_is_numpys(data):
    samples, classes = data.draw(st.integers(1, 6)), data.draw(st.integers(2, 5))
    values = data.draw(arrays(np.float64, (samples, classes), elements=LOGIT))
    labels = data.draw(arrays(np.int64, samples, elements=st.integers(0, classes - 1)))
    expected = _numpy_loss_of_logits(values, labels)
    actual = _kernel_loss_of_logits(values, labels)
    _assert_same_loss(actual, expected)
    assert math.isnan(actual) or LOSS_LOW <= actual <= LOSS_HIGH


# --- the loss of a network ---------------------------------------------------------------------------


def _network(data, exponent_range):
    """A random network and data set: (params, X, labels, layout), magnitudes 10 ** drawn exponents."""
    hidden = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=2))
    layout = Layout((data.draw(st.integers(1, 3)), *hidden, data.draw(st.integers(2, 4))))
    samples = data.draw(st.integers(1, 8))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    weight_scale, feature_scale = (10.0 ** data.draw(st.floats(*exponent_range)) for _ in range(2))
    params = weight_scale * rng.standard_normal(layout.num_params)
    X = feature_scale * rng.standard_normal((samples, layout.num_inputs))
    labels = rng.integers(0, layout.num_classes, samples)
    return params, X, labels, layout


def _kernel_network_loss(params, X, labels, layout):
    return evaluate_compiled(params, X, labels, layout)[0]


def _forward_rounding(params, X, layout):
    """A bound on how far two orders of adding can move a logit: rounding times the absolute pass."""
    with np.errstate(over="ignore", invalid="ignore"):
        absolute = logits(np.abs(params), np.abs(X), layout)  # ReLU never bites: every value is >= 0
    finite = absolute[np.isfinite(absolute)]
    return 2 * FORWARD_ROUNDING * (float(finite.max()) if finite.size else 0.0)


@PROPERTY
@given(st.data())
def test_the_kernel_loss_of_a_network_is_numpys_even_with_nan_and_infinite_weights(data):
    params, X, labels, layout = _network(data, (-2.0, 2.0))
    for _ in range(data.draw(st.integers(0, 2))):
        index = data.draw(st.integers(0, layout.num_params - 1))
        params[index] = data.draw(st.sampled_from([INF, -INF, NAN]))
    expected = float(evaluate(params, X, labels, layout)[0])
    _assert_same_loss(_kernel_network_loss(params, X, labels, layout), expected, _forward_rounding(params, X, layout))


@PROPERTY
@given(st.data())
def test_huge_weights_and_features_give_a_clipped_or_nan_loss_without_warnings(data):
    params, X, labels, layout = _network(data, (-3.0, 160.0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow is expected here: it must not warn (or, under -W error, crash)
        expected, accuracy = (float(value) for value in evaluate(params, X, labels, layout))
    actual = _kernel_network_loss(params, X, labels, layout)
    assert math.isnan(actual) or LOSS_LOW <= actual <= LOSS_HIGH  # the kernel keeps its mean within the clip
    # numpy's mean of thousands of terms on a bound can round an ulp or so beyond it (35,631 rows did)
    assert math.isnan(expected) or LOSS_LOW * (1 - 1e-12) <= expected <= LOSS_HIGH * (1 + 1e-12)
    assert 0.0 <= accuracy <= 1.0
    with np.errstate(over="ignore", invalid="ignore"):
        absolute = logits(np.abs(params), np.abs(X), layout)
    if np.all(np.isfinite(absolute)):  # no sum can overflow, in any order: both are numbers, and agree
        assert not math.isnan(expected)
        _assert_same_loss(actual, expected, _forward_rounding(params, X, layout))


def test_a_network_with_a_nan_loss_gets_no_accuracy():
    layout = Layout((2, 3, 2))
    params = np.full(layout.num_params, np.nan)
    loss, accuracy = evaluate(params, np.ones((4, 2)), np.zeros(4, dtype=np.int64), layout)
    assert math.isnan(loss) and accuracy == 0.0  # argmax of a NaN row would have said class 0


# --- climbs from extreme places ----------------------------------------------------------------------

SPIRAL = nnfs_data("spiral", 20, 3)
VARIANTS = [
    dict(mutation_rate=1.0, adaptive=True),  # dense
    dict(mutation_rate=0.1, adaptive=True, step_scope="parameter"),  # sparse, incremental
    dict(strategy="random"),
]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    weight_exponent=st.floats(-2.0, 200.0),
    feature_exponent=st.floats(0.0, 150.0),
    step_size=st.sampled_from([0.05, 10.0, 1e3]),
    variant=st.sampled_from(range(len(VARIANTS))),
    engine=st.sampled_from(["numba", "numpy"]),
    poison=st.sampled_from([None, INF, NAN]),
)
def test_a_climb_from_an_extreme_start_never_crashes_and_never_takes_a_nan(
    weight_exponent, feature_exponent, step_size, variant, engine, poison
):
    X, y = SPIRAL
    X = X.astype(np.float64) * 10.0**feature_exponent
    layout = Layout((2, 6, 3))
    params = 10.0**weight_exponent * np.random.default_rng(1).standard_normal(layout.num_params)
    if poison is not None:
        params[layout.num_params - 1] = poison  # an output bias: every sample's logit of the last class
    start = Solution(params, np.full(layout.num_params, step_size))
    start_loss = float(evaluate(params, X, y, layout)[0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outcome = climb(
            start, 3, X, y, layout, ClimbSettings(steps=60, step_size=step_size, engine=engine, **VARIANTS[variant])
        )
    assert 0.0 <= outcome.score <= 1.0
    if not math.isnan(start_loss):
        assert not math.isnan(outcome.loss)  # a NaN candidate is never taken
        if VARIANTS[variant].get("strategy") != "random":
            assert outcome.loss <= start_loss + 1e-12


# --- the global best ---------------------------------------------------------------------------------

LOSS = st.one_of(st.floats(0.0, 20.0), st.just(NAN), st.just(INF), st.sampled_from([0.5, 1.0]))


def _report_best(loss, climber, round_index=0):
    return Best(round_index, climber, ClimbOutcome(np.full(1, float(climber)), np.zeros(1), loss, 0.5, 0))


@PROPERTY
@given(losses=st.lists(LOSS, min_size=1, max_size=12), order=st.randoms(use_true_random=False))
def test_better_of_never_lets_a_nan_win_whatever_the_order(losses, order):
    reports = [_report_best(loss, climber) for climber, loss in enumerate(losses)]
    arrival = list(reports)
    order.shuffle(arrival)
    best = None
    for report in arrival:
        best = better_of(best, report)
    numbers = [loss for loss in losses if not math.isnan(loss)]
    if not numbers:
        assert math.isnan(best.loss)  # nothing better to hold
        assert best.climber_index == 0  # all NaN: the lowest climber, whatever the arrival order
        return
    assert best.loss == min(numbers)
    assert best.climber_index == losses.index(min(numbers))  # lowest climber among equals, in any order


@PROPERTY
@given(incumbent=LOSS, candidate=LOSS)
def test_a_number_always_beats_a_nan_and_a_nan_never_beats_anything(incumbent, candidate):
    winner = better_of(_report_best(incumbent, 0, round_index=0), _report_best(candidate, 1, round_index=1))
    if math.isnan(candidate):
        assert winner.climber_index == 0
    elif math.isnan(incumbent):
        assert winner.climber_index == 1


class _NanExecutor:
    """Climbers whose losses the test chooses: NaN for some, numbers for others."""

    workers = 1

    def __init__(self, losses_by_round):
        self.losses_by_round = losses_by_round

    def run_round(self, start, tasks):
        """Reports with the chosen losses, last climber first."""
        for task in reversed(tasks):
            loss = self.losses_by_round[task.round_index][task.climber_index]
            params = np.full(Layout((2, 3, 3)).num_params, float(task.climber_index))
            outcome = ClimbOutcome(params, np.ones_like(params), loss, 0.5, 10)
            yield ClimbReport(round_index=task.round_index, climber_index=task.climber_index, outcome=outcome)

    def workers_alive(self):
        """One, always."""
        return 1

    def environment(self):
        """Nowhere in particular."""
        return Environment(executor="inprocess")

    def close(self):
        """Nothing to release."""


def test_a_round_with_nan_losses_keeps_a_number_as_the_best():
    losses = [[NAN, 0.9, NAN], [NAN, NAN, NAN], [0.4, NAN, 0.7]]
    config = SearchConfig(dataset="vertical", layers=(2, 3, 3), climbers=3, rounds=3, time_budget=None)
    result = search(config, executor=_NanExecutor(losses))
    assert [record.best_loss for record in result.history] == [0.9, 0.9, 0.4]
    assert [record.winning_climber for record in result.history] == [1, None, 0]
    assert result.best_loss == 0.4 and result.params[0] == 0.0
