"""A search on a real three-node Ray cluster (ray.cluster_utils.Cluster: a head and two worker nodes).

The search's actors spread over both worker nodes; removing one of those nodes in the middle of a
round (from the search's own progress callback, in the main thread, as Cluster requires) still
ends with exactly the result of the same search in one process.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from coordinator import SearchConfig, search
from coordinator.rounds.executors import RayExecutor
from coordinator.rounds.prepare import prepare_run
from coordinator.rounds.stepper import SilentProgress
from tests.cluster.head import OBJECT_STORE_BYTES, free_port
from tests.cluster.processes import descendants, not_on_loopback

CONFIG = SearchConfig(
    dataset="vertical",
    layers=(2, 3, 3),
    climbers=4,
    steps=1000,
    rounds=3,
    time_budget=None,
    workers=2,
    engine="numpy",
)


@pytest.fixture(scope="module")
def three_nodes():
    """A head with no CPU (so no actor lands there) and two worker nodes with one CPU each; this process drives."""
    import ray
    from ray.cluster_utils import Cluster

    # Ray's own files, including the "current cluster" address file, in a folder of our own.
    temporary = Path(tempfile.mkdtemp(prefix="raymn-", dir="/tmp"))
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(temporary)
    cluster = Cluster()
    try:
        cluster.add_node(
            num_cpus=0,
            object_store_memory=OBJECT_STORE_BYTES,
            include_dashboard=False,
            dashboard_agent_listen_port=free_port(),  # not 52365, which another Ray on the machine may hold
        )
        nodes = [cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE_BYTES) for _ in range(2)]
        ray.init(address=cluster.address, log_to_driver=False)
        yield cluster, nodes
    finally:
        ray.shutdown()
        cluster.shutdown()  # ends the processes of every node it started, by pid
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved
        shutil.rmtree(temporary, ignore_errors=True)


def climb_workers_on(node) -> set[int]:
    """Process ids of the ClimbWorker actors running on one node (below its raylet)."""
    raylet = node.all_processes["raylet"][0].process.pid
    return {pid for pid in descendants(raylet) if _command_line(pid).startswith("ray::ClimbWorker")}


def _command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


class RemoveANodeMidRound(SilentProgress):
    """Progress that notes where the actors run in round 0 and removes a worker node in round 1."""

    def __init__(self, cluster, nodes):
        self.cluster, self.nodes = cluster, nodes
        self.workers_per_node: list[set[int]] | None = None
        self.exposed: list | None = None
        self.removed_in_flight = False
        self.rounds: list = []

    def climber_done(self, round_index, done, total, best) -> None:
        """In round 0, look; at the first report of round 1, remove the second worker node."""
        if round_index == 0 and self.workers_per_node is None:
            self.workers_per_node = [climb_workers_on(node) for node in self.nodes]
            self.exposed = not_on_loopback({os.getpid(), *descendants(os.getpid())})
        if round_index == 1 and done == 1 and not self.removed_in_flight:
            self.cluster.remove_node(self.nodes[1])
            self.removed_in_flight = True

    def round_done(self, record, elapsed_s) -> None:
        """Keep the round's record."""
        self.rounds.append(record)


def test_actors_spread_over_both_nodes_and_losing_one_mid_round_keeps_the_result(three_nodes):
    cluster, nodes = three_nodes
    progress = RemoveANodeMidRound(cluster, nodes)
    prepared = prepare_run(CONFIG)
    executor = RayExecutor(prepared.dataset, prepared.config)
    executor.wait_until_ready()  # every climb on an actor: removing a node must hit some in flight
    try:
        result = search(CONFIG, executor=executor, progress=progress)
    finally:
        executor.close()

    assert progress.workers_per_node is not None
    assert [len(workers) for workers in progress.workers_per_node] == [1, 1]  # one actor on each node
    assert progress.exposed == []  # every listener of the cluster's processes and this driver is on loopback
    assert progress.removed_in_flight and len(progress.rounds) == CONFIG.rounds

    reference = search(CONFIG, executor="inprocess")
    assert result.best_loss == reference.best_loss
    assert result.params.tobytes() == reference.params.tobytes()
    assert result.step_sizes.tobytes() == reference.step_sizes.tobytes()
    assert [record.best_loss for record in result.history] == [record.best_loss for record in reference.history]
    assert result.environment.nodes == 2  # the head and the worker node that is left
    placements = [(record.driver_tasks, record.actors) for record in result.history]
    assert placements[0] == (0, 2)  # round 0: one actor on each node
    assert all(driver == 0 and actors >= 1 for driver, actors in placements)  # every climb on an actor
