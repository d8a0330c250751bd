"""`python -m coordinator`: see coordinator.interface.cli."""

from coordinator.interface.cli import run_as_program

run_as_program()
