"""Where a session's rounds ran, read from their records: in this process (the driver: while Ray started, or every
round with --inprocess), on worker actors, or split between the two (the round the actors came up in).

`RoundRecord.driver_tasks` and `.actors` say it of each round (`Executor.placement`); a record that does not
(written before they were recorded, or by a caller's own executor) has no placement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from coordinator.results.records import RoundRecord

Where = Literal["driver", "workers", "both"]


@dataclass(frozen=True)
class Span:
    """Consecutive rounds that ran in the same place."""

    where: Where  # every climb in this process, every climb on worker actors, or some of each
    first: int  # the first round
    last: int  # the last round
    actors: int  # the most worker actors one of its rounds ran on

    @property
    def rounds(self) -> int:
        """How many rounds it holds."""
        return self.last - self.first + 1


def where_it_ran(record: RoundRecord) -> Where | None:
    """Where a round's climbs ran (None: its record does not say)."""
    if record.driver_tasks is None or record.actors is None:
        return None
    if record.actors == 0:
        return "driver"
    return "both" if record.driver_tasks > 0 else "workers"


def placement_spans(records: Sequence[RoundRecord]) -> list[Span] | None:
    """The rounds grouped by where they ran, in order (None: a record does not say)."""
    spans: list[Span] = []
    for record in records:
        where = where_it_ran(record)
        if where is None:
            return None
        last = spans[-1] if spans else None
        if last is not None and last.where == where and last.last == record.round - 1:
            spans[-1] = Span(where, last.first, record.round, max(last.actors, record.actors))
        else:
            spans.append(Span(where, record.round, record.round, record.actors))
    return spans


def placement_fields(records: Sequence[RoundRecord]) -> dict[str, int | None]:
    """What `Environment` records of where a session's rounds ran (nothing where a record does not say)."""
    spans = placement_spans(records)
    if not spans:
        return {}
    counted = {where: sum(span.rounds for span in spans if span.where == where) for where in ("driver", "workers")}
    counted["both"] = sum(span.rounds for span in spans if span.where == "both")
    on_workers = [span for span in spans if span.where != "driver"]
    return {
        "driver_rounds": counted["driver"],
        "worker_rounds": counted["workers"],
        "shared_rounds": counted["both"],
        "first_worker_round": on_workers[0].first if on_workers else None,
        "actors": max((span.actors for span in spans), default=0),
    }
