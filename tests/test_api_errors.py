"""The one error format for protocol errors, strict filters, cursors and the token throttle."""

from __future__ import annotations

import json

import pytest

from customers.models import Customer
from scrm.api.throttling import CallerScopedRateThrottle
from tests.campaigns.factories import CampaignFactory, EnrollmentFactory, PostFactory
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code
    return body["error"]


# --- protocol errors -------------------------------------------------------------------------


def test_method_not_allowed_is_405_in_the_error_format(staff_client):
    error = assert_error(staff_client.put("/api/v1/interactions/", {}, format="json"), 405)
    assert "PUT" in error["message"]


def test_unacceptable_accept_header_is_406_in_the_error_format(staff_client):
    response = staff_client.get("/api/v1/customers/", HTTP_ACCEPT="application/xml")
    assert_error(response, 406, "not_acceptable")


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/xml"])
def test_unsupported_content_type_is_415_in_the_error_format(staff_client, content_type):
    response = staff_client.post("/api/v1/customers/", "a=b", content_type=content_type)
    error = assert_error(response, 415, "unsupported_media_type")
    assert content_type in error["message"]


def test_oversized_body_is_413_before_it_is_read(staff_client, brand):
    # given a body over the 2 MiB default limit
    body = json.dumps({"external_id": "big", "display_name": "x" * 3_000_000})
    response = staff_client.post("/api/v1/customers/", body, content_type="application/json")
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"]["length"] > error["details"]["limit"]
    assert not Customer.objects.filter(brand=brand, external_id="big").exists()


def test_malformed_json_is_400_in_the_error_format(staff_client):
    response = staff_client.post("/api/v1/customers/", "{bad", content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_write_without_trailing_slash_names_the_right_url(staff_client, brand, method):
    # given a customer, and its URL without the trailing slash
    customer = CustomerFactory(brand=brand)
    path = "/api/v1/customers" if method == "post" else f"/api/v1/customers/{customer.pk}"

    # when a write is sent there
    response = getattr(staff_client, method)(path, {"display_name": "X"}, format="json")

    # then it is a 404 in the error format naming the slashed URL, and nothing changed
    error = assert_error(response, 404, "not_found")
    assert error["details"]["location"] == f"{path}/"
    assert f"{path}/" in error["message"]
    customer.refresh_from_db()
    assert customer.display_name != "X"


def test_read_without_trailing_slash_still_redirects(staff_client):
    response = staff_client.get("/api/v1/customers")
    assert response.status_code == 301
    assert response["Location"].endswith("/api/v1/customers/")


def test_unknown_api_path_without_slash_is_a_plain_404(staff_client):
    assert_error(staff_client.post("/api/v1/nothing-here", {}, format="json"), 404)


# --- strict filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "query", "parameter"),
    [
        ("customers/", "is_advocate=maybe", "is_advocate"),
        ("customers/", "marketing_consent=perhaps", "marketing_consent"),
        ("customers/", "kind=robot", "kind"),
        ("customers/", "ordering=zzz", "ordering"),
        ("customers/", "customer=abc", "customer"),
        ("friendships/", "customer=abc", "customer"),
        ("friendships/", "customer=99999999999999999999999", "customer"),
        ("friendships/", "customer=-1", "customer"),
        ("friendships/", "current=maybe", "current"),
        ("advocates/", "tier=giga", "tier"),
        ("posts/", "author=1.5", "author"),
        ("posts/", "commercial=sometimes", "commercial"),
        ("interactions/", "actor=abc", "actor"),
        ("interactions/", "type=poke", "type"),
        ("campaigns/", "status=paused", "status"),
        ("conversions/", "credited=maybe", "credited"),
        ("conversions/", "campaign=abc", "campaign"),
        ("customers/", "cursor=not-a-cursor", "cursor"),
        ("customers/", "page_size=0", "page_size"),
    ],
)
def test_bad_filter_value_is_400_naming_the_parameter(staff_client, path, query, parameter):
    response = staff_client.get(f"/api/v1/{path}?{query}")
    error = assert_error(response, 400, "validation_error")
    assert parameter in error["details"]
    assert error["message"].startswith(f"{parameter}:")


@pytest.mark.parametrize(
    ("path", "parameter", "kind"),
    [
        ("friendships/", "customer", "customer"),
        ("posts/", "author", "customer"),
        ("interactions/", "actor", "customer"),
        ("interactions/", "target", "customer"),
        ("interactions/", "post", "post"),
        ("conversions/", "buyer", "customer"),
        ("conversions/", "campaign", "campaign"),
    ],
)
def test_another_brands_id_in_a_filter_is_400(staff_client, other_brand, path, parameter, kind):
    # given a row of the other brand
    other = {
        "customer": lambda: CustomerFactory(brand=other_brand),
        "post": lambda: PostFactory(author=CustomerFactory(brand=other_brand)),
        "campaign": lambda: CampaignFactory(brand=other_brand),
    }[kind]()

    # when staff of this brand filter by its id
    response = staff_client.get(f"/api/v1/{path}?{parameter}={other.pk}")

    # then the parameter is named, not answered as an empty page
    error = assert_error(response, 400, "validation_error")
    assert error["details"] == {parameter: [f"No {kind} {other.pk} in this brand."]}


