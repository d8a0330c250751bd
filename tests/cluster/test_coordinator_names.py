"""What cluster/ repeats of the coordinator as plain strings (it may not import it) is what the coordinator says.

cluster/ reaches the coordinator only as a command: the job's entry point runs `python -m coordinator run`,
passes it flags, and reads back the files it writes. A renamed file or flag on the coordinator's side must
fail here, not on a cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

from cluster import job_entry, log_transport, submit
from coordinator import config
from coordinator.interface.cli import build_parser
from coordinator.results import run_files

CLUSTER = Path(__file__).resolve().parents[2] / "cluster"


def _run_flags() -> set[str]:
    """Every option string of `python -m coordinator run`."""
    parser = build_parser()
    commands = next(action for action in parser._actions if action.dest == "command")
    run = commands.choices["run"]
    return {option for action in run._actions for option in action.option_strings}


def test_the_file_names_are_the_coordinators():
    assert job_entry.CHECKPOINT_FILE == run_files.CHECKPOINT_FILE
    assert log_transport.LAST_FILE == run_files.RESULT_FILE  # written last: it names a finished run


def test_every_run_file_cluster_names_is_one_the_coordinator_writes():
    named = set()
    for path in CLUSTER.glob("*.py"):
        named |= set(re.findall(r"\b([a-z_]+\.(?:json|npz))\b", path.read_text()))
    assert named and named <= set(run_files.RUN_FILES), named - set(run_files.RUN_FILES)


def test_the_flags_cluster_passes_or_refuses_are_flags_of_run():
    flags = _run_flags()
    used = {*submit.REFUSED_FLAGS, *submit.FILE_FLAGS, "--out", "--force", "--dry-run"}
    assert used <= flags, used - flags


def test_every_flag_cluster_names_in_its_sources_is_a_flag_of_run_or_its_own():
    own = set()
    for path in CLUSTER.glob("*.py"):
        own |= set(re.findall(r"add_argument\(\s*\"(--[a-z-]+)\"", path.read_text()))
    quoted = set()
    for path in (CLUSTER / "submit.py", CLUSTER / "job_entry.py"):
        quoted |= set(re.findall(r"\"(--[a-z][a-z-]+)\"", path.read_text()))
    assert quoted <= _run_flags() | own, quoted - _run_flags() - own


def test_the_data_suffixes_are_the_ones_the_coordinator_reads():
    assert set(submit.DATA_SUFFIXES) == set(config.DATA_SUFFIXES)


def test_the_round_line_cluster_shows_is_the_one_a_run_prints_in_a_log():
    import io

    from cluster.jobs import ROUND_LINE
    from coordinator.interface.labels import FigureNames
    from coordinator.interface.progress import LineProgress
    from coordinator.results.records import RoundRecord

    record = RoundRecord(
        round=26, best_loss=0.17, best_accuracy=0.93, evaluations=10, wall_seconds=1.0, evaluations_per_second=10.0,
        winning_climber=0,
    )  # fmt: skip
    kinds = [FigureNames(loss="cross-entropy"), FigureNames(episodes=5), FigureNames(loss="objective", score=None)]
    for names in kinds:  # a data set's run, a policy's, an objective's
        stream = io.StringIO()
        LineProgress(None, stream=stream, live=False, names=names).round_done(record, elapsed_s=5.4)
        assert ROUND_LINE.match(stream.getvalue()), stream.getvalue()
    assert not ROUND_LINE.match("searching spiral (300 rows, 2 features, 3 classes), network 2-64-3; results go")
