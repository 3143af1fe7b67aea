"""Every admin page renders for every kind of visitor: no page of any registered model may
answer 500, whether the visitor is anonymous, a superuser or a brand member of any role."""

from decimal import Decimal

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from campaigns.services.conversions import conversion_record
from customers.services import customer_consent_set
from interactions.services import interactions_ingest, tie_model_save
from privacy.audit import Actor
from privacy.retention import retention_policy_set
from privacy.services import erasure_request
from scrm.tenancy.models import Role
from tests.campaigns.factories import EnrollmentFactory
from tests.conftest import admin_client_for
from tests.factories import BrandFactory
from tests.graph import author_with_friends, published_post, set_policy, staff_caller
from tests.wecom.helpers import wecom_populate

pytestmark = pytest.mark.django_db


def populate(brand) -> None:
    """One row or more in every model: graph, post, deliveries, interactions, ties, policy,
    campaign, enrollment, a conversion, fitted tie parameters, a consent change (and its audit
    entry), an erasure request (queued, not run) and a retention policy."""
    author, friends = author_with_friends(brand, 3)
    post = published_post(author, text="hello")
    interactions_ingest(
        caller=staff_caller(brand.pk),
        events=[
            {
                "event_id": f"like-{brand.pk}",
                "type": "like",
                "actor": friends[0].pk,
                "target": author.pk,
                "post": post.pk,
            }
        ],
    )
    set_policy(brand, sender_daily_cap=3)
    enrollment = EnrollmentFactory(campaign__brand=brand)
    conversion_record(
        caller=staff_caller(brand.pk),
        order_id=f"order-{brand.pk}",
        amount=Decimal("10.00"),
        currency="CNY",
        buyer_id=friends[1].pk,
        referral_code=enrollment.code,
    )
    tie_model_save(
        brand_id=brand.pk,
        weights={"like": 2.0, "message": 1.0},
        duration_weight=0.5,
        mutual_weight=2.0,
        held_out_auc=0.71,
        default_auc=0.69,
        pairs=120,
        recompute=False,
    )
    customer_consent_set(
        customer=friends[2], purpose="mass_messages", granted=False, source="mini_program"
    )
    erasure_request(customer=friends[2], actor=Actor.system())
    retention_policy_set(brand=brand, raw_interaction_days=365)
    wecom_populate(brand)


def admin_urls(model_admin) -> list[str]:
    """Changelist, add page and the change page of each visible row of one admin."""
    meta = model_admin.model._meta
    prefix = f"admin:{meta.app_label}_{meta.model_name}"
    urls = [reverse(f"{prefix}_changelist"), reverse(f"{prefix}_add")]
    for pk in model_admin.model._default_manager.values_list("pk", flat=True)[:3]:
        urls.append(reverse(f"{prefix}_change", args=[pk]))
    return urls


def test_login_page_and_index_for_an_anonymous_visitor():
    client = Client()

    assert client.get("/admin/login/").status_code == 200
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("visitor", ["superuser", *Role.values])
def test_every_admin_page_answers_without_a_server_error(visitor, brand):
    # Given: two brands with rows in every model
    populate(brand)
    populate(BrandFactory(slug="other"))
    if visitor == "superuser":
        client = Client()
        client.force_login(get_user_model().objects.create_superuser("root", "r@x.io", "pw"))
    else:
        client = admin_client_for(brand, visitor)

    # When: the visitor opens every page of every registered model
    answers = {
        url: client.get(url).status_code
        for model_admin in admin.site._registry.values()
        for url in admin_urls(model_admin)
    }

    # Then: each is shown, redirected or refused, never a server error
    assert client.get("/admin/").status_code == 200
    failures = {url: code for url, code in answers.items() if code >= 500}
    assert failures == {}
    if visitor == "superuser":  # sees every list and row; add pages may be refused by design
        assert {code for url, code in answers.items() if not url.endswith("/add/")} == {200}
