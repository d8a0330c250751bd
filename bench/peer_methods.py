"""The peers (gradient-free methods beside this project's search) and the objective they minimise: a library.

bench/peers.py runs the peers (each one process, one core); bench/population_es.py takes its data set
rows from `problem_data`; bench/real_data.py and bench/regression.py run PGPE on their rows
(`pgpe_on_rows`).

The objective is the seed's network and loss (dense layers, ReLU, softmax, categorical
cross-entropy clipped at 1e-7) on a data set's training rows, as a function of one flat float64
parameter vector laid out by `workers.network.Layout`. Its data come from the project's own
`prepare_run`, with no validation rows: the chapter's spiral and vertical as they are (no test
rows), and scikit-learn's digits split 75/25 (stratified, data seed 0) and scaled (standard,
fitted on the training rows) exactly as the project splits and scales it.

Two ways to compute it (`kind`): "numpy" (`workers.network.evaluate`; population methods hand it
their whole population as one (B, P) batch) and "compiled" (the workers package's compiled
from-scratch loss, see `compiled_loss`, called once per member of a batch). It counts every
evaluation, keeps the best point evaluated so far, and records (seconds, best loss so far) each
time the best improves; accuracy and the test figures are computed for the best point after the
clock stops. The clock starts when the peer's optimiser is about to be built (after imports, data
loading and the compiled loss's first call) and every peer stops at the first check after the
budget has run out.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from workers.network import Layout, evaluate, init_params

# The seed's problems (nnfs data, 100 samples per class, 3 classes) with the seed's layer sizes,
# and scikit-learn's digits (8x8 images, 10 classes) with one hidden layer of 32.
LAYERS = {"spiral": (2, 64, 3), "vertical": (2, 3, 3), "digits": (64, 32, 10)}
OBJECTIVE_KINDS = ("numpy", "compiled")
# A loss the optimisers can rank in place of NaN (never happens with finite parameters).
NAN_LOSS = 1e6


@dataclass(frozen=True)
class ProblemData:
    """The rows a peer learns from and, for a scikit-learn data set, the rows it is tested on (scaled)."""

    features: np.ndarray
    labels: np.ndarray
    test_features: np.ndarray | None
    test_labels: np.ndarray | None


def problem_data(dataset: str) -> ProblemData:
    """The training (and test) rows of a data set, split and scaled by the project's prepare_run."""
    from coordinator import SearchConfig
    from coordinator.rounds.prepare import prepare_run

    prepared = prepare_run(SearchConfig(dataset=dataset, layers=LAYERS[dataset], validation_fraction=0.0))
    training, test = prepared.dataset, prepared.test

    def arrays(part):
        if part is None:
            return None, None
        return np.ascontiguousarray(part.X, dtype=np.float64), np.ascontiguousarray(part.labels, dtype=np.int64)

    return ProblemData(*arrays(training), *arrays(test))


def compiled_loss(layout: Layout, X: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], float]:
    """The workers package's compiled from-scratch loss of one network (P,) on (X, y), as a function."""
    from workers.network import evaluate_compiled

    return lambda params: float(evaluate_compiled(params, X, y, layout)[0])


