"""The old home of `Objective` (now `workers.objective`), kept so that imports written for it still work."""

from workers.objective import Objective, ObjectiveCallError, ObjectiveError

__all__ = ["Objective", "ObjectiveCallError", "ObjectiveError"]
