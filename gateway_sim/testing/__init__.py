"""For users' tests: the pytest plugin and the typed Python client of the control API."""