@dataclass
class Objective:
    """Loss of flat parameter vectors on one data set, with the bookkeeping every peer shares."""

    dataset: str
    budget_s: float
    kind: str = "numpy"
    data: ProblemData = field(init=False, repr=False)
    layout: Layout = field(init=False)
    evaluations: int = 0
    best_loss: float = math.inf
    best_params: np.ndarray | None = field(default=None, repr=False)
    trace: list[tuple[float, float]] = field(default_factory=list, repr=False)
    started: float | None = None
    stopped: float | None = None
    cpu_started: float | None = None
    cpu_stopped: float | None = None
    _loss: Callable[[np.ndarray], float] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVE_KINDS:
            raise ValueError(f"objective: choose from {', '.join(OBJECTIVE_KINDS)}, got {self.kind!r}")
        self.data = problem_data(self.dataset)
        self.layout = Layout(LAYERS[self.dataset])
        if self.kind == "compiled":
            self._loss = compiled_loss(self.layout, self.data.features, self.data.labels)
            self._loss(self.initial_params(0))  # compiles or loads the cache before any clock starts

    @property
    def num_params(self) -> int:
        """Length of a parameter vector."""
        return self.layout.num_params

    def initial_params(self, seed: int) -> np.ndarray:
        """The seed's starting point: 0.01 * randn weights, zero biases, from a private Generator."""
        return init_params(self.layout, np.random.default_rng(seed))

    def start(self) -> None:
        """Start the clock."""
        self.started = time.monotonic()
        self.cpu_started = time.process_time()

    def elapsed(self) -> float:
        """Seconds since start."""
        return time.monotonic() - self.started

    def expired(self) -> bool:
        """True once the budget is spent; also marks the stop time."""
        now = time.monotonic()
        if now - self.started >= self.budget_s:
            self.stopped, self.cpu_stopped = now, time.process_time()
            return True
        return False

    def seconds(self) -> float:
        """Seconds the search ran (start to the check that stopped it)."""
        return (self.stopped or time.monotonic()) - self.started

    def cpu_seconds(self) -> float:
        """CPU seconds this process spent while the search ran (all threads)."""
        return (self.cpu_stopped or time.process_time()) - self.cpu_started

    def __call__(self, params: np.ndarray) -> np.ndarray | float:
        """Loss of one vector (P,) as a float, or of a batch (B, P) as an array (B,)."""
        params = np.ascontiguousarray(params, dtype=np.float64)
        if self._loss is not None:
            losses = np.array([self._loss(row) for row in np.atleast_2d(params)])
        else:
            losses = np.atleast_1d(evaluate(params, self.data.features, self.data.labels, self.layout)[0])
        losses = np.where(np.isnan(losses), NAN_LOSS, losses)
        self.evaluations += losses.size
        index = int(np.argmin(losses))
        if losses[index] < self.best_loss:
            self.best_loss = float(losses[index])
            self.best_params = (params if params.ndim == 1 else params[index]).copy()
            self.trace.append((self.elapsed(), self.best_loss))
        return float(losses[0]) if params.ndim == 1 else losses

    def figures(self) -> dict:
        """Training accuracy of the best point, and its test loss and accuracy where there are test rows."""
        _, accuracy = evaluate(self.best_params, self.data.features, self.data.labels, self.layout)
        figures = {"accuracy": float(accuracy), "test_loss": None, "test_accuracy": None}
        if self.data.test_features is not None:
            test_loss, test_accuracy = evaluate(
                self.best_params, self.data.test_features, self.data.test_labels, self.layout
            )
            figures.update(test_loss=float(test_loss), test_accuracy=float(test_accuracy))
        return figures


# ---------------------------------------------------------------------------------------------
# The peers. Each takes the objective and a seed and runs until objective.expired(); each returns
# a dict of the settings it used (for the JSON record).

SEED_STEP = 0.05
SEED_BLOCK = 256  # steps whose noise is drawn at once (a numpy call per step costs as much as a loss)


def run_seed(objective: Objective, seed: int) -> dict:
    """The seed's loop: every parameter += 0.05 * randn, keep if the loss drops, revert otherwise."""
    rng = np.random.default_rng(seed)
    objective.start()
    best = objective.initial_params(seed)
    lowest_loss = 9_999_999.0  # as in the seed: the first candidate is always kept
    while True:
        noise = rng.standard_normal((SEED_BLOCK, best.size))
        for step in range(SEED_BLOCK):
            if objective.expired():
                return {"step_size": SEED_STEP, "mutation": "every parameter", "init": "0.01*randn weights, 0 biases"}
            candidate = best + SEED_STEP * noise[step]
            loss = objective(candidate)
            if loss < lowest_loss:
                best, lowest_loss = candidate, loss


ONEPLUSONE_SIGMA = 0.1


def run_oneplusone(objective: Objective, seed: int) -> dict:
    """nevergrad's OnePlusOne (a (1+1)-ES with its own one-fifth step rule), one ask/tell per loss."""
    import nevergrad as ng

    objective.start()
    parametrization = ng.p.Array(init=objective.initial_params(seed)).set_mutation(sigma=ONEPLUSONE_SIGMA)
    parametrization.random_state = np.random.RandomState(seed)
    optimizer = ng.optimizers.OnePlusOne(parametrization=parametrization, budget=10**12)
    while not objective.expired():
        candidate = optimizer.ask()
        optimizer.tell(candidate, objective(candidate.value))
    return {"optimizer": "ng.optimizers.OnePlusOne", "Array sigma": ONEPLUSONE_SIGMA, "nevergrad": ng.__version__}


CMA_SIGMA = 0.2


def run_cma(objective: Objective, seed: int) -> dict:
    """pycma's CMA-ES, default population, the population (plus the mean) evaluated as one batch.

    CMA's own stopping rules are left on; when one fires before the budget, CMA restarts from the
    best point so far with the initial sigma.
    """
    import cma

    objective.start()
    x0 = objective.initial_params(seed)
    restarts = 0
    popsize = None
    while not objective.expired():
        strategy = cma.CMAEvolutionStrategy(x0, CMA_SIGMA, {"verbose": -9, "seed": seed + 1 + restarts})
        popsize = strategy.popsize
        while not strategy.stop() and not objective.expired():
            population = strategy.ask()
            losses = objective(np.vstack([*population, strategy.mean]))
            strategy.tell(population, losses[:-1].tolist())
        restarts += 1
        x0 = objective.best_params
    return {
        "sigma0": CMA_SIGMA,
        "popsize": popsize,
        "covariance": "full (pycma default)",
        "restarts": restarts - 1,
        "plus": "the mean is evaluated each generation",
        "cma": cma.__version__,
    }


