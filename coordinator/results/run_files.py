"""The files of a run directory, named once: what a run writes, what `plot` adds, what a new run clears.

cluster/ names some of them again as plain strings (it may not import the coordinator): a test holds
them to these (tests/cluster/test_coordinator_names.py).
"""

from __future__ import annotations

CHECKPOINT_FILE = "checkpoint.npz"  # after every round: what a resume goes on from
RESULT_FILE = "result.json"  # at the end, written last: it names a finished run
WEIGHTS_FILE = "weights.npz"  # at the end, before result.json
RUN_FILES = (CHECKPOINT_FILE, RESULT_FILE, WEIGHTS_FILE)

REGIONS_FILE = "decision_regions.png"  # a classifier's data and decision regions
FIT_FILE = "fit.png"  # a regressor's fit
HISTORY_FILE = "history.png"  # the best loss (and accuracy or R^2) per round
PICTURES = (REGIONS_FILE, FIT_FILE, HISTORY_FILE)  # what `plot` and `run --plot` draw into a run directory
