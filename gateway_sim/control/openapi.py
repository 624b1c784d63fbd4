"""The OpenAPI 3.1 description of the control API, served at `/_sim/openapi.json`, generated: its
paths and methods from the routes the app serves (as Starlette's `SchemaGenerator` derives them),
what each operation says from `operations.OPERATIONS`, and its schemas from pydantic models: the
views in serialization mode (what the API shows, `#/components/schemas/<Model>`) and the models
that read request bodies in validation mode (what it takes, `Input.<Model>`). A route without
its operation, or an operation without its route, fails the generation.

Paths are written in full (`/_sim/messages`, ...) so that the document needs no `servers` entry:
tools resolve them against the host the document was fetched from.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.routing import BaseRoute, Route

from gateway_sim import __version__
from gateway_sim.control.catalogue import OPERATIONS
from gateway_sim.control.operations import (
    PATH_PARAMETERS,
    STRING,
    Answer,
    Body,
    Operation,
    Refusal,
    Schema,
    shown,
)
from gateway_sim.control.views import SHOWN, AccountView, RuleView
from gateway_sim.control.views_records import AttemptPage, MessagePage, MessageView, RequestPage
from gateway_sim.domain.scenario import Scenario

PREFIX = "/_sim"
TAKEN = "#/components/schemas/Input.{model}"
SHOWN_MODELS: tuple[type[BaseModel], ...] = (
    MessageView,
    MessagePage,
    RequestPage,
    AttemptPage,
    AccountView,
    RuleView,
    Scenario,
)
"""What the API shows: every schema of a view (and its parts) comes from these."""
DESCRIPTION = (
    "Inspect what the simulator accepted, wait for messages, manage accounts, and load or reset "
    "the scenario. Every refused request gets a 4xx with "
    '`{"error": <short code>, "detail": <what is wrong>}`. Every GET also answers HEAD; a '
    "method a path does not support gets 405 (`method_not_allowed`) and an unknown path under "
    "`/_sim` gets 404 (`not_found`), both with the error shape. With `--control-token T` every "
    "request needs `Authorization: Bearer T` (else 401); `/_sim/events` also takes `?token=T`."
)
_PARAMETER = re.compile(r"{(\w+)(?::\w+)?}")


def document(routes: Sequence[BaseRoute]) -> dict[str, Any]:
    """The document of the control app whose routes (under `/_sim`) are `routes`."""
    paths: dict[str, Schema] = {}
    documented: set[tuple[str, str]] = set()
    for route in routes:
        if not isinstance(route, Route) or not route.include_in_schema:
            continue
        for method in sorted((route.methods or set()) - {"HEAD"}):  # HEAD: every GET answers it
            operation = OPERATIONS[(route.path, method)]
            item = paths.setdefault(PREFIX + route.path, {})
            item[method.lower()] = _operation(operation, _PARAMETER.findall(route.path))
            documented.add((route.path, method))
    unrouted = sorted(set(OPERATIONS) - documented)
    if unrouted:
        raise ValueError(f"operations documented without a route: {unrouted}")
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gateway-sim control API",
            "version": __version__,
            "description": DESCRIPTION,
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(),
            "responses": {
                "Unauthorized": {
                    **_refusal(
                        Refusal(
                            "A control token is set and the request lacks "
                            "`Authorization: Bearer <token>`.",
                            ("unauthorized",),
                        )
                    ),
                    "headers": {
                        "WWW-Authenticate": {
                            "schema": {"type": "string", "enum": ["Bearer"]},
                            "required": True,
                        }
                    },
                },
                "NotFound": _refusal(
                    Refusal("No route under `/_sim` has this path.", ("not_found",))
                ),
                "MethodNotAllowed": _refusal(
                    Refusal("The path does not support this method.", ("method_not_allowed",))
                ),
            },
            "securitySchemes": {
                "controlToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "Needed only when the simulator runs with `--control-token`.",
                }
            },
        },
        "security": [{}, {"controlToken": []}],
    }


def _schemas() -> dict[str, Schema]:
    """The views' schemas as shown, the body models' as taken (each model once, by name), and
    the error shape."""
    _, shown_ = models_json_schema(
        [(model, "serialization") for model in SHOWN_MODELS], ref_template=SHOWN
    )
    taken_models = {body.schema for body in _bodies() if isinstance(body.schema, type)}
    _, taken = models_json_schema(
        [(model, "validation") for model in sorted(taken_models, key=lambda m: m.__name__)],
        ref_template=TAKEN,
    )
    return {
        **shown_["$defs"],
        **{f"Input.{name}": schema for name, schema in taken["$defs"].items()},
        "Error": {
            "type": "object",
            "required": ["error", "detail"],
            "properties": {
                "error": {"type": "string", "description": "A short error code."},
                "detail": {"type": "string", "description": "What is wrong, for a person."},
                "problems": {"type": "array", "items": STRING},
            },
            "additionalProperties": False,
        },
    }


def _bodies() -> list[Body]:
    return [operation.body for operation in OPERATIONS.values() if operation.body is not None]


def _operation(operation: Operation, path_parameters: Sequence[str]) -> Schema:
    answers = {
        str(status): _answer(answer) if isinstance(answer, Answer) else _refusal(answer)
        for status, answer in sorted(operation.answers.items())
    }
    found: Schema = {
        "operationId": operation.id,
        "summary": operation.summary,
        "responses": {**answers, "401": {"$ref": "#/components/responses/Unauthorized"}},
    }
    parameters = [_path_parameter(name) for name in path_parameters] + list(operation.query)
    if parameters:
        found["parameters"] = parameters
    if operation.body is not None:
        found["requestBody"] = _body(operation.body)
    return found


def _path_parameter(name: str) -> Schema:
    schema, description, example = PATH_PARAMETERS[name]
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": schema,
        "description": description,
        "example": example,
    }


def _answer(answer: Answer) -> Schema:
    found: Schema = {"description": answer.description}
    if answer.headers:
        found["headers"] = {
            name: {"schema": STRING, "required": True, "description": text}
            for name, text in answer.headers.items()
        }
    if answer.body is not None:
        schema = shown(answer.body) if isinstance(answer.body, type) else answer.body
        found["content"] = {answer.media: {"schema": schema}}
    return found


def _body(body: Body) -> Schema:
    if isinstance(body.schema, type):
        schema = {"$ref": TAKEN.format(model=body.schema.__name__)}
    else:
        schema = body.schema
    found: Schema = {
        "required": body.required,
        "content": {
            **{media: {"schema": schema} for media in body.media},
            **{media: {"schema": other} for media, other in body.other.items()},
        },
    }
    if body.description:
        found["description"] = body.description
    return found


def _refusal(refusal: Refusal) -> Schema:
    """An error answer whose `error` is one of the refusal's codes."""
    properties: Schema = {
        "error": {"type": "string", "enum": list(refusal.codes)},
        "detail": STRING,
    }
    required = ["error", "detail"]
    if refusal.problems:
        properties["problems"] = {"type": "array", "items": STRING}
        if refusal.problems == "always":
            required.append("problems")
    schema = {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
    }
    return {"description": refusal.description, "content": {"application/json": {"schema": schema}}}
