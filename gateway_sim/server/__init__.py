"""Running it: the app, its edge and guard, the HTTP server, serve, TLS, the command line and its
probes.
"""
