"""churn/: who deleted a brand account, when, and what they saw in the week before."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import Delivery
from customers.models import Customer
from scrm.tenancy.models import Role
from tests.campaigns.factories import CampaignFactory, hand_published
from tests.conftest import staff_client_for
from wecom.models import ChurnRecord, WeComStaff

from .helpers import configure, contact_event, store_and_apply

pytestmark = pytest.mark.django_db
URL = "/api/v1/churn/"


def _churn(brand, external: str, user_id: str = "zhangsan") -> Customer:
    store_and_apply(brand, contact_event("add_external_contact", external=external,
                                         user_id=user_id))  # fmt: skip
    customer = Customer.objects.get(brand=brand, external_id=external)
    return customer


@pytest.fixture
def churned(brand):
    """A customer who saw three posts (one 10 days ago) and then deleted the staff account."""
    configure(brand)
    customer = _churn(brand, "wmCHURN")
    account = WeComStaff.objects.get(brand=brand).brand_account
    recent = hand_published(account, [customer], text="New oolong in store")
    campaign = CampaignFactory(brand=brand)
    commercial = hand_published(account, [customer], campaign=campaign, text="50% off")
    old = hand_published(account, [customer], text="Old news")
    Delivery.objects.filter(post=old).update(created_at=timezone.now() - timedelta(days=10))
    now = int(timezone.now().timestamp()) + 1
    store_and_apply(brand, contact_event("del_follow_user", external="wmCHURN", create_time=now))
    return customer, account, recent, commercial, old


def test_churn_list_shows_who_left_when_and_what_they_saw(staff_client, churned):
    customer, account, recent, commercial, old = churned
    response = staff_client.get(URL)
    assert response.status_code == 200, response.json()
    [row] = response.json()["results"]
    assert row["customer"]["id"] == customer.pk
    assert row["customer"]["lifecycle_stage"] == "churned"
    assert row["brand_account"]["id"] == account.pk
    assert row["user_id"] == "zhangsan"
    seen = {item["post"] for item in row["seen_posts"]}
    assert seen == {recent.pk, commercial.pk}  # not the one 10 days before
    assert row["seen_commercial"] == 1
    assert "next" in response.json() and "previous" in response.json()


def test_churn_list_filters(staff_client, churned, brand):
    customer, account, *_ = churned
    other = _churn(brand, "wmOTHER", user_id="lisi")
    store_and_apply(brand, contact_event("del_follow_user", external="wmOTHER", user_id="lisi"))
    assert len(staff_client.get(URL).json()["results"]) == 2
    only = staff_client.get(URL, {"customer": customer.pk}).json()["results"]
    assert [r["customer"]["id"] for r in only] == [customer.pk]
    by_staff = staff_client.get(URL, {"user_id": "lisi"}).json()["results"]
    assert [r["customer"]["id"] for r in by_staff] == [other.pk]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert staff_client.get(URL, {"since": later}).json()["results"] == []


@pytest.mark.parametrize(
    "query", [{"customer": "abc"}, {"since": "yesterday"}, {"unknown": "1"}, {"page_size": 0}]
)
def test_bad_filters_are_400_naming_them(staff_client, churned, query):
    response = staff_client.get(URL, query)
    assert response.status_code == 400
    assert set(query) <= set(response.json()["error"]["details"])


def test_a_time_with_an_offset_postgresql_refuses_is_compared_in_utc(staff_client, churned):
    response = staff_client.get(URL, {"since": "3585-06-29T20:49:50-16:16"})
    assert response.status_code == 200 and response.json()["results"] == []
    response = staff_client.get(URL, {"until": "3585-06-29T20:49:50-16:16"})
    assert len(response.json()["results"]) == 1


def test_another_brands_staff_sees_none_of_the_churn(churned, other_brand):
    other = staff_client_for(other_brand, Role.OWNER)
    assert other.get(URL).json()["results"] == []
    customer = churned[0]
    response = other.get(URL, {"customer": customer.pk})
    assert response.status_code == 400  # another brand's id is not a filter value


@pytest.mark.parametrize("role", [Role.ANALYST, Role.OPERATOR, Role.MANAGER, Role.OWNER])
def test_every_staff_role_reads_churn(brand, churned, role):
    assert staff_client_for(brand, role).get(URL).status_code == 200


def test_app_keys_and_customers_cannot_read_churn(app_client, churned):
    from tests.conftest import customer_client_for

    customer = churned[0]
    assert app_client.get(URL).status_code == 403
    # not even the churned customer: churn alerts are for staff
    assert customer_client_for(customer).get(URL).status_code == 403


def test_churn_is_read_only(staff_client, churned):
    assert staff_client.post(URL, {}, format="json").status_code == 405
    assert ChurnRecord.objects.count() == 1
