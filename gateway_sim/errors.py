"""Gateway errors as classes that carry their wire identity (`ERR:<code>`) and the reason why.

The domain raises them; `protocol.answers` renders them in one place.
"""

from __future__ import annotations

from typing import ClassVar


class GatewayError(Exception):
    """An error that fails the whole request; answered as the single line `ERR:<code>`."""

    code: ClassVar[str] = "INTERNAL_ERROR"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def line(self) -> str:
        return f"ERR:{self.code}"


class NoUsername(GatewayError):
    code = "NO_USERNAME"


class NoPassword(GatewayError):
    code = "NO_PASSWORD"


class LoginInvalid(GatewayError):
    code = "LOGIN_INVALID"


class NoTo(GatewayError):
    code = "NO_TO"


class NoText(GatewayError):
    code = "NO_TEXT"


class ParameterMissing(GatewayError):
    code = "PARAMETER_MISSING"


class ParameterInvalid(GatewayError):
    code = "PARAMETER_INVALID"


class InvalidRequest(GatewayError):
    code = "INVALID_REQUEST"


class TooManyNumbers(GatewayError):
    code = "TOO_MANY_NUMBERS"


class InsufficientCredit(GatewayError):
    code = "INSUFFICIENT_CREDIT"


class AccountExists(GatewayError):
    code = "ACCOUNT_EXISTS"


class NoMsgid(GatewayError):
    code = "NO_MSGID"


class MsgidInvalid(GatewayError):
    code = "MSGID_INVALID"


INVALID_NUMBER = "INVALID_NUMBER"
"""The per-recipient error code: shown on the recipient's own line, never raised."""
