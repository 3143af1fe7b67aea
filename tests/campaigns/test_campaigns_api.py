import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, CampaignStatus, Enrollment, Post, SampleShipment
from customers.models import AdvocateStatus
from tests.campaigns.factories import CampaignFactory, EnrollmentFactory
from tests.conftest import customer_client_for
from tests.factories import AdvocateFactory, CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/campaigns/"


def iso(delta_days: float) -> str:
    return (timezone.now() + timedelta(days=delta_days)).isoformat()


def campaign_body(**fields) -> dict:
    return {
        "name": "Spring tea",
        "goal": "Sell 500 tins",
        "starts_at": iso(1),
        "ends_at": iso(31),
        "budget": "20000.00",
        "currency": "cny",
        "products": ["TEA-001", "Jasmine 100g"],
        "brief": "Honest reviews, one post a week.",
        "advocate_fee": "300.00",
        **fields,
    }


def test_manager_creates_a_draft_campaign(staff_client, brand):
    response = staff_client.post(URL, campaign_body(), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft"
    assert body["currency"] == "CNY"
    assert body["products"] == ["TEA-001", "Jasmine 100g"]
    assert body["effective_disclosure_label"] == brand.disclosure_label
    assert Campaign.objects.get(pk=body["id"]).brand_id == brand.pk


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"ends_at": iso(-1)}, "ends_at"),  # before starts_at
        ({"currency": "yuan"}, "currency"),
        ({"currency": "C1Y"}, "currency"),
        ({"budget": "-1"}, "budget"),
        ({"budget": "abc"}, "budget"),
        ({"advocate_fee": "-0.01"}, "advocate_fee"),
        ({"products": "TEA-001"}, "products"),
        ({"products": [""]}, "products"),
        ({"products": [5]}, "products"),
        ({"name": ""}, "name"),
        ({"starts_at": "tomorrow"}, "starts_at"),
    ],
)
def test_bad_campaign_input_is_a_400_naming_the_field(staff_client, fields, field):
    response = staff_client.post(URL, campaign_body(**fields), format="json")

    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]
    assert not Campaign.objects.exists()


def test_status_moves_draft_active_ended_and_never_back(staff_client):
    campaign = staff_client.post(URL, campaign_body(), format="json").json()
    detail = f"{URL}{campaign['id']}/"

    skipped = staff_client.patch(
        f"{URL}{staff_client.post(URL, campaign_body(), format='json').json()['id']}/",
        {"status": "ended"},
        format="json",
    )
    activated = staff_client.patch(detail, {"status": "active"}, format="json")
    back = staff_client.patch(detail, {"status": "draft"}, format="json")
    ended = staff_client.patch(detail, {"status": "ended"}, format="json")
    after_end = staff_client.patch(detail, {"name": "renamed"}, format="json")
    bogus = staff_client.patch(detail, {"status": "paused"}, format="json")

    assert skipped.status_code == 409
    assert activated.status_code == 200
    assert activated.json()["activated_at"] is not None
    assert back.status_code == 409
    assert ended.json()["status"] == "ended"
    assert after_end.status_code == 409
    assert bogus.status_code == 400
    assert Campaign.objects.get(pk=campaign["id"]).name == "Spring tea"


