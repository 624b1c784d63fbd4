"""The OpenAPI description of the control API, served at `/_sim/openapi.json`."""

from typing import Any

SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "gateway-sim control API", "version": "1"},
    "paths": {},
}
