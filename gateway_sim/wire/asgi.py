"""ASGI type aliases shared by the plain-ASGI parts of the app, and reading a request's Host."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ASGIApp", "Headers", "Message", "Receive", "Scope", "Send", "host_of"]

Headers = list[tuple[bytes, bytes]]
"""Response headers as ASGI sends them: (name, value) pairs of bytes."""


def host_of(scope: Scope) -> str:
    """The Host header as the client sent it (port included), or "" without one."""
    for name, value in scope["headers"]:
        if name == b"host":
            return str(value.decode("latin-1"))
    return ""