def test_cannot_activate_a_campaign_whose_end_has_passed(staff_client, brand):
    campaign = CampaignFactory(
        brand=brand,
        status=CampaignStatus.DRAFT,
        starts_at=timezone.now() - timedelta(days=10),
        ends_at=timezone.now() - timedelta(days=1),
    )

    response = staff_client.patch(f"{URL}{campaign.pk}/", {"status": "active"}, format="json")

    assert response.status_code == 409
    assert "ends_at" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fields", "allowed"),
    [
        ({"name": "New name", "goal": "Sell 800 tins"}, True),
        ({"budget": "30000.00"}, True),
        ({"budget": "100.00"}, False),
        ({"ends_at": iso(60)}, True),
        ({"ends_at": iso(-0.5)}, False),
        ({"starts_at": iso(-3)}, False),
        ({"products": ["TEA-002"]}, False),
        ({"brief": "changed"}, False),
        ({"currency": "USD"}, False),
        ({"disclosure_label": "#sponsored"}, False),
        ({"advocate_fee": "1.00"}, False),
        ({"currency": "CNY", "brief": "B"}, True),  # unchanged values are fine
    ],
)
def test_fields_lock_once_active(staff_client, brand, fields, allowed):
    campaign = CampaignFactory(brand=brand, brief="B", budget=Decimal("20000"))
    before = Campaign.objects.values().get(pk=campaign.pk)

    response = staff_client.patch(f"{URL}{campaign.pk}/", fields, format="json")

    assert response.status_code == (200 if allowed else 409), response.json()
    if not allowed:
        assert Campaign.objects.values().get(pk=campaign.pk) == before


def test_a_draft_is_freely_editable_but_dates_stay_ordered(staff_client, brand):
    campaign = CampaignFactory(brand=brand, status=CampaignStatus.DRAFT)

    ok = staff_client.patch(
        f"{URL}{campaign.pk}/", {"products": ["X"], "budget": "1.00"}, format="json"
    )
    reversed_dates = staff_client.patch(
        f"{URL}{campaign.pk}/", {"starts_at": iso(100)}, format="json"
    )

    assert ok.status_code == 200
    assert reversed_dates.status_code == 400
    assert "ends_at" in reversed_dates.json()["error"]["details"]


# --- enrollments ---------------------------------------------------------------


def test_enroll_an_active_advocate_with_a_hard_to_guess_code_and_samples(staff_client, brand):
    campaign = CampaignFactory(brand=brand, advocate_fee=Decimal("300"))
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand))

    response = staff_client.post(
        f"{URL}{campaign.pk}/enrollments/",
        {
            "advocate": advocate.pk,
            "samples": [{"product": "TEA-001", "cost": "45.00", "shipped_at": iso(-1)}],
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert re.fullmatch(r"[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{12}", body["code"])
    assert body["fee"] == "300.00"
    assert body["tier"] == "nano"
    assert body["samples"][0]["cost"] == "45.00"
    listed = staff_client.get(f"{URL}{campaign.pk}/enrollments/").json()["results"]
    assert [e["advocate"] for e in listed] == [advocate.pk]


def test_codes_differ_between_enrollments(staff_client, brand):
    campaign = CampaignFactory(brand=brand)
    codes = {
        staff_client.post(
            f"{URL}{campaign.pk}/enrollments/",
            {"advocate": AdvocateFactory(customer=CustomerFactory(brand=brand)).pk},
            format="json",
        ).json()["code"]
        for _ in range(5)
    }
    assert len(codes) == 5


@pytest.mark.parametrize("status", [AdvocateStatus.PAUSED, AdvocateStatus.RETIRED])
def test_paused_or_retired_advocates_cannot_enroll(staff_client, brand, status):
    campaign = CampaignFactory(brand=brand)
    advocate = AdvocateFactory(
        customer=CustomerFactory(brand=brand), status=status, status_reason="too many reports"
    )

    response = staff_client.post(
        f"{URL}{campaign.pk}/enrollments/", {"advocate": advocate.pk}, format="json"
    )

    assert response.status_code == 409
    message = response.json()["error"]["message"]
    assert status in message and "too many reports" in message
    assert not Enrollment.objects.exists()


def test_enrollment_refusals(staff_client, brand, other_brand):
    campaign = CampaignFactory(brand=brand)
    ended = CampaignFactory(brand=brand, status=CampaignStatus.ENDED)
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand))
    foreign = AdvocateFactory(customer=CustomerFactory(brand=other_brand))
    enroll = f"{URL}{campaign.pk}/enrollments/"

    first = staff_client.post(enroll, {"advocate": advocate.pk}, format="json")
    twice = staff_client.post(enroll, {"advocate": advocate.pk}, format="json")
    other = staff_client.post(enroll, {"advocate": foreign.pk}, format="json")
    late = staff_client.post(
        f"{URL}{ended.pk}/enrollments/", {"advocate": advocate.pk}, format="json"
    )
    bad_sample = staff_client.post(
        enroll,
        {
            "advocate": AdvocateFactory(customer=CustomerFactory(brand=brand)).pk,
            "samples": [{"product": "X", "received_at": iso(-1)}],  # never shipped
        },
        format="json",
    )

    assert first.status_code == 201
    assert twice.status_code == 409
    assert other.status_code == 400
    assert "advocate" in other.json()["error"]["details"]
    assert late.status_code == 409
    assert bad_sample.status_code == 400
    assert Enrollment.objects.count() == 1


