"""A pool of long-lived Ray worker actors that runs tasks, yields results as they arrive, and survives deaths.

Each actor is created once with the data (put into the object store once). A task whose actor
dies is run again on another actor with the same arguments; the pool replaces the dead actor
when the cluster has room. The pool knows nothing of hill climbs: it calls `method(shared, [task])`
on an instance of the class it was given. Actors may hold different data (`slot_args`, each actor's
own first arguments, which a replacement gets again), and a task may be one only some actors can run
(`eligible`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Container, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from cluster.connect import ClusterError

# How long the pool waits, with no live actor left, for a replacement to come up.
NO_WORKER_TIMEOUT_S = 60.0
# Calls queued on each actor, so that it never idles while a result travels back.
CALLS_PER_ACTOR = 2
# How often a wait for the actors to warm looks whether its caller still waits.
WARM_POLL_S = 0.1
# Environment of every actor: one CPU each, so math libraries must not start threads.
ACTOR_ENVIRONMENT = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "NUMBA_NUM_THREADS": "1",
}


def _with_pool_info(worker_class: type, warm_method: str | None) -> type:
    """worker_class plus a method that warms it up and says where it runs."""

    class PoolWorker(worker_class):
        def pool_warm_up(self) -> dict:
            import os

            import ray

            if warm_method:
                getattr(self, warm_method)()
            return {"pid": os.getpid(), "node_id": ray.get_runtime_context().get_node_id()}

    PoolWorker.__name__ = PoolWorker.__qualname__ = worker_class.__name__
    return PoolWorker


@dataclass
class _Slot:
    index: int  # which of the pool's actors it is: its own arguments are slot_args[index]
    actor: Any
    ready: bool = False
    warm_ref: Any = None
    in_flight: int = 0
    pid: int | None = None
    node_id: str | None = None


class WorkerPool:
    """`size` long-lived actors of `worker_class`, each built from `init_args` (put into the store once).

    Unlike `ray.util.ActorPool`, which takes actors made elsewhere, this pool makes its own, warms
    them up, and replaces those that die. Constructing it touches nothing; `start` creates the
    actors without waiting for them, `wait_until_ready` waits; `run` also uses actors as they come up.
    """

    def __init__(
        self,
        worker_class: type,
        init_args: Sequence[Any],
        size: int,
        *,
        slot_args: Sequence[Sequence[Any]] | None = None,
        warm_method: str | None = "warm_up",
        actor_options: dict | None = None,
    ):
        """slot_args: each actor's own arguments (size of them), passed before init_args (none: none of its own)."""
        self.worker_class = worker_class
        self.init_args = tuple(init_args)
        self.slot_args = [tuple(arguments) for arguments in slot_args] if slot_args is not None else [()] * size
        if len(self.slot_args) != size:
            raise ValueError(f"slot_args: {len(self.slot_args)} argument lists for {size} actors")
        self.size = size
        self.warm_method = warm_method
        self.actor_options = dict(actor_options or {})
        self.replacements = 0  # actors replaced after they died
        self.last_run_workers: set[int] = set()  # the actors whose results the last `run` yielded (their processes)
        self._slots: list[_Slot] = []
        self._ray: Any = None
        self._remote_class: Any = None
        self._init_refs: list[Any] = []
        self._slot_refs: list[list[Any]] = []

    def start(self) -> WorkerPool:
        """Create the actors (each warms up in the background); returns the pool."""
        import ray

        self._ray = ray
        options = {"num_cpus": 1, "max_restarts": 0, "max_task_retries": 0}
        options.update(self.actor_options)
        options.setdefault("runtime_env", {"env_vars": ACTOR_ENVIRONMENT})
        self._remote_class = ray.remote(_with_pool_info(self.worker_class, self.warm_method)).options(**options)
        self._init_refs = [ray.put(argument) for argument in self.init_args]
        placed: dict[int, Any] = {}  # an argument several actors share goes into the store once

        def put(argument: Any) -> Any:
            if id(argument) not in placed:
                placed[id(argument)] = ray.put(argument)
            return placed[id(argument)]

        self._slot_refs = [[put(argument) for argument in arguments] for arguments in self.slot_args]
        self._slots = [self._spawn(index) for index in range(self.size)]
        return self

    def wait_until_ready(self, stop: threading.Event | None = None) -> bool:
        """Block until every actor has warmed up (True), or until `stop` is set (False: the caller no longer waits)."""
        for slot in self._slots:
            while not slot.ready:
                ready, _ = self._ray.wait([slot.warm_ref], timeout=WARM_POLL_S if stop is not None else None)
                if ready:
                    self._finish_warm(slot, self._ray.get(slot.warm_ref))
                elif stop.is_set():
                    return False
        return True

    def _spawn(self, index: int) -> _Slot:
        actor = self._remote_class.remote(*self._slot_refs[index], *self._init_refs)
        return _Slot(index=index, actor=actor, warm_ref=actor.pool_warm_up.remote())

    @staticmethod
    def _finish_warm(slot: _Slot, info: Any) -> None:
        slot.ready, slot.warm_ref = True, None
        if isinstance(info, dict):
            slot.pid, slot.node_id = info.get("pid"), info.get("node_id")

    @property
    def worker_info(self) -> list[tuple[int | None, str | None]]:
        """(process id, node id) of every live actor, for operators and fault tests."""
        return [(slot.pid, slot.node_id) for slot in self._slots if slot.ready]

    def run(
        self,
        method: str,
        shared: Any,
        tasks: Sequence[Any],
        accept: Callable[[Any], bool],
        eligible: Callable[[Any], Container[int]] | None = None,
    ) -> Iterator[Any]:
        """Run every task as `method(shared, [task])`; yield each accepted result as it arrives.

        `shared` goes into the object store once for the whole batch. A task whose actor died
        is queued again; results that `accept` rejects (a stale round) are dropped. eligible(task):
        the indices of the actors that can run it (those holding its data); none given: any actor.
        """
        ray = self._ray
        shared_ref = ray.put(shared)
        self.last_run_workers = set()
        queue = deque(tasks)
        in_flight: dict[Any, tuple[_Slot, Any]] = {}
        lonely_since: float | None = None
        while queue or in_flight:
            # Breadth first: every idle actor gets a task before any actor gets a second one.
            for depth in range(CALLS_PER_ACTOR):
                for slot in self._slots:
                    if slot.ready and queue and slot.in_flight <= depth:
                        task = _first_for(queue, slot.index, eligible)
                        if task is None:
                            continue
                        in_flight[getattr(slot.actor, method).remote(shared_ref, [task])] = (slot, task)
                        slot.in_flight += 1
            warming = {slot.warm_ref: slot for slot in self._slots if slot.warm_ref is not None}
            if not in_flight and not any(slot.ready for slot in self._slots):
                lonely_since = lonely_since or time.monotonic()
                if time.monotonic() - lonely_since > NO_WORKER_TIMEOUT_S:
                    raise ClusterError(f"workers: every worker died and none came back in {NO_WORKER_TIMEOUT_S:.0f} s")
            else:
                lonely_since = None
            waiting = list(in_flight) + list(warming)
            ready, _ = ray.wait(waiting, num_returns=1, timeout=1.0)
            for ref in ready:
                if ref in warming:
                    slot = warming[ref]
                    try:
                        self._finish_warm(slot, ray.get(ref))
                    except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                        self._replace(slot)
                    continue
                slot, task = in_flight.pop(ref)
                slot.in_flight -= 1
                try:
                    results = ray.get(ref)
                except (ray.exceptions.RayActorError, ray.exceptions.ActorUnavailableError):
                    queue.appendleft(task)  # same task, same seed: the result cannot change
                    self._replace(slot)
                    continue
                self.last_run_workers.add(slot.pid)
                for result in results:
                    if accept(result):
                        yield result

    def _replace(self, slot: _Slot) -> None:
        """Swap a dead actor for a fresh one; its in-flight calls come back as errors and are re-queued."""
        if slot not in self._slots:
            return
        self._ray.kill(slot.actor, no_restart=True)
        self._slots[self._slots.index(slot)] = self._spawn(slot.index)
        self.replacements += 1

    def close(self) -> None:
        """End every actor."""
        for slot in self._slots:
            self._ray.kill(slot.actor, no_restart=True)
        self._slots = []


def _first_for(queue: deque, index: int, eligible: Callable[[Any], Container[int]] | None) -> Any:
    """The first queued task actor `index` can run, taken out of the queue; None if it can run none of them."""
    for position, task in enumerate(queue):
        if eligible is None or index in eligible(task):
            del queue[position]
            return task
    return None
