"""`python -m coordinator export RUN --c FILE.h`: the network as one C99 header, compiled and run against predict."""

from __future__ import annotations

import itertools
import shutil
import subprocess

import numpy as np
import pytest

from coordinator import HillClimbClassifier, HillClimbRegressor, SearchConfig, load_result, search
from coordinator.interface.cli import main
from coordinator.interface.export_c import c_header, export_c, unit_thresholds
from tests.coordinator.cli_runner import assert_one_line_error, make_run, run_cli

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs a C compiler (gcc)")

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"]
TINY = {"climbers": 2, "steps": 300, "rounds": 2, "time_budget": None}
WEIGHTS = ("float", "int8", "ternary", "binary")
ACTIVATIONS = ("relu", "tanh", "sign", "step")
SCALINGS = ("standard", "minmax", "maxabs", "none")
# Two hidden layers, 40 (two words of bits, the second partly used) and 9 wide: every path of the header
# (real inputs to bits, bits to bits, bits to outputs, and real to real) is taken.
HIDDEN = (40, 9)
# A regressor's outputs against predict's: its float64 weights are stored as float32 (about 6e-8 relative
# each), its outputs written as float: within 1e-5 of the targets' spread.
REGRESSION_TOLERANCE = 1e-5


def _digits():
    """scikit-learn's digits (integer pixels 0-16): 1,200 training rows and 597 held-out rows."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:1200]], y[order[:1200]], X[order[1200:]]


def _rows_text(rows: np.ndarray) -> str:
    """Rows as text that scanf("%f") reads back as the same float32 values."""
    return "\n".join(" ".join(repr(float(value)) for value in row) for row in np.asarray(rows, dtype=np.float32))


def _compile_and_run(tmp_path, headers: list[str], calls: list[str], features: int, rows, compiler="gcc", flags=()):
    """A program that includes every header, reads rows of `features` floats and prints each call's answers."""
    program = [
        "#include <stdio.h>",
        *(f'#include "{header}"' for header in headers),
        "int main(void)",
        "{",
        f"    float x[{features}], y[16];",
        "    int i;",
        "    (void)y;",
        "    for (;;) {",
        f'        for (i = 0; i < {features}; i++) if (scanf("%f", &x[i]) != 1) return 0;',
        *(f"        {call}" for call in calls),
        '        printf("\\n");',
        "    }",
        "}",
    ]
    source = tmp_path / ("main.c" if compiler == "gcc" else "main.cpp")
    source.write_text("\n".join(program) + "\n")
    binary = tmp_path / f"main-{compiler}"
    standard = ["-std=c99"] if compiler == "gcc" else ["-std=c++11"]
    command = [compiler, *standard, *STRICT[1:], *flags, "-I", str(tmp_path), "-o", str(binary), str(source), "-lm"]
    built = subprocess.run(command, capture_output=True, text=True, check=False)
    assert built.returncode == 0, built.stderr
    finished = subprocess.run([str(binary)], input=_rows_text(rows), capture_output=True, text=True, check=True)
    return [line.split() for line in finished.stdout.splitlines()]


@pytest.fixture(scope="module")
def variants():
    """A finished tiny run for every weights x activation, each with one of the four scalings."""
    X, y, _ = _digits()
    results = {}
    for row, weights in enumerate(WEIGHTS):
        for column, activation in enumerate(ACTIVATIONS):
            config = SearchConfig(
                **TINY, hidden=HIDDEN, weights=weights, activation=activation, scaling=SCALINGS[(row + column) % 4]
            )
            results[f"net_{weights}_{activation}"] = search(config, X, y, executor="inprocess")
    return results


def test_every_variant_gives_predicts_class_on_held_out_rows(tmp_path, variants):
    held_out = _digits()[2]
    for name, result in variants.items():
        export_c(result, tmp_path / f"{name}.h")
    calls = [f'printf("%d ", {name}_predict(x));' for name in variants]
    # one program holding every model: their names never clash
    answers = np.array(_compile_and_run(tmp_path, [f"{name}.h" for name in variants], calls, 64, held_out), dtype=int)
    assert answers.shape == (len(held_out), len(variants))
    for column, (name, result) in enumerate(variants.items()):
        expected = result.predict(held_out.astype(np.float32))
        assert answers[:, column].tolist() == expected.tolist(), name
    # The runs are tiny, but they predict more than one class: a constant answer would prove little.
    assert all(len(set(answers[:, column])) >= 3 for column in range(len(variants)))


