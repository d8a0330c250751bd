"""A worker for a black-box objective: holds the objective, runs the climbs or scores the candidates it is handed.

Plain Python, like `workers.worker.ClimbWorker` (the same `warm_up` and `run`), so it runs in-process
as it is and on Ray wrapped as an actor by the caller; Ray ships the objective to it (cloudpickle:
closures and lambdas too).
"""

from __future__ import annotations

from workers.climbs import Solution
from workers.messages import CandidateReport, CandidateTask, ClimbReport, ClimbTask, Generation
from workers.network import Layout
from workers.objective import Objective, ObjectiveCallError, ObjectiveError
from workers.objective_climb import climb_objective
from workers.population import evaluate_candidates
from workers.settings import ClimbSettings


class ObjectiveWorker:
    """Runs climbs, or scores a population's candidates, on the objective it was created with."""

    def __init__(self, objective: Objective, sizes: tuple[int, ...], settings: ClimbSettings):
        self.objective = objective
        self.layout = Layout(tuple(sizes))
        self.settings = settings.climb_settings()

    def warm_up(self) -> None:
        """Let the objective make what it holds (an environment's instances) before the first round is timed."""
        self.objective.warm_up()

    def run(self, start: Solution | None, tasks: list[ClimbTask]) -> list[ClimbReport]:
        """Climb once per task from start, in lock step (one batch of candidates a step); the tasks share one round."""
        if not tasks:
            return []
        first = tasks[0]
        settings = self.settings.model_copy(update={"steps": first.steps})
        seeds = [task.seed for task in tasks]
        try:
            outcomes = climb_objective(start, seeds, self.objective, self.layout, settings, first.round_seed)
        except ObjectiveCallError as failure:
            raise ObjectiveError(failure_line(failure, tasks, self.objective.name)) from failure.__cause__
        return [
            ClimbReport(round_index=task.round_index, climber_index=task.climber_index, outcome=outcome)
            for task, outcome in zip(tasks, outcomes, strict=True)
        ]

    def run_groups(self, start: Solution | None, groups: list[list[ClimbTask]]) -> list[ClimbReport]:
        """`run` on each group of tasks in turn (a worker handed several climbers of a round at once)."""
        return [report for group in groups for report in self.run(start, group)]

    def evaluate(self, generation: Generation, tasks: list[CandidateTask]) -> list[CandidateReport]:
        """The losses of each task's candidates of the generation, scored together (one batch a task)."""
        reports = []
        for task in tasks:
            candidates = range(task.first, task.stop)
            try:
                losses = evaluate_candidates(
                    self.objective, generation.state, generation.settings, generation.seed, candidates, task.round_seed
                )
            except ObjectiveCallError as failure:
                raise ObjectiveError(candidate_failure_line(failure, task, self.objective.name)) from failure.__cause__
            reports.append(CandidateReport(round_index=task.round_index, first=task.first, losses=losses))
        return reports


def candidate_failure_line(failure: ObjectiveCallError, task: CandidateTask, name: str) -> str:
    """`objective f: candidate 5 of round 7 raised ...`: which candidate, when, and what went wrong."""
    if failure.row is not None:
        who = f"candidate {task.first + failure.row}"
    elif task.stop - task.first == 1:
        who = f"candidate {task.first}"
    else:
        who = f"candidates {task.first}-{task.stop - 1} (one batch)"
    return f"objective {name}: {who} of round {task.round_index} {failure.message}"


def failure_line(failure: ObjectiveCallError, tasks: list[ClimbTask], name: str) -> str:
    """`objective f: climber 3 of round 7 raised ...`: who called it, when, and what went wrong."""
    round_index = tasks[0].round_index
    if failure.row is not None:
        who = f"climber {tasks[failure.row].climber_index}"
    elif len(tasks) == 1:
        who = f"climber {tasks[0].climber_index}"
    else:
        who = f"climbers {', '.join(str(task.climber_index) for task in tasks)} (one batch)"
    return f"objective {name}: {who} of round {round_index} {failure.message}"
