"""Fixtures of the fault-injection tests: the session's throwaway stack, a fresh database per
test, and the ORM pointed at it."""

from __future__ import annotations

import pytest

from .stack import Stack


@pytest.fixture(scope="session")
def fault_stack():
    stack = Stack()
    yield stack
    stack.destroy()


@pytest.fixture
def stack(fault_stack, django_db_blocker):
    """The stack with a fresh database; the test's ORM calls go to it (not to the suite's
    test database), and every process it started is stopped afterwards."""
    fault_stack.fresh_database()
    try:
        with django_db_blocker.unblock(), fault_stack.orm():
            yield fault_stack
    finally:
        fault_stack.stop_services()
