"""What one worker computes: the network, the hill climbs and the worker that runs them."""

from workers.climb import ClimbOutcome, Solution, climb, climb_batch
from workers.messages import ClimbReport, ClimbTask
from workers.network import Layout, evaluate, init_params, logits, score, softmax
from workers.settings import ClimbSettings
from workers.worker import ClimbWorker

__all__ = [
    "ClimbOutcome",
    "ClimbReport",
    "ClimbSettings",
    "ClimbTask",
    "ClimbWorker",
    "Layout",
    "Solution",
    "climb",
    "climb_batch",
    "evaluate",
    "init_params",
    "logits",
    "score",
    "softmax",
]
