"""The gateway's side of the edge: requests parsed into fields, answers rendered as the vendor's
lines and JSON, for every dialect (legacy, /api/https, /api/json).
"""
