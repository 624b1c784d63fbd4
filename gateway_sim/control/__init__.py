"""The /_sim control API: its routes, bodies, filters, long-polls, scenario loads and OpenAPI
document.
"""
