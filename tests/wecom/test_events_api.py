"""wecom/events/: the brand's accepted callbacks, their retries and outcomes, for staff."""

from __future__ import annotations

import pytest

from scrm.tenancy.models import Role
from tests.conftest import customer_client_for, staff_client_for
from tests.factories import CustomerFactory

from .helpers import configure, contact_event, post_event, store_and_apply

pytestmark = pytest.mark.django_db
URL = "/api/v1/wecom/events/"


@pytest.fixture
def events(brand, anon_client):
    configure(brand)
    add = contact_event("add_external_contact", external="wmLOG")
    post_event(anon_client, brand, add)
    post_event(anon_client, brand, add)  # a retry
    store_and_apply(brand, contact_event("transfer_fail", external="wmLOG",
                                         FailReason="customer_refused"))  # fmt: skip
    return brand


def test_staff_see_the_callbacks_newest_first_with_retries_and_outcomes(staff_client, events):
    response = staff_client.get(URL)
    assert response.status_code == 200
    rows = response.json()["results"]
    assert [r["change_type"] for r in rows] == ["transfer_fail", "add_external_contact"]
    failed_transfer, add = rows
    assert failed_transfer["status"] == "recorded"
    assert failed_transfer["result"]["fail_reason"] == "customer_refused"
    assert (add["status"], add["deliveries"]) == ("pending", 2)
    assert add["payload"]["ExternalUserID"] == "wmLOG"


def test_filters(staff_client, events):
    rows = staff_client.get(URL, {"status": "recorded"}).json()["results"]
    assert [r["change_type"] for r in rows] == ["transfer_fail"]
    rows = staff_client.get(URL, {"change_type": "add_external_contact"}).json()["results"]
    assert len(rows) == 1
    assert staff_client.get(URL, {"status": "bogus"}).status_code == 400
    assert staff_client.get(URL, {"nope": "1"}).status_code == 400


def test_another_brand_sees_none_of_them(events, other_brand):
    other = staff_client_for(other_brand, Role.OWNER)
    assert other.get(URL).json()["results"] == []


@pytest.mark.parametrize("role", [Role.ANALYST, Role.OWNER])
def test_staff_roles_read(events, role):
    assert staff_client_for(events, role).get(URL).status_code == 200


def test_app_keys_and_customers_may_not_read(events, app_client):
    assert app_client.get(URL).status_code == 403
    customer = CustomerFactory(brand=events)
    assert customer_client_for(customer).get(URL).status_code == 403
