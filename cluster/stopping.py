"""A private local Ray left to stop in the background: a run that ends while its Ray is still starting does not wait
for the start only to stop it.

Ray's start cannot be cut short. The thread that starts it stops it as soon as the start is done; meanwhile
whatever reaches Ray next in this process (`connect`, `shared_local_ray`) waits for that, and so does the
process's exit (an exit hook that runs before Ray's own). A command line that is done may instead end at
once (`os._exit`): Ray's processes share the fate of the process that started them (Ray's kernel
fate-sharing on Linux, its reaper process elsewhere) and end with it.
"""

from __future__ import annotations

import atexit
import sys
import threading

_stopping: list[threading.Thread] = []
_lock = threading.Lock()
_exit_hook_registered = False


def ray_imported() -> bool:
    """Whether Ray is imported in full here (its own exit hook registered): only then may a start be left to stop."""
    ray = sys.modules.get("ray")
    return ray is not None and hasattr(ray, "init")  # ray.init comes from the module that registers Ray's exit hook


def stop_in_background(starter: threading.Thread) -> None:
    """Leave starter (a thread that stops its private Ray once Ray has started) to end on its own."""
    global _exit_hook_registered
    with _lock:
        _stopping.append(starter)
        if not _exit_hook_registered:
            # After Ray's own exit hook (Ray is imported by now), so it runs first: the start ends and is stopped
            # before Ray's hook looks at it.
            atexit.register(wait_until_stopped)
            _exit_hook_registered = True


def stopping() -> bool:
    """Whether a private Ray left to stop is still starting or stopping."""
    with _lock:
        return any(starter.is_alive() for starter in _stopping)


def wait_until_stopped() -> None:
    """Block until every private Ray left to stop has stopped (and its thread ended)."""
    with _lock:
        starters = list(_stopping)
    for starter in starters:
        if starter is not threading.current_thread():
            starter.join()
    with _lock:
        _stopping[:] = [starter for starter in _stopping if starter.is_alive()]
