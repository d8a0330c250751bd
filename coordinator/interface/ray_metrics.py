"""A search's progress as Ray metrics, for Ray's dashboard and Prometheus/Grafana.

Gauges recorded in the driver are exported by the node's metrics agent on the node's metrics
export port (`/metrics`, Prometheus text), under Ray's `ray_` prefix: `ray_hillclimb_best_loss`.
Each series carries the tag `run` (the run's name), so two runs on one cluster are told apart.
"""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass

from coordinator.results.records import RoundRecord
from coordinator.rounds.best import Best

METRIC_PREFIX = "hillclimb_"
RUN_TAG = "run"


@dataclass(frozen=True)
class GaugeSpec:
    """One published figure: its name (without prefix), what it means, its unit."""

    name: str
    description: str
    unit: str


GAUGES = (
    GaugeSpec("round", "index of the last finished round (0 is the first)", "rounds"),
    GaugeSpec("best_loss", "the loss the climbs minimise (with any L2 term) of the best network so far", "loss"),
    GaugeSpec("best_accuracy", "fraction of training rows the best network so far classifies right", "ratio"),
    GaugeSpec("best_r2", "a regressor's R^2 of the best network so far on the training rows", "ratio"),
    GaugeSpec("validation_loss", "loss of the best network so far on held-out rows, without any L2 term", "loss"),
    GaugeSpec("validation_accuracy", "accuracy of the best network so far on held-out rows", "ratio"),
    GaugeSpec("validation_r2", "a regressor's R^2 of the best network so far on held-out rows", "ratio"),
    GaugeSpec("evaluations_per_second", "loss evaluations per second in the last round, all workers", "1/s"),
    GaugeSpec("workers_alive", "worker actors alive at the end of the last round", "workers"),
    GaugeSpec("elapsed_seconds", "seconds since this session of the run began", "seconds"),
    GaugeSpec("winning_share", "row shares: the share the last round's leading climber climbed on", "share"),
)


def round_figures(record: RoundRecord, elapsed_s: float) -> dict[str, float | None]:
    """The value of each gauge after a round; None leaves a gauge as it was (or unpublished)."""
    return {
        "round": record.round,
        "best_loss": record.best_loss,
        "best_accuracy": record.best_accuracy,
        "best_r2": record.best_r2,
        "validation_loss": record.validation_loss,
        "validation_accuracy": record.validation_accuracy,
        "validation_r2": record.validation_r2,
        "evaluations_per_second": record.evaluations_per_second,
        "workers_alive": record.workers,
        "elapsed_seconds": elapsed_s,
        "winning_share": record.winning_share,
    }


def export_interval_seconds() -> float:
    """How often this process's Ray exports its metrics (metrics_report_interval_ms, at least 1 s)."""
    ray = sys.modules["ray"]
    try:
        return max(ray._config.metrics_report_interval_ms(), 1000) / 1000
    except AttributeError:  # a Ray that does not say: its long-standing default
        return 10.0


class RayMetrics:
    """A Progress that publishes each round's figures as Ray gauges tagged with the run's name.

    Ray exports a gauge's value once after it is set, and its agent forgets the value two export
    intervals later (20 s by default; Ray 2.60), so a round longer than that would leave a gap:
    while connected, a thread sets the last round's figures again every half export interval,
    until close() or until Ray is shut down.
    """

    def __init__(self, run_name: str):
        self.run_name = run_name
        self._gauges: dict = {}  # name -> ray.util.metrics.Gauge, made once Ray is connected
        self._latest: dict[str, float] = {}  # the last round's figures, for the refresher
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    @property
    def publishing(self) -> bool:
        """Whether the gauges exist (after started(), on a driver connected to Ray)."""
        return bool(self._gauges)

    def started(self) -> None:
        """Create the gauges if this process is connected to Ray already (else at the first round Ray is up)."""
        self._make_gauges()

    def _make_gauges(self) -> None:
        """The gauges, once; without a Ray connection (in-process runs, ray:// clients, Ray still starting) none."""
        if self._gauges or "ray" not in sys.modules:  # never imported first here: connecting sets its environment
            return
        import ray  # if another thread is importing it (a private Ray starting), this waits for that import

        if not ray.is_initialized() or ray.util.client.ray.is_connected():
            return
        from ray.util.metrics import Gauge

        self._gauges = {
            spec.name: Gauge(
                METRIC_PREFIX + spec.name, description=f"{spec.description} [{spec.unit}]", tag_keys=(RUN_TAG,)
            ).set_default_tags({RUN_TAG: self.run_name})
            for spec in GAUGES
        }
        self._refresher = threading.Thread(
            target=self._refresh, args=(export_interval_seconds() / 2,), name="hillclimb-metrics", daemon=True
        )
        self._refresher.start()

    def climber_done(self, round_index: int, done: int, total: int, best: Best | None) -> None:
        """Nothing between rounds: a round's figures are published whole."""

    def round_done(self, record: RoundRecord, elapsed_s: float) -> None:
        """Set every gauge to the round's figure (microseconds each; Ray's agent exports them later)."""
        self._make_gauges()  # a private Ray comes up while the first rounds run in this process
        if not self._gauges:
            return
        figures = {name: value for name, value in round_figures(record, elapsed_s).items() if value is not None}
        with self._lock:
            self._latest.update(figures)
            self._publish(figures)

    def close(self) -> None:
        """Stop setting the gauges again (what was exported ages out of Ray's agent)."""
        self._stop.set()
        if self._refresher is not None:
            self._refresher.join()

    def _publish(self, figures: dict[str, float]) -> None:
        for name, value in figures.items():
            self._gauges[name].set(value)

    def _refresh(self, every_s: float) -> None:
        ray = sys.modules["ray"]
        while not self._stop.wait(every_s) and ray.is_initialized():
            with self._lock:
                self._publish(self._latest)