def test_samples_are_marked_received_then_reviewed(staff_client, brand):
    enrollment = EnrollmentFactory(campaign=CampaignFactory(brand=brand))
    sample = SampleShipment.objects.create(
        brand=brand, enrollment=enrollment, product="TEA", cost=Decimal("30"),
        shipped_at=timezone.now() - timedelta(days=3),
    )  # fmt: skip
    url = f"{URL}{enrollment.campaign_id}/samples/{sample.pk}/"

    received = staff_client.patch(url, {"received_at": iso(-2)}, format="json")
    reviewed_too_early = staff_client.patch(url, {"reviewed_at": iso(-2.5)}, format="json")
    reviewed = staff_client.patch(url, {"reviewed_at": iso(-1)}, format="json")
    elsewhere = staff_client.patch(
        f"{URL}{CampaignFactory(brand=brand).pk}/samples/{sample.pk}/",
        {"reviewed_at": iso(-1)},
        format="json",
    )

    assert received.status_code == 200
    assert reviewed_too_early.status_code == 400
    assert reviewed.json()["reviewed_at"] is not None
    assert elsewhere.status_code == 404


# --- posts linked to campaigns ---------------------------------------------------------------


def test_post_in_a_campaign_is_commercial_with_the_campaign_label(brand):
    campaign = CampaignFactory(brand=brand, disclosure_label="#sponsored")
    enrollment = EnrollmentFactory(campaign=campaign)
    author = customer_client_for(enrollment.advocate.customer)

    response = author.post(
        "/api/v1/posts/", {"text": "Loving it", "campaign": campaign.pk}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["commercial"] is True
    assert body["campaign"] == campaign.pk
    assert body["text"] == "Loving it #sponsored"


def test_post_campaign_link_refusals(brand, other_brand, customer_client):
    ended = CampaignFactory(brand=brand, status=CampaignStatus.ENDED)
    mine = CampaignFactory(brand=brand)
    foreign = CampaignFactory(brand=other_brand)

    not_enrolled = customer_client.post(
        "/api/v1/posts/", {"text": "x", "campaign": mine.pk}, format="json"
    )
    other_brand_campaign = customer_client.post(
        "/api/v1/posts/", {"text": "x", "campaign": foreign.pk}, format="json"
    )
    EnrollmentFactory(campaign=ended, advocate__customer=customer_client.customer)
    over = customer_client.post(
        "/api/v1/posts/", {"text": "x", "campaign": ended.pk}, format="json"
    )

    for response in (not_enrolled, other_brand_campaign, over):
        assert response.status_code == 400
        assert "campaign" in response.json()["error"]["details"]
    assert not Post.objects.exists()


def test_linking_a_draft_post_later_makes_it_commercial(brand):
    campaign = CampaignFactory(brand=brand)
    enrollment = EnrollmentFactory(campaign=campaign)
    author = customer_client_for(enrollment.advocate.customer)
    post = author.post("/api/v1/posts/", {"text": "hello"}, format="json").json()

    linked = author.patch(f"/api/v1/posts/{post['id']}/", {"campaign": campaign.pk}, format="json")

    assert linked.json()["commercial"] is True
    assert linked.json()["text"] == f"hello {brand.disclosure_label}"


def test_a_campaign_with_posts_cannot_be_deleted(brand):
    campaign = CampaignFactory(brand=brand)
    enrollment = EnrollmentFactory(campaign=campaign)
    author = customer_client_for(enrollment.advocate.customer)
    author.post("/api/v1/posts/", {"text": "x", "campaign": campaign.pk}, format="json")

    from django.db.models import ProtectedError

    with pytest.raises(ProtectedError):
        campaign.delete()


# --- permissions and tenancy ---------------------------------------------------------------


def endpoints(campaign_id: int, sample_id: int = 1) -> list[tuple[str, str, dict | None]]:
    base = f"{URL}{campaign_id}/"
    return [
        ("get", URL, None),
        ("post", URL, campaign_body()),
        ("get", base, None),
        ("patch", base, {"name": "hijacked"}),
        ("get", f"{base}enrollments/", None),
        ("post", f"{base}enrollments/", {"advocate": 1}),
        ("patch", f"{base}samples/{sample_id}/", {"cost": "0"}),
        ("get", f"{base}report/", None),
        ("get", f"{base}report/?format=csv", None),
    ]


def _snapshot():
    return (
        list(Campaign.objects.values().order_by("pk")),
        list(Enrollment.objects.values().order_by("pk")),
        list(SampleShipment.objects.values().order_by("pk")),
    )


@pytest.mark.parametrize("who", ["customer", "app"])
def test_customers_and_app_keys_get_403_on_every_campaign_endpoint(
    who, brand, customer_client, app_client
):
    campaign = CampaignFactory(brand=brand)
    client = customer_client if who == "customer" else app_client
    before = _snapshot()

    for method, url, body in endpoints(campaign.pk):
        response = getattr(client, method)(url, body, format="json")
        assert response.status_code == 403, (method, url, response.content)
    assert _snapshot() == before


def test_other_brand_staff_get_404_and_change_nothing(brand, other_staff_client):
    campaign = CampaignFactory(brand=brand)
    enrollment = EnrollmentFactory(campaign=campaign)
    sample = SampleShipment.objects.create(brand=brand, enrollment=enrollment, product="T")
    before = _snapshot()

    for method, url, body in endpoints(campaign.pk, sample.pk)[2:]:
        response = getattr(other_staff_client, method)(url, body, format="json")
        assert response.status_code == 404, (method, url, response.content)
    listed = other_staff_client.get(URL)
    assert listed.json()["results"] == []
    assert _snapshot() == before


def test_analysts_and_operators_read_but_do_not_write(brand, analyst_client, operator_client):
    campaign = CampaignFactory(brand=brand)
    advocate = AdvocateFactory(customer=CustomerFactory(brand=brand))
    before = _snapshot()

    for client in (analyst_client, operator_client):
        assert client.get(URL).status_code == 200
        assert client.get(f"{URL}{campaign.pk}/report/").status_code == 200
        assert client.post(URL, campaign_body(), format="json").status_code == 403
        assert client.patch(f"{URL}{campaign.pk}/", {"name": "x"}, format="json").status_code == 403
        enroll = client.post(
            f"{URL}{campaign.pk}/enrollments/", {"advocate": advocate.pk}, format="json"
        )
        assert enroll.status_code == 403
    assert _snapshot() == before


def test_anonymous_callers_are_401(anon_client, brand):
    campaign = CampaignFactory(brand=brand)
    for method, url, body in endpoints(campaign.pk):
        assert getattr(anon_client, method)(url, body, format="json").status_code == 401
    assert anon_client.post("/api/v1/conversions/", {}, format="json").status_code == 401


def test_schema_documents_the_campaign_endpoints(anon_client):
    response = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    paths = response.json()["paths"]
    for path in (
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{id}/",
        "/api/v1/campaigns/{id}/enrollments/",
        "/api/v1/campaigns/{id}/report/",
        "/api/v1/conversions/",
        "/api/v1/posts/{id}/share-link/",
    ):
        assert path in paths
