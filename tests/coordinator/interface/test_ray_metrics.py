"""A search on Ray publishes its progress as Ray metrics, read back from the node's /metrics endpoint.

This module starts its own Ray (a metrics export port it knows, and a one-second export interval
instead of ten so the figures show up quickly), so it cannot share one with other modules.
"""

from __future__ import annotations

import os
import re
import socket
import time
import urllib.request

import pytest

from coordinator import SearchConfig, load_result, search
from coordinator.interface.cli import main
from coordinator.interface.ray_metrics import GAUGES, METRIC_PREFIX, RayMetrics
from tests.conftest import OBJECT_STORE_BYTES

EXPORT_INTERVAL_MS = 1000  # Ray's floor; its default is 10 s
INTERVAL_VARIABLE = "RAY_metrics_report_interval_ms"  # Ray's spelling: RAY_ and the setting's own name
APPEAR_TIMEOUT_S = 60.0  # a hang guard: figures appear within about two export intervals
TINY = {"dataset": "vertical", "layers": (2, 3, 3), "climbers": 2, "steps": 200, "time_budget": None, "workers": 2}
# ray_hillclimb_best_loss{Component="core_worker",...,run="a"} 0.1234
SAMPLE = re.compile(r"^ray_(?P<name>\w+)\{(?P<labels>[^}]*)\} (?P<value>\S+)$")
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def metrics_port():
    """A local Ray exporting metrics every second on a known port of 127.0.0.1; the port."""
    import ray

    if ray.is_initialized():
        ray.shutdown()
    port = _free_port()
    # Read by every Ray process (the agent's memory of a gauge lasts two intervals): set for this Ray only.
    previous = os.environ.get(INTERVAL_VARIABLE)
    os.environ[INTERVAL_VARIABLE] = str(EXPORT_INTERVAL_MS)
    try:
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            _node_ip_address="127.0.0.1",
            object_store_memory=OBJECT_STORE_BYTES,
            log_to_driver=False,
            _metrics_export_port=port,
        )
        yield ray._private.worker.global_worker.node.metrics_export_port
        ray.shutdown()
    finally:
        if previous is None:
            os.environ.pop(INTERVAL_VARIABLE, None)
        else:
            os.environ[INTERVAL_VARIABLE] = previous


def published(port: int) -> tuple[dict[tuple[str, str], float], str]:
    """({(gauge name without prefix, run): value} of our gauges, the whole page) from /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        page = answer.read().decode()
    values = {}
    for line in page.splitlines():
        match = SAMPLE.match(line)
        if match and match["name"].startswith(METRIC_PREFIX):
            run = dict(LABEL.findall(match["labels"])).get("run")
            values[match["name"].removeprefix(METRIC_PREFIX), run] = float(match["value"])
    return values, page


def wait_for(port: int, expected: dict[tuple[str, str], float]) -> dict[tuple[str, str], float]:
    """Poll /metrics until every expected (gauge, run) holds its value; what was published then."""
    deadline = time.monotonic() + APPEAR_TIMEOUT_S
    while True:
        values, _ = published(port)
        if all(values.get(key) == value for key, value in expected.items()):
            return values
        if time.monotonic() > deadline:
            pytest.fail(f"after {APPEAR_TIMEOUT_S:.0f} s /metrics holds {values}, expected {expected}")
        time.sleep(0.2)


def test_searches_publish_their_last_round_and_best_loss_each_under_its_run_name(metrics_port):
    first, second = RayMetrics("first"), RayMetrics("second")
    try:
        one = search(SearchConfig(**TINY, rounds=3, seed=1), progress=first)
        two = search(SearchConfig(**TINY, rounds=1, seed=2), progress=second)
        assert one.best_loss != two.best_loss
        last = one.history[-1]
        expected = {
            ("round", "first"): 2,
            ("best_loss", "first"): one.best_loss,
            ("best_accuracy", "first"): one.best_accuracy,
            ("evaluations_per_second", "first"): last.evaluations_per_second,
            ("workers_alive", "first"): last.workers,  # 0 if the driver climbed while the actors warmed
            ("round", "second"): 0,
            ("best_loss", "second"): two.best_loss,
        }
        values = wait_for(metrics_port, expected)
        # Ray's agent forgets a value two export intervals after its export; the figures are set
        # again meanwhile, so a long round leaves no gap.
        time.sleep(4 * EXPORT_INTERVAL_MS / 1000)
        later, page = published(metrics_port)
        assert {key: later.get(key) for key in expected} == expected
    finally:
        first.close()
        second.close()
    # No rows held out: no validation figures rather than made-up ones.
    assert not {key for key in values if key[0].startswith("validation_")}
    # A classifier's run gives every gauge but the held-out rows' and a regressor's a value; each is described,
    # its unit included.
    given = {name for name, _run in later}
    unset = {"best_r2", "winning_share"}  # only a regressor's run, and a run on row shares, set these
    assert given == {spec.name for spec in GAUGES if not spec.name.startswith("validation_") and spec.name not in unset}
    for spec in GAUGES:
        if spec.name in given:
            assert f"# HELP ray_{METRIC_PREFIX}{spec.name} {spec.description} [{spec.unit}]" in page


def test_the_command_line_publishes_a_run_on_ray_under_its_run_directory(metrics_port, tmp_path):
    run_dir = tmp_path / "run"
    flags = ["--dataset", "vertical", "--layers", "2,3,3", "--climbers", "2", "--steps", "200", "--rounds", "2"]
    flags += ["--time-budget", "none"]  # two rounds, however loaded the machine
    assert main(["run", *flags, "--workers", "2", "--quiet", "--out", str(run_dir)]) == 0
    result = load_result(run_dir)
    # The command line has stopped its refresher: the values come from its last round's export.
    wait_for(metrics_port, {("round", str(run_dir)): 1, ("best_loss", str(run_dir)): result.best_loss})
