"""HillClimbClassifier: scikit-learn's own checks, Pipeline, cross_val_score, GridSearchCV, warm starts, Ray."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
from sklearn.datasets import load_iris
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import check_estimator

from coordinator import ConfigError, HillClimbClassifier, SearchConfig, search
from coordinator.interface.estimator import search_config
from coordinator.rounds.prepared_run import start_sha256
from tests.cluster.processes import is_alive, start_time_of
from tests.coordinator.cli_runner import REPOSITORY
from workers import Solution

SMALL = {"executor": "inprocess", "max_iter": 2, "steps": 200, "time_budget": None}


@pytest.fixture(scope="module")
def iris():
    """Iris with text labels, as people keep them."""
    X, y = load_iris(return_X_y=True)
    return X, np.array(["setosa", "versicolor", "virginica"])[y]


# scikit-learn skips its array-API check unless SCIPY_ARRAY_API is set; the network computes in numpy.
@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_passes_scikit_learns_estimator_checks():
    check_estimator(HillClimbClassifier(**SMALL))


def test_works_in_a_pipeline_with_cross_val_score_on_text_labels(iris):
    X, y = iris
    pipeline = make_pipeline(StandardScaler(), HillClimbClassifier(**SMALL, scaling="none"))
    scores = cross_val_score(pipeline, X, y, cv=3)
    assert scores.shape == (3,) and scores.min() > 0.6
    assert set(pipeline.fit(X, y).predict(X)) <= set(y)


def test_grid_search_picks_among_its_parameters_on_text_labels(iris):
    X, y = iris
    grid = GridSearchCV(
        HillClimbClassifier(**SMALL),
        {"hidden_layer_sizes": [(4,), np.array([8])], "steps": np.array([50, 200])},  # numpy values, as grids hold
        cv=3,
    )
    grid.fit(X, y)
    assert grid.best_params_["steps"] in (50, 200)
    assert grid.predict(X[:5]).tolist() == ["setosa"] * 5
    assert grid.best_estimator_.result_.config.steps == grid.best_params_["steps"]


@pytest.mark.parametrize(
    "labels",
    [
        np.array([-7, 3, 1000]),
        np.array([-1.0, 2.0, 5.0]),  # whole numbers: scikit-learn takes fractions for a regression target
        np.array(["b", "a", "ü"]),
        np.array(["x", "y", "z"], dtype=object),  # as pandas holds text
        np.array([3, -1, 2], dtype=np.int8),
        np.array([True, False]),  # two classes: setosa and virginica are True
    ],
    ids=["ints", "floats", "text", "objects", "int8", "booleans"],
)
def test_labels_of_any_kind_come_back_exactly(iris, labels):
    X, y = iris
    mapped = labels[np.searchsorted(np.unique(y), y) % len(labels)]
    model = HillClimbClassifier(**SMALL).fit(X, mapped)
    assert model.classes_.dtype == mapped.dtype
    assert np.array_equal(model.classes_, np.unique(mapped))
    predicted = model.predict(X)
    assert predicted.dtype == mapped.dtype and set(predicted.tolist()) <= set(mapped.tolist())
    assert model.score(X, mapped) > 0.6


def test_the_result_names_classes_by_their_labels_where_it_can(iris):
    X, y = iris
    model = HillClimbClassifier(**SMALL).fit(X, y)
    assert model.result_.classes == ["setosa", "versicolor", "virginica"]
    assert np.array_equal(model.result_.predict(X), model.predict(X))
    assert model.n_features_in_ == 4 and model.n_iter_ == 2 and model.loss_ == model.result_.best_loss


def test_combine_reaches_the_rounds(iris):
    X, y = iris
    single = HillClimbClassifier(**SMALL, combine="best").fit(X, y)
    assert single.result_.config.combine == "best"
    assert not any(record.combined or record.coordinator_evaluations for record in single.result_.history)
    assert HillClimbClassifier(**SMALL).fit(X, y).result_.config.combine == "recombine"


def test_the_fit_is_the_search_of_the_mapped_config(iris):
    X, y = iris
    model = HillClimbClassifier(**SMALL, hidden_layer_sizes=[6], random_state=3, mutation_rate=0.1).fit(X, y)
    config = SearchConfig(hidden=(6,), seed=3, mutation_rate=0.1, climbers=4, rounds=2, steps=200, time_budget=None)
    config = config.model_copy(update={"patience": 10, "scaling": "standard", "validation_fraction": 0.2, "l2": 1e-3})
    direct = search(config, X, np.searchsorted(np.unique(y), y), executor="inprocess")
    assert model.result_.params.tobytes() == direct.params.tobytes()
    assert search_config(model.get_params()) == config


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"random_state": -1}, r"^random_state: Input should be greater than or equal to 0, got -1$"),
        ({"random_state": 1.5}, r"^random_state: must be an int >= 0, None or a numpy RandomState, got 1.5$"),
        ({"hidden_layer_sizes": (8, 0)}, r"^hidden_layer_sizes.1: Input should be greater than or equal to 1, got 0$"),
        ({"steps": 0}, r"^steps: Input should be greater than or equal to 1, got 0$"),
        ({"time_budget": -2}, r"^time_budget: must be a positive number of seconds, got -2.0$"),
        ({"scaling": "log"}, r"^scaling: Input should be 'auto', 'standard', 'minmax', 'maxabs' or 'none', got 'log'$"),
        ({"validation_fraction": 0.0}, r"^validation_fraction: early_stopping holds rows out to score the network on"),
        ({"early_stopping": "yes"}, r"^early_stopping: must be True or False, got 'yes'$"),
        ({"alpha": -1.0}, r"^alpha: must be a finite number >= 0, got -1.0$"),
        ({"n_iter_no_change": 0}, r"^n_iter_no_change: Input should be greater than or equal to 1, got 0$"),
        ({"max_iter": 0}, r"^max_iter: Input should be greater than or equal to 1, got 0$"),
        ({"executor": "threads"}, r"^executor: must be 'ray' or 'inprocess', got 'threads'$"),
        ({"address": "127.0.0.1:6379"}, r"^address: a Ray address \(text\) for executor='ray' only"),
        ({"verbose": -1}, r"^verbose: must be an integer >= 0, got -1$"),
    ],
)
def test_a_bad_parameter_is_a_one_line_value_error_naming_it(iris, parameters, message):
    with pytest.raises(ValueError, match=message):
        HillClimbClassifier(**{**SMALL, **parameters}).fit(*iris)


def test_scikit_learns_names_mean_what_they_mean_there(iris):
    X, y = iris
    config = search_config(HillClimbClassifier(alpha=0.01, max_iter=7, n_iter_no_change=3).get_params())
    assert (config.l2, config.rounds, config.patience, config.validation_fraction) == (0.01, 7, 3, 0.2)
    # early_stopping=False learns from every row and keeps the last network, as MLPClassifier's does.
    config = search_config(HillClimbClassifier(early_stopping=False, validation_fraction=0.3).get_params())
    assert config.validation_fraction == 0 and config.patience is None
    model = HillClimbClassifier(**SMALL, early_stopping=False).fit(X, y)
    assert model.result_.data.validation is None and model.result_.selected_round is None


def test_predict_log_proba_is_the_log_of_predict_proba(iris):
    X, y = iris
    model = HillClimbClassifier(**SMALL).fit(X, y)
    log_probabilities = model.predict_log_proba(X)
    assert log_probabilities.shape == (len(X), 3) and np.all(np.isfinite(log_probabilities))
    assert np.allclose(np.exp(log_probabilities), model.predict_proba(X), rtol=1e-12, atol=1e-300)
    assert np.allclose(model.result_.predict_log_proba(X), log_probabilities, rtol=0, atol=0)


def test_a_data_frame_with_its_columns_in_another_order_is_refused_as_scikit_learn_does(iris):
    pandas = pytest.importorskip("pandas")
    X, y = iris
    frame = pandas.DataFrame(X, columns=["sepal_length", "sepal_width", "petal_length", "petal_width"])
    model = HillClimbClassifier(**SMALL).fit(frame, y)
    assert model.result_.data.feature_names == list(frame.columns)  # recorded: a saved result_ matches by name
    with pytest.raises(ValueError, match="feature names"):
        model.predict(frame[frame.columns[::-1]])
    with pytest.raises(ValueError, match="NaN"):
        model.predict(frame.assign(sepal_width=np.nan))


def test_random_state_none_is_0_and_a_random_state_gives_one_draw(iris):
    assert search_config(HillClimbClassifier(random_state=None).get_params()).seed == 0
    drawn = search_config(HillClimbClassifier(random_state=np.random.RandomState(7)).get_params()).seed
    assert drawn == np.random.RandomState(7).randint(np.iinfo(np.int32).max)


def test_verbose_tells_each_round_on_stderr(iris, capsys):
    HillClimbClassifier(**SMALL).fit(*iris)
    assert capsys.readouterr().err == ""
    HillClimbClassifier(**SMALL, verbose=1).fit(*iris)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split()[:2] for line in lines] == [["round", "0"], ["round", "1"]]


def test_rows_too_few_to_hold_any_out_are_refused():
    with pytest.raises(ConfigError, match=r"^validation_fraction: 0.2 of 3 rows holds none out"):
        HillClimbClassifier(**SMALL).fit([[0.0], [1.0], [2.0]], ["a", "b", "c"])


def test_warm_start_climbs_on_from_the_previous_network(iris):
    X, y = iris
    model = HillClimbClassifier(**SMALL, warm_start=True).fit(X, y)
    first_loss, first = model.loss_, Solution(model.result_.params, model.result_.step_sizes)
    model.fit(X, y)
    assert model.result_.start_sha256 == start_sha256(first)
    assert model.loss_ <= first_loss and model.n_iter_ == 2
    assert model.result_.params.tobytes() != first.params.tobytes()
    # One answer: the same as the core's search from that network.
    again = search(model.result_.config, X, np.searchsorted(model.classes_, y), executor="inprocess", start=first)
    assert again.params.tobytes() == model.result_.params.tobytes()
    # Without warm_start a refit starts afresh: the first fit again.
    cold = HillClimbClassifier(**SMALL).fit(X, y)
    assert cold.loss_ == first_loss and cold.result_.start_sha256 is None


def test_warm_start_refuses_a_network_that_does_not_fit(iris):
    X, y = iris
    model = HillClimbClassifier(**SMALL, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match=r"^warm_start: y has classes \['setosa', 'versicolor'\]"):
        model.fit(X[y != "virginica"], y[y != "virginica"])
    with pytest.raises(ValueError, match=r"^warm_start: the previous fit's network is 4-64-3, this fit's would be"):
        model.set_params(hidden_layer_sizes=(5,)).fit(X, y)


def test_search_is_the_function_whatever_is_imported_before_it():
    code = "from coordinator import HillClimbClassifier, search; print(callable(search), search.__name__)"
    assert _python(code).stdout.strip() == "True search"


def test_importing_coordinator_needs_neither_scikit_learn_nor_onnx():
    code = "import sys, coordinator; print(sorted({'sklearn', 'onnx', 'onnxruntime'} & set(sys.modules)))"
    assert _python(code).stdout.strip() == "[]"
    # Without scikit-learn (an import of it fails), the estimator says which extra to install.
    blocked = "import sys; sys.modules['sklearn'] = None\nfrom coordinator import HillClimbClassifier"
    completed = _python(blocked, check=False)
    assert (
        "HillClimbClassifier and HillClimbRegressor need scikit-learn; install it with pip install 'hillclimb[sklearn]'"
        in completed.stderr
    )


FITS_ON_RAY = """
import json, os
import numpy as np
import ray
from sklearn.datasets import load_iris
from coordinator import HillClimbClassifier
from tests.cluster.processes import descendants, start_time_of

