"""Gateway errors as classes that carry their wire identity (`ERR:<code>`) and the reason why,
and the numbers the JSON API gives each code (`JSON_ERROR_NUMBERS`).

The domain raises them; the protocol edge renders them (plain text, or JSON on `/api/json`).
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

ErrorCode = Literal[
    "GATEWAY_ERROR",
    "INTERNAL_ERROR",
    "INSUFFICIENT_CREDIT",
    "LOGIN_INVALID",
    "NO_USERNAME",
    "NO_PASSWORD",
    "NO_TO",
    "NO_TEXT",
    "PARAMETER_MISSING",
    "PARAMETER_INVALID",
    "INVALID_REQUEST",
    "TOO_MANY_NUMBERS",
    "INVALID_NUMBER",
    "ACCOUNT_EXISTS",
    "NO_MSGID",
    "MSGID_INVALID",
    "DAILY_ALLOWANCE_EXCEEDED",
    "AUTH_PARAMETER_MISSING",
    "AUTH_PARAMETER_INVALID",
    "CONNECTION_NOT_SECURE",
]
"""Every code the gateway answers as `ERR:<code>`, in one list: each class below carries one
(mypy checks it against this list), a rule's `error` may inject any (rule_schema.py), and the
JSON API numbers each (`JSON_ERROR_NUMBERS`, checked by a test)."""
ERROR_CODES: tuple[ErrorCode, ...] = get_args(ErrorCode)


class GatewayError(Exception):
    """An error that fails the whole request; answered as the single line `ERR:<code>`."""

    code: ClassVar[ErrorCode] = "INTERNAL_ERROR"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def line(self) -> str:
        return f"ERR:{self.code}"


class InternalError(GatewayError):
    """The gateway cannot process the request now (the simulator: its message could not be
    stored); clients fail over on it."""

    code = "INTERNAL_ERROR"


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


INVALID_NUMBER: ErrorCode = "INVALID_NUMBER"
"""The per-recipient error code: shown on the recipient's own line, never raised."""


class AuthParameterMissing(GatewayError):
    code = "AUTH_PARAMETER_MISSING"


class AuthParameterInvalid(GatewayError):
    code = "AUTH_PARAMETER_INVALID"


class ConnectionNotSecure(GatewayError):
    code = "CONNECTION_NOT_SECURE"


class DailyAllowanceExceeded(GatewayError):
    code = "DAILY_ALLOWANCE_EXCEEDED"


GATEWAY_ERROR: ErrorCode = "GATEWAY_ERROR"
"""The real gateway's catch-all failure: never raised by the simulator, injected by rules."""


JSON_ERROR_NUMBERS: dict[str, int] = {
    # documented by the vendor (README "What is simulated": HTTPS only, access keys, JSON)
    INVALID_NUMBER: 2,
    LoginInvalid.code: 11,
    GatewayError.code: 12,
    AuthParameterMissing.code: 20,
    AuthParameterInvalid.code: 21,
    ConnectionNotSecure.code: 22,
    # simulator policy: numbers of its own, from 101 up, for the codes the vendor does not number
    NoTo.code: 101,
    NoText.code: 102,
    ParameterMissing.code: 103,
    ParameterInvalid.code: 104,
    InvalidRequest.code: 105,
    TooManyNumbers.code: 106,
    InsufficientCredit.code: 107,
    DailyAllowanceExceeded.code: 108,
    GATEWAY_ERROR: 109,
    NoUsername.code: 110,
    NoPassword.code: 111,
    AccountExists.code: 112,
    NoMsgid.code: 113,
    MsgidInvalid.code: 114,
    "DELAY": 115,
}
"""The numbers the JSON API gives each error code (`error_code`); the JSON `error` is the code in
lower case. The vendor numbers six of them; the others are the simulator's own (README)."""