def test_the_header_compiles_as_cplusplus_and_with_float_sums(tmp_path, variants):
    """Arduino sketches are C++; a small device may define NAME_REAL float (its double may be float anyway)."""
    held_out = _digits()[2][:50]
    names = ["net_ternary_sign", "net_binary_step", "net_int8_tanh", "net_float_relu"]
    for name in names:
        export_c(variants[name], tmp_path / f"{name}.h")
    calls = [f'printf("%d ", {name}_predict(x));' for name in names]
    if shutil.which("g++") is not None:
        answers = _compile_and_run(tmp_path, [f"{name}.h" for name in names], calls, 64, held_out, compiler="g++")
        for column, name in enumerate(names):
            expected = variants[name].predict(held_out.astype(np.float32)).tolist()
            assert [int(row[column]) for row in answers] == expected
    defines = [f"-D{name}_REAL=float" for name in names] + ["-Dnet_int8_tanh_TANH=tanhf"]
    answers = _compile_and_run(tmp_path, [f"{name}.h" for name in names], calls, 64, held_out, flags=defines)
    assert len(answers) == len(held_out)  # float sums may differ from predict's near a switch: compiled, not compared


def test_weights_are_stored_at_the_size_of_their_grid(variants):
    sizes = (64, *HIDDEN, 10)
    words = [-(-n_in // 32) for n_in in sizes[:-1]]
    weights = sum(n_in * n_out for n_in, n_out in itertools.pairwise(sizes))
    padded = sum(units * count * 4 for units, count in zip(sizes[1:], words, strict=True))  # bytes of one plane
    expected = {"float": 4 * weights, "int8": weights, "ternary": 2 * padded, "binary": padded}
    for kind in WEIGHTS:
        header = c_header(variants[f"net_{kind}_sign"], "model")
        assert header.weight_bytes == expected[kind], kind
        assert header.libm == ()
    assert c_header(variants["net_ternary_tanh"], "model").libm == ("tanh",)
    assert "#include <math.h>" not in c_header(variants["net_ternary_relu"], "model").text
    # the scaling's arrays: offsets and spreads of 64 features as doubles, no offsets for maxabs (all zero)
    scalings = {variants[f"net_{kind}_relu"].scaling.kind: variants[f"net_{kind}_relu"] for kind in WEIGHTS}
    biases = 8 * (sum(HIDDEN) + 10)
    assert c_header(scalings["standard"], "model").other_bytes == 2 * 64 * 8 + biases
    assert c_header(scalings["maxabs"], "model").other_bytes == 64 * 8 + biases
    assert c_header(scalings["none"], "model").other_bytes == biases
    # a ternary 64-32-10 network: 2 bits a weight, 592 bytes
    ternary = variants["net_ternary_sign"]
    small = ternary.model_copy(
        update={"config": ternary.config.model_copy(update={"layers": (64, 32, 10)})}
    ).model_copy(update={"params": np.zeros(64 * 32 + 32 + 32 * 10 + 10), "step_sizes": np.zeros(2410)})
    assert c_header(small, "model").weight_bytes == 2 * (64 * 32 + 32 * 10) // 8


def test_thresholds_switch_where_predicts_float64_does():
    scale = 0.125
    biases = np.array([0.0, 0.3, -0.3, 1e-13, -1e-13, -0.125 - 1e-12, 5.0, -5.0, 0.0625])
    thresholds = unit_thresholds(biases, scale, largest=20)
    for bias, threshold in zip(biases, thresholds, strict=True):
        for total in range(-20, 21):  # every sum 20 inputs of levels -1..1 can make
            on = np.float64(total) * scale + bias >= -1e-12
            assert on == (total >= threshold), (bias, total, threshold)
    assert thresholds[-3:-1] == [-21, 21]  # always on, never on: kept within the sums' range


def test_a_regressor_writes_its_outputs_in_the_targets_units(tmp_path):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    targets = np.stack([y, -0.01 * y + 3.0], axis=1)  # two targets on different scales
    model = HillClimbRegressor(hidden_layer_sizes=(12,), max_iter=2, steps=300, random_state=0).fit(
        X[:300], targets[:300]
    )
    model.export_c(tmp_path / "sugar.h")
    text = (tmp_path / "sugar.h").read_text()
    assert "void sugar_predict(const float *x, float *y)" in text and "sugar_target_spread" in text
    held_out = X[300:]
    answers = _compile_and_run(
        tmp_path, ["sugar.h"], ['sugar_predict(x, y); printf("%.9g %.9g", y[0], y[1]);'], 10, held_out
    )
    got = np.array(answers, dtype=np.float64)
    expected = model.predict(held_out.astype(np.float32))
    spread = targets[:300].std(axis=0)
    assert np.all(np.abs(got - expected) <= REGRESSION_TOLERANCE * spread)
    assert np.abs(got - expected).max() > 0  # float32 weights: close, not the same bits


def test_the_estimator_exports_its_own_labels_as_c_strings(tmp_path):
    X, y, held_out = _digits()
    # text a C string literal must escape: a quote, a backslash, a trigraph (??/ reads as a backslash), UTF-8
    names = np.array(["z\u00e9ro", "un??/", 'deux"', "trois\\", "quatre*/", "cinq", "six", "sept", "huit", "neuf"])
    model = HillClimbClassifier(hidden_layer_sizes=(16,), max_iter=2, steps=300, weights="int8", random_state=0)
    model.fit(X, names[y])
    model.export_c(tmp_path / "model.h", name="digits_int8")
    calls = [
        '{ const char *labels[] = digits_int8_LABELS; int k = digits_int8_predict(x); printf("%d %s", k, labels[k]); }'
    ]
    answers = _compile_and_run(tmp_path, ["model.h"], calls, 64, held_out)
    expected = model.predict(held_out.astype(np.float32)).tolist()
    assert [model.classes_[int(row[0])] for row in answers] == expected == [row[1] for row in answers]


def test_a_policy_with_discrete_actions_returns_predicts_action(tmp_path):
    pytest.importorskip("gymnasium")
    config = SearchConfig(env="CartPole-v1", hidden=(6,), rounds=1, episodes=1, time_budget=None)
    result = search(config, executor="inprocess")
    export_c(result, tmp_path / "cartpole.h")
    observations = np.random.default_rng(1).normal(scale=[1.0, 1.0, 0.2, 1.0], size=(400, 4))
    answers = _compile_and_run(tmp_path, ["cartpole.h"], ['printf("%d", cartpole_predict(x));'], 4, observations)
    assert [int(row[0]) for row in answers] == result.predict(observations.astype(np.float32)).tolist()


def test_the_command_line_writes_a_header_named_after_the_file(tmp_path):
    make_run(tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--c", str(tmp_path / "vertical.h")]) == 0
    assert main(["export", str(tmp_path / "run"), "--c", str(tmp_path / "model.h"), "--name", "int"]) == 0
    assert "int vertical_predict(const float *x)" in (tmp_path / "vertical.h").read_text()
    assert "#define int_INPUTS 2" in (tmp_path / "model.h").read_text()  # a keyword is a fine prefix
    result = load_result(tmp_path / "run")
    rows = np.random.default_rng(2).uniform(-1, 1, size=(200, 2))
    calls = ['printf("%d %d", vertical_predict(x), int_predict(x));']
    answers = _compile_and_run(tmp_path, ["vertical.h", "model.h"], calls, 2, rows)
    expected = result.predict(rows.astype(np.float32)).tolist()
    assert [int(row[0]) for row in answers] == expected == [int(row[1]) for row in answers]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["main-gcc", "main.c", "model.h", "run", "vertical.h"]


def test_runs_and_paths_the_header_cannot_take_are_one_line_errors(tmp_path, capsys):
    make_run(tmp_path / "run")
    search(
        SearchConfig(layers=(3, 4, 2), rounds=1, time_budget=None),
        executor="inprocess",
        objective=lambda params: float(np.sum(params**2)),
        run_dir=tmp_path / "function",
    )
    (tmp_path / "a-file").write_text("not a folder\n")
    (tmp_path / "folder").mkdir()
    run = str(tmp_path / "run")
    cases = [
        (["export", str(tmp_path / "nothing"), "--c", "m.h"], "result.json: missing"),
        (["export", run, "--c", str(tmp_path / "folder")], "is a directory"),
        (["export", run, "--c", str(tmp_path / "a-file" / "m.h")], "a-file is a file, not a directory"),
        (["export", run, "--c", str(tmp_path / "my-model.h")], "its stem 'my-model' is not a C identifier"),
        (["export", run, "--c", str(tmp_path / "m.h"), "--name", "9lives"], "--name: '9lives' is not a C identifier"),
        (["export", run, "--c", str(tmp_path / "m.h"), "--name", "_m"], "--name: '_m' starts with _"),
        (["export", run, "--c", str(tmp_path / "m.h"), "--dtype", "float64"], "--dtype: is for --onnx"),
        (["export", run, "--onnx", str(tmp_path / "m.onnx"), "--name", "m"], "--name: is for --c"),
        (["export", str(tmp_path / "function"), "--c", str(tmp_path / "m.h")], "a function of the parameters"),
    ]
    for arguments, fragment in cases:
        assert main(arguments) == 2, arguments
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], (arguments, lines)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["a-file", "folder", "function", "run"]
    assert list((tmp_path / "folder").iterdir()) == []
    # the same through the command as a user runs it: one line, exit status 2, no traceback
    assert_one_line_error(run_cli("export", run, "--c", "my-model.h", cwd=tmp_path), "give --name NAME")
    assert_one_line_error(run_cli("export", run, cwd=tmp_path), "--onnx", "--c")


def test_a_policy_with_continuous_actions_is_refused(tmp_path, capsys):
    pytest.importorskip("gymnasium")
    config = SearchConfig(env="Pendulum-v1", hidden=(4,), rounds=1, episodes=1, time_budget=None)
    search(config, executor="inprocess", run_dir=tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), "--c", str(tmp_path / "pendulum.h")]) == 2
    assert "whose actions are Box(1,) of float32, not Discrete" in capsys.readouterr().err
    assert not (tmp_path / "pendulum.h").exists()
