"""`python -m coordinator`: see coordinator.cli."""

import sys

from coordinator.cli import main

sys.exit(main())
