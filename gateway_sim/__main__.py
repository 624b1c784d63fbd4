"""`python -m gateway_sim` runs the command line."""

import sys

from gateway_sim.server.cli import main

sys.exit(main())
