"""ASGI type aliases shared by the plain-ASGI parts of the app."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASGIApp", "Headers", "Message", "Receive", "Scope", "Send"]

Headers = list[tuple[bytes, bytes]]
"""Response headers as ASGI sends them: (name, value) pairs of bytes."""
