"""How long HillClimbClassifier's fits take with its defaults, and how many rounds they run.

    python bench/estimator_fits.py --readme | tee bench/results/estimator_fits.txt

Fits, in this process, on scikit-learn's iris (150 rows) and wine (178 rows), three random states
each, with every default (executor "inprocess"); then, where --ray is given, two fits of iris with
executor="ray" (the first starts a private local Ray; the second reuses it). Prints one line a fit.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file: this checkout's packages

from bench.common import QUIET_RAY, environment_defaults

environment_defaults(QUIET_RAY)

from sklearn.datasets import load_iris, load_wine  # noqa: E402

from coordinator import HillClimbClassifier  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ray", action="store_true", help="also two fits with executor='ray'")
    parser.add_argument(
        "--readme", action="store_true", help="also the README's pipeline: PCA(3), hidden (32,), 5-fold CV"
    )
    args = parser.parse_args()
    HillClimbClassifier(steps=10, max_iter=1).fit(*load_iris(return_X_y=True))  # the kernel loaded once, untimed
    cases = [("iris", load_iris, "inprocess"), ("wine", load_wine, "inprocess")]
    for name, loader, executor in cases:
        X, y = loader(return_X_y=True)
        for state in (0, 1, 2):
            started = time.monotonic()
            model = HillClimbClassifier(random_state=state, executor=executor).fit(X, y)
            seconds = time.monotonic() - started
            print(f"{name} random_state {state} {executor}: {seconds:.2f} s, {model.n_iter_} rounds", flush=True)
    if args.readme:  # exactly the README's lines: 5 fits, each timed by cross_val_score
        from sklearn.decomposition import PCA
        from sklearn.model_selection import cross_validate
        from sklearn.pipeline import make_pipeline

        X, y = load_iris(return_X_y=True)
        model = make_pipeline(PCA(n_components=3), HillClimbClassifier(hidden_layer_sizes=(32,), random_state=0))
        times = cross_validate(model, X, y, cv=5)["fit_time"]
        print(f"iris, the README's pipeline, 5-fold: fits of {', '.join(f'{s:.2f}' for s in times)} s", flush=True)
    if args.ray:
        X, y = load_iris(return_X_y=True)
        for attempt in ("first", "second"):
            started = time.monotonic()
            model = HillClimbClassifier(random_state=0, executor="ray").fit(X, y)
            seconds = time.monotonic() - started
            print(f"iris ray, {attempt} fit of the process: {seconds:.2f} s, {model.n_iter_} rounds", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