X, y = load_iris(return_X_y=True)
settings = dict(max_iter=2, steps=200, climbers=3)
sessions, predictions, placements = [], [], []
for _ in range(2):
    model = HillClimbClassifier(executor="ray", climb_while_starting=False, **settings).fit(X, y)
    sessions.append(ray._private.worker._global_node.get_session_dir_path())
    predictions.append(model.predict_proba(X))
    placements.append([(record.driver_tasks, record.actors) for record in model.result_.history])
reference = HillClimbClassifier(executor="inprocess", **settings).fit(X, y).predict_proba(X)
processes = {pid: start_time_of(pid) for pid in descendants(os.getpid())}
print(json.dumps({"sessions": sessions, "processes": processes, "placements": placements,
                  "cpus": ray.cluster_resources()["CPU"],
                  "same": all(np.array_equal(reference, p) for p in predictions)}))
"""


def test_fits_on_ray_share_one_local_ray_that_ends_with_the_process():
    temporary = tempfile.mkdtemp(prefix="raysk-", dir="/tmp")  # short: Ray's socket paths live below it
    completed = _python(FITS_ON_RAY, environment={"RAY_TMPDIR": temporary}, timeout=300)
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    first, second = report["sessions"]
    assert first == second and first.startswith(temporary)  # the second fit did not start Ray again
    actors = min(3, int(report["cpus"]))  # one worker a CPU, three climbers a round
    assert report["placements"] == [[[0, actors]] * 2] * 2  # every climb of both fits on the actors
    assert report["same"]  # on Ray or in process: one answer
    assert report["processes"], "found no Ray process at all: the check would prove nothing"
    processes = {int(pid): started for pid, started in report["processes"].items()}

    def alive() -> list[int]:
        return [pid for pid, started in processes.items() if is_alive(pid) and start_time_of(pid) == started]

    # The exit hook waits for Ray's processes; this allows a moment more for orphans to be reaped.
    deadline = time.monotonic() + 30
    while alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    shutil.rmtree(temporary, ignore_errors=True)
    assert alive() == [], "Ray processes outlived the process that started them"


def _python(code: str, check: bool = True, environment: dict[str, str] | None = None, timeout: float = 120):
    """`python -c CODE` with this checkout's code, a private loopback Ray's settings, and no RAY_ADDRESS."""
    env = {
        **os.environ,
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPOSITORY), os.environ.get("PYTHONPATH")])),
        **(environment or {}),
    }
    env.pop("RAY_ADDRESS", None)
    completed = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check:
        assert completed.returncode == 0, completed.stderr
    return completed


def test_the_docs_name_the_classifiers_parameters_the_regressor_does_not_take():
    import inspect
    from pathlib import Path

    from coordinator import HillClimbRegressor

    classifier = set(inspect.signature(HillClimbClassifier).parameters)
    regressor = set(inspect.signature(HillClimbRegressor).parameters)
    missing = classifier - regressor
    assert missing == {"weights", "activation"}
    text = " ".join((Path(__file__).resolve().parents[3] / "docs" / "usage.md").read_text().split())
    said = text[text.index("`HillClimbRegressor` takes the classifier's parameters") :][:300]
    assert all(f"`{name}`" in said for name in missing), said
    docstring = " ".join(HillClimbRegressor.__doc__.split())
    assert all(name in docstring[:300] for name in missing)
    with pytest.raises(TypeError):
        HillClimbRegressor(weights="int8")
