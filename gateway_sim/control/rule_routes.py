"""The rules in force over HTTP (`/_sim/rules`): list them with their counters, add one, switch
one off or on, delete one; on a shared store, for every replica (README: replicas on
PostgreSQL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway_sim.control.bodies import Problem, json_body, parse_rule
from gateway_sim.control.views import RuleView
from gateway_sim.store.repository import shared

if TYPE_CHECKING:
    from gateway_sim.control.simulator import Simulator


class RuleRoutes:
    """The rule handlers of one simulator."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.store = sim.store

    async def list_rules(self, request: Request) -> Response:
        return JSONResponse({"rules": [rule.shown() for rule in self._rules()]})

    async def add_rule(self, request: Request) -> Response:
        rule = parse_rule(await json_body(request))
        most, now = self.sim.limits.max_rules, len(self.sim.gateway.rules)
        if now >= most:
            detail = f"{now} rules are in force, at the limit of {most} (--max-rules)"
            raise Problem(422, "too_many_rules", detail + "; delete one first")
        try:
            self.sim.gateway.rules.add(rule)
        except ValueError as clash:
            raise Problem(409, "rule_exists", str(clash)) from None
        replicated = shared(self.store)
        spec = rule.model_dump_json(by_alias=True, exclude_none=True)
        if replicated is not None and not replicated.rule_added(rule.name, spec):
            self.sim.gateway.rules.remove(rule.name)
            taken = f"a rule named {rule.name!r} exists already (added on another replica)"
            raise Problem(409, "rule_exists", taken)
        return _show(201, self._rule(rule.name))

    async def switch_rule(self, request: Request) -> Response:
        name = request.path_params["name"]
        body = await json_body(request)
        enabled = body.get("enabled") if isinstance(body, dict) else None
        if not isinstance(body, dict):
            raise Problem(400, "bad_json", "the body must be a JSON object")
        if not isinstance(enabled, bool):
            raise Problem(422, "bad_enabled", "enabled must be true or false")
        rules = self.sim.gateway.rules
        if not rules.enable(name, enabled):
            raise Problem(404, "not_found", f"no rule named {name!r}")
        replicated = shared(self.store)
        if replicated is not None:
            replicated.rule_switched(name, enabled)
        return _show(200, self._rule(name))

    def _rules(self) -> list[RuleView]:
        return [RuleView.model_validate(rule) for rule in self.sim.gateway.rules.describe()]

    def _rule(self, name: str) -> RuleView:
        described = next(r for r in self.sim.gateway.rules.describe() if r["name"] == name)
        return RuleView.model_validate(described)

    async def delete_rule(self, request: Request) -> Response:
        name = request.path_params["name"]
        if not self.sim.gateway.rules.remove(name):
            raise Problem(404, "not_found", f"no rule named {name!r}")
        replicated = shared(self.store)
        if replicated is not None:
            replicated.rule_removed(name)
        return Response(status_code=204)


def _show(status: int, view: RuleView) -> JSONResponse:
    return JSONResponse(view.shown(), status_code=status)
