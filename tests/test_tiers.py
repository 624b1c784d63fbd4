"""The rule that sorts tests into tiers: what starts something real is `slow`, what stays in
process is quick (`make test-quick`)."""

from __future__ import annotations

import pytest

from tests import conftest, test_billing, test_cli, test_concurrency, test_limit_head, test_wire


@pytest.mark.parametrize("module", [test_cli, test_limit_head, test_concurrency])
def test_a_module_that_starts_a_process_or_socket_server_is_slow(module: object) -> None:
    assert conftest._starts_something_real(module)


@pytest.mark.parametrize("module", [test_billing, test_wire])
def test_a_module_that_stays_in_process_is_quick(module: object) -> None:
    assert not conftest._starts_something_real(module)