SNES_STDEV = 0.2
PGPE_SETTINGS = {
    "popsize": 200,
    "center_learning_rate": 0.2,
    "stdev_learning_rate": 0.1,
    "stdev_init": 0.1,
    "optimizer": "clipup",
    "ranking_method": "centered",
}


def pgpe_on_rows(
    X: np.ndarray, y: np.ndarray, layout: Layout, seed: int, budget: float, loss: str = "cross_entropy"
) -> tuple[np.ndarray, int, float]:
    """EvoTorch PGPE (ClipUp, population 200) minimising `loss` of the network on (X, y) for `budget` seconds,
    from `init_params` of the seed: (the better on (X, y) of its centre and its last generation's best,
    generations made, seconds from the first generation to that choice). ImportError without evotorch/torch."""
    import torch
    from evotorch import Problem
    from evotorch.algorithms import PGPE

    class Loss(Problem):
        def __init__(self):
            super().__init__("min", solution_length=layout.num_params, initial_bounds=(-0.1, 0.1), seed=seed)

        def _evaluate_batch(self, solutions):
            params = solutions.values.detach().cpu().numpy().astype(np.float64)
            losses, _ = evaluate(params, X, y, layout, loss=loss)
            solutions.set_evals(torch.as_tensor(np.nan_to_num(losses, nan=1e6)))

    start = init_params(layout, np.random.default_rng(seed))
    searcher = PGPE(
        Loss(), popsize=200, center_learning_rate=0.2, stdev_learning_rate=0.1, stdev_init=0.1,
        optimizer="clipup", center_init=torch.as_tensor(start),
    )  # fmt: skip
    started, generations = time.monotonic(), 0
    while time.monotonic() - started < budget:
        searcher.step()
        generations += 1
    best = searcher.status["pop_best"].values.detach().cpu().numpy().astype(np.float64)
    center = searcher.status["center"].detach().cpu().numpy().astype(np.float64)
    # The point it would hand back: the better on the training rows of its centre and its best sample.
    params = min((best, center), key=lambda point: float(evaluate(point, X, y, layout, loss=loss)[0]))
    return params, generations, time.monotonic() - started


def _evotorch_problem(objective: Objective, seed: int):
    """An EvoTorch problem whose vectorised fitness hands the population to the numpy objective."""
    import torch
    from evotorch import Problem

    torch.set_num_threads(1)

    def fitness(solutions: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(objective(solutions.detach().cpu().numpy())))

    return Problem(
        "min",
        fitness,
        solution_length=objective.num_params,
        initial_bounds=(-0.01, 0.01),
        dtype=torch.float64,
        vectorized=True,
        seed=seed,
    )


def _run_evotorch(objective: Objective, seed: int, build: Callable) -> None:
    import torch

    objective.start()
    problem = _evotorch_problem(objective, seed)
    searcher = build(problem, torch.from_numpy(objective.initial_params(seed)))
    while not objective.expired():
        searcher.step()
        objective(searcher.status["center"].detach().cpu().numpy())  # the center is evaluated too


def run_snes(objective: Objective, seed: int) -> dict:
    """EvoTorch SNES with its default population and learning rates, the center evaluated each generation."""
    import evotorch
    from evotorch.algorithms import SNES

    popsize = []

    def build(problem, center):
        searcher = SNES(problem, stdev_init=SNES_STDEV, center_init=center)
        popsize.append(searcher._popsize)
        return searcher

    _run_evotorch(objective, seed, build)
    return {
        "stdev_init": SNES_STDEV,
        "popsize": popsize[0] if popsize else None,
        "other": "EvoTorch defaults",
        "plus": "the center is evaluated each generation",
        "evotorch": evotorch.__version__,
    }


def run_pgpe(objective: Objective, seed: int) -> dict:
    """EvoTorch PGPE with ClipUp (max_speed = 2 x center_learning_rate, EvoTorch's default)."""
    import evotorch
    from evotorch.algorithms import PGPE

    def build(problem, center):
        return PGPE(problem, center_init=center, **PGPE_SETTINGS)

    _run_evotorch(objective, seed, build)
    return {
        **PGPE_SETTINGS,
        "symmetric": True,
        "plus": "the center is evaluated each generation",
        "evotorch": evotorch.__version__,
    }


PEERS = {
    "seed": run_seed,
    "oneplusone": run_oneplusone,
    "cma": run_cma,
    "snes": run_snes,
    "pgpe": run_pgpe,
}
