"""`python -m coordinator`: see coordinator.interface.cli."""

import sys

from coordinator.interface.cli import main

sys.exit(main())