def test_own_brand_ids_and_booleans_still_filter(staff_client, brand):
    customer = CustomerFactory(brand=brand, marketing_consent=False)
    CustomerFactory(brand=brand, marketing_consent=True)
    response = staff_client.get("/api/v1/customers/?marketing_consent=false&page_size=5")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [customer.pk]
    response = staff_client.get(f"/api/v1/friendships/?customer={customer.pk}&current=true")
    assert response.status_code == 200


# --- throttling of customer-token minting ----------------------------------------------------


def test_customer_token_minting_is_throttled_per_app_key(app_client, brand, monkeypatch):
    # given a rate of 3 tokens a minute
    rates = {**CallerScopedRateThrottle.THROTTLE_RATES, "customer_token": "3/min"}
    monkeypatch.setattr(CallerScopedRateThrottle, "THROTTLE_RATES", rates)
    customer = CustomerFactory(brand=brand)
    body = {"external_id": customer.external_id}

    # when the app key mints four
    answers = [
        app_client.post("/api/v1/auth/customer-token/", body, format="json") for _ in range(4)
    ]

    # then the fourth is a 429 in the error format with Retry-After
    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    assert_error(answers[3], 429, "throttled")
    assert int(answers[3]["Retry-After"]) > 0


def test_customer_token_throttle_counts_each_app_key_apart(brand, monkeypatch):
    from tests.conftest import app_client_for

    rates = {**CallerScopedRateThrottle.THROTTLE_RATES, "customer_token": "1/min"}
    monkeypatch.setattr(CallerScopedRateThrottle, "THROTTLE_RATES", rates)
    customer = CustomerFactory(brand=brand)
    body = {"external_id": customer.external_id}
    first, second = app_client_for(brand), app_client_for(brand)
    assert first.post("/api/v1/auth/customer-token/", body, format="json").status_code == 201
    assert second.post("/api/v1/auth/customer-token/", body, format="json").status_code == 201
    assert first.post("/api/v1/auth/customer-token/", body, format="json").status_code == 429


def test_deleting_a_customer_still_referenced_is_409_naming_what_refers_to_it(staff_client, brand):
    # given an advocate enrolled in a campaign (enrollments protect the advocate)
    enrollment = EnrollmentFactory(campaign__brand=brand)
    customer = enrollment.advocate.customer

    # when staff delete the customer
    error = assert_error(staff_client.delete(f"/api/v1/customers/{customer.pk}/"), 409, "conflict")

    # then the answer names the rows that refer to it, and nothing was deleted
    assert error["details"] == {"referenced_by": ["enrollments"]}
    assert "enrollments" in error["message"]
    assert Customer.objects.filter(pk=customer.pk).exists()


@pytest.mark.parametrize(
    "path",
    [
        "feed/?customer={customer}&sort=new",
        "customers/{customer}/friends/?strength_min=1",
        "customers/{customer}/ties/?ordering=weak",
        "advocates/leaderboard/?tier=nano",
        "advocates/candidates/?limit=5",
        "campaigns/{campaign}/enrollments/?advocate=1",
        "campaigns/{campaign}/report/?by=tier",
        "fatigue/policy/?brand=other",
    ],
)
def test_unknown_query_parameter_without_a_filter_set_is_400_naming_it(staff_client, brand, path):
    # given views that take no (or only named) query parameters
    customer = CustomerFactory(brand=brand)
    campaign = CampaignFactory(brand=brand)
    url = "/api/v1/" + path.format(customer=customer.pk, campaign=campaign.pk)
    name = path.split("?")[1].split("&")[-1].split("=")[0]

    # then an unknown one is named, not ignored
    error = assert_error(staff_client.get(url), 400, "validation_error")
    assert list(error["details"]) == [name]


def test_known_query_parameters_without_a_filter_set_still_work(staff_client, brand):
    customer = CustomerFactory(brand=brand)
    campaign = CampaignFactory(brand=brand)
    for url in (
        f"/api/v1/feed/?customer={customer.pk}&page_size=5",
        f"/api/v1/customers/{customer.pk}/friends/?ordering=-strength",
        f"/api/v1/campaigns/{campaign.pk}/report/?format=csv",
    ):
        assert staff_client.get(url).status_code == 200, url
