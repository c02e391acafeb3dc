"""`python -m worker.cli`: how `wirewatch run` starts each role's process."""

import sys

from worker.cli import main

sys.exit(main())
