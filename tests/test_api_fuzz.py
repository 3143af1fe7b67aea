"""Property-based fuzzing of every API operation from the OpenAPI schema: never a 500.

Schemathesis generates valid and invalid requests for each path and method of
`/api/schema/`; every response must be a non-5xx answer. Runs in-process against the real
PostgreSQL and Redis of the test run, as a manager of one brand.
"""

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from scrm.tenancy import services as tenancy
from tests.factories import CustomerFactory, MembershipFactory

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def staff_headers(brand):
    # As Django's test client does: keep the test's connection open across requests.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    membership = MembershipFactory(brand=brand, role="owner")
    CustomerFactory.create_batch(3, brand=brand)
    issued = tenancy.staff_token_issue(user=membership.user, brand=brand)
    yield {"Authorization": f"Bearer {issued.token}"}
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_operation_answers_5xx(case, staff_headers):
    response = case.call(headers=staff_headers)
    case.validate_response(response, checks=[not_a_server_error])
