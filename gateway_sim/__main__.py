"""`python -m gateway_sim` runs the command line."""

import sys

from gateway_sim.cli import main

sys.exit(main())
