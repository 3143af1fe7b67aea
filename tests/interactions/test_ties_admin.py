"""Tie insights admin (chart, leaderboard, candidates, promote, recompute) and the customer
page's strongest-ties panel, as a non-superuser staff member of brand A."""

from __future__ import annotations

import base64
import json

import pytest
import redis as redis_lib
from django.conf import settings
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from customers.models import Advocate
from scrm.tenancy.models import Role
from tests.factories import AdvocateFactory, CustomerFactory, MembershipFactory
from tests.graph import author_with_friends
from tests.ties_helpers import tie_pair

pytestmark = pytest.mark.django_db

INSIGHTS = "admin:interactions_tie_insights"


def admin_client_for(brand, role=Role.MANAGER) -> Client:
    membership = MembershipFactory(brand=brand, role=role)
    membership.user.user_permissions.add(Permission.objects.get(codename="view_customer"))
    client = Client()
    client.force_login(membership.user)
    return client


@pytest.fixture
def two_brands(brand, other_brand):
    """In each brand: an advocate with a strong tie and a candidate with strong ties."""
    made = {}
    for key, b in (("a", brand), ("b", other_brand)):
        advocate, friends = author_with_friends(b, 2, display_name=f"Advocate {key.upper()}")
        AdvocateFactory(customer=advocate)
        tie_pair(advocate, friends[0], 0.7)
        candidate = CustomerFactory(brand=b, display_name=f"Candidate {key.upper()}")
        tie_pair(candidate, friends[1], 0.9, out={"muted_at": timezone.now()})
        made[key] = {"advocate": advocate, "candidate": candidate, "friends": friends}
    return made


def test_insights_page_shows_own_brand_only_with_inline_chart(brand, two_brands):
    # Given a manager of brand A; when they open the insights page
    client = admin_client_for(brand)
    response = client.get(reverse(INSIGHTS))

    # Then A's advocate and candidate are listed, B's never
    assert response.status_code == 200
    page = response.content.decode()
    assert "Advocate A" in page and "Candidate A" in page
    assert "Advocate B" not in page and "Candidate B" not in page
    # And the chart is inline SVG with no external script or stylesheet
    assert "<svg" in page and "Tie strength distribution" in page
    assert "cdn" not in page.lower()
    assert "2 ties with strength" in page  # A's two pairs, counted once each


def test_insights_of_another_brand_is_404(brand, other_brand, two_brands):
    client = admin_client_for(brand)
    response = client.get(reverse(INSIGHTS), {"brand": other_brand.pk})
    assert response.status_code == 404


def test_promote_a_candidate(brand, two_brands):
    # Given a manager of A; when they promote A's candidate and smuggle in B's
    client = admin_client_for(brand)
    response = client.post(
        reverse("admin:interactions_tie_promote"),
        {
            "brand": brand.pk,
            "customer": [two_brands["a"]["candidate"].pk, two_brands["b"]["candidate"].pk],
        },
    )

    # Then A's candidate is an active advocate of A; B's customer is untouched
    assert response.status_code == 302
    assert Advocate.objects.get(customer=two_brands["a"]["candidate"]).brand_id == brand.pk
    assert not Advocate.objects.filter(customer=two_brands["b"]["candidate"]).exists()


def test_promote_and_recompute_need_a_manager(brand, two_brands):
    # Given an analyst of A: no buttons, and the posts are refused
    client = admin_client_for(brand, Role.ANALYST)
    page = client.get(reverse(INSIGHTS)).content.decode()
    assert "Promote to advocate" not in page and "full recompute" not in page
    candidate = two_brands["a"]["candidate"]
    response = client.post(
        reverse("admin:interactions_tie_promote"), {"brand": brand.pk, "customer": candidate.pk}
    )
    assert response.status_code == 403
    assert not Advocate.objects.filter(customer=candidate).exists()
    response = client.post(reverse("admin:interactions_tie_recompute"), {"brand": brand.pk})
    assert response.status_code == 403


def test_recompute_button_queues_the_engine_task(brand, other_brand, two_brands):
    # Given a manager of A; when they start a recompute
    client = admin_client_for(brand)
    response = client.post(reverse("admin:interactions_tie_recompute"), {"brand": brand.pk})

    # Then one recompute_ties task for brand A waits on the scoring queue of the broker
    assert response.status_code == 302
    broker = redis_lib.Redis.from_url(settings.CELERY_BROKER_URL)
    messages = [json.loads(raw) for raw in broker.lrange("scoring", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == ["interactions.recompute_ties"]
    args, kwargs, _ = json.loads(base64.b64decode(messages[0]["body"]))
    assert kwargs == {"brand_id": brand.pk}

    # And another brand's recompute cannot be started by them
    response = client.post(reverse("admin:interactions_tie_recompute"), {"brand": other_brand.pk})
    assert response.status_code == 404
    assert broker.llen("scoring") == 1


def test_customer_page_shows_strongest_ties_with_parts(brand, two_brands):
    # Given a staff member of A; when they open A's candidate
    client = admin_client_for(brand)
    candidate = two_brands["a"]["candidate"]
    response = client.get(reverse("admin:customers_customer_change", args=[candidate.pk]))

    # Then the panel lists the tie with its strength, parts and the flag
    assert response.status_code == 200
    page = response.content.decode()
    assert "Strongest ties" in page
    assert "0.900" in page and "muted_by_you" in page
    assert "intensity term" in page

    # And another brand's customer is not there for them
    other = two_brands["b"]["candidate"]
    response = client.get(reverse("admin:customers_customer_change", args=[other.pk]))
    assert response.status_code == 302  # "does not exist" redirect to the admin index
