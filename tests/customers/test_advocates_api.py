"""advocates/ through the HTTP client: promote, tiers, referral codes, status changes, roles."""

import pytest

from customers import services
from customers.models import Advocate
from customers.services import REFERRAL_ALPHABET
from tests.conftest import customer_client_for, staff_client_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/advocates/"


def promote(client, customer, **extra):
    return client.post(URL, {"customer": customer.pk, **extra}, format="json")


def test_promote_consumer(staff_client, brand):
    customer = CustomerFactory(brand=brand, display_name="Chen Jing")

    response = promote(staff_client, customer, notes="tea lover")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["customer"] == customer.pk and body["display_name"] == "Chen Jing"
    assert body["status"] == "active" and body["tier"] == "nano" and body["notes"] == "tea lover"
    assert len(body["referral_code"]) == 10
    assert set(body["referral_code"]) <= set(REFERRAL_ALPHABET)
    assert Advocate.objects.get(pk=body["id"]).brand == brand


@pytest.mark.parametrize(
    ("friends", "tier"), [(0, "nano"), (1, "nano"), (2, "micro"), (4, "macro")]
)
def test_tier_comes_from_friend_count_with_settings_override(
    staff_client, brand, settings, friends, tier
):
    settings.SCRM = {**settings.SCRM, "TIER_MICRO_MIN_FRIENDS": 2, "TIER_MACRO_MIN_FRIENDS": 4}
    customer = CustomerFactory(brand=brand)
    for friend in CustomerFactory.create_batch(friends, brand=brand):
        services.friendship_create(brand_id=brand.pk, customer_id=customer.pk, friend_id=friend.pk)

    response = promote(staff_client, customer)

    assert response.json()["tier"] == tier
    assert response.json()["friend_count"] == friends


def test_referral_codes_are_unique(staff_client, brand):
    customers = CustomerFactory.create_batch(20, brand=brand)

    codes = [promote(staff_client, c).json()["referral_code"] for c in customers]

    assert len(set(codes)) == 20


def test_brand_account_is_refused(staff_client, brand):
    account = CustomerFactory(brand=brand, kind="brand_account")

    response = promote(staff_client, account)

    assert response.status_code == 400
    assert "customer" in response.json()["error"]["details"]
    assert not Advocate.objects.exists()


def test_duplicate_promotion_is_409(staff_client, customer):
    first = promote(staff_client, customer)
    second = promote(staff_client, customer)

    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "conflict"
    assert Advocate.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [({}, "customer"), ({"customer": "abc"}, "customer"), ({"customer": 999_999}, "customer")],
)
def test_bad_promote_input_is_400(staff_client, body, field):
    response = staff_client.post(URL, body, format="json")

    assert response.status_code == 400
    assert field in response.json()["error"]["details"]


def test_other_brands_customer_cannot_be_promoted(staff_client, other_brand):
    stranger = CustomerFactory(brand=other_brand)

    response = promote(staff_client, stranger)

    assert response.status_code == 400
    assert "customer" in response.json()["error"]["details"]
    assert not Advocate.objects.exists()


# --- status changes --------------------------------------------------------------------------


@pytest.fixture
def advocate(brand):
    return services.advocate_promote(brand_id=brand.pk, customer_id=CustomerFactory(brand=brand).pk)


def patch(client, advocate, body):
    return client.patch(f"{URL}{advocate.pk}/", body, format="json")


def test_pause_resume_retire_and_reactivate(staff_client, advocate):
    paused = patch(staff_client, advocate, {"status": "paused", "reason": "complaints"})
    resumed = patch(staff_client, advocate, {"status": "active"})
    retired = patch(staff_client, advocate, {"status": "retired", "reason": "moved away"})
    back = patch(staff_client, advocate, {"status": "active"})

    assert paused.status_code == 200
    assert paused.json()["status"] == "paused" and paused.json()["status_reason"] == "complaints"
    assert resumed.json()["status"] == "active"
    assert retired.json()["status"] == "retired"
    assert back.json()["status"] == "active"
    assert paused.json()["status_changed_at"]


@pytest.mark.parametrize(
    ("start", "target"),
    [("retired", "paused"), ("active", "candidate"), ("paused", "candidate")],
)
def test_invalid_transitions_are_400(staff_client, advocate, start, target):
    Advocate.objects.filter(pk=advocate.pk).update(status=start)

    response = patch(staff_client, advocate, {"status": target})

    assert response.status_code == 400
    assert "status" in response.json()["error"]["details"]
    assert Advocate.objects.get(pk=advocate.pk).status == start


def test_unknown_status_is_400(staff_client, advocate):
    response = patch(staff_client, advocate, {"status": "sleeping"})
    assert response.status_code == 400
    assert "status" in response.json()["error"]["details"]


def test_notes_update(staff_client, advocate):
    response = patch(staff_client, advocate, {"notes": "ships samples fast"})
    assert response.json()["notes"] == "ships samples fast"
    assert response.json()["status"] == "active"


@pytest.mark.parametrize("role", ["operator", "analyst"])
def test_only_manager_and_above_may_change(brand, advocate, customer, role):
    client = staff_client_for(brand, role)

    assert client.get(f"{URL}{advocate.pk}/").status_code == 200
    assert patch(client, advocate, {"status": "paused"}).status_code == 403
    assert promote(client, customer).status_code == 403
    assert Advocate.objects.get(pk=advocate.pk).status == "active"
    assert not Advocate.objects.filter(customer=customer).exists()


def test_owner_may_change(brand, advocate):
    owner = staff_client_for(brand, "owner")
    assert patch(owner, advocate, {"status": "paused"}).status_code == 200


def test_app_key_and_customer_get_403(app_client, brand, advocate, customer):
    advocate_client = customer_client_for(advocate.customer)

    for client in (app_client, advocate_client):
        assert patch(client, advocate, {"status": "paused"}).status_code == 403
        assert promote(client, customer).status_code == 403
    assert Advocate.objects.get(pk=advocate.pk).status == "active"
    assert not Advocate.objects.filter(customer=customer).exists()


def test_customer_sees_only_own_advocate_record(brand, advocate, other_customer_client):
    own = customer_client_for(advocate.customer).get(URL).json()["results"]
    other = other_customer_client.get(URL).json()["results"]

    assert [row["id"] for row in own] == [advocate.pk]
    assert other == []
    assert other_customer_client.get(f"{URL}{advocate.pk}/").status_code == 404


def test_other_brand_staff_gets_404(other_staff_client, advocate):
    assert other_staff_client.get(f"{URL}{advocate.pk}/").status_code == 404
    assert patch(other_staff_client, advocate, {"status": "paused"}).status_code == 404
    assert other_staff_client.get(URL).json()["results"] == []
    assert Advocate.objects.get(pk=advocate.pk).status == "active"


def test_list_filters(staff_client, brand, advocate):
    other = services.advocate_promote(
        brand_id=brand.pk, customer_id=CustomerFactory(brand=brand).pk
    )
    services.advocate_set_status(advocate=other, status="paused")

    def ids(query):
        return {row["id"] for row in staff_client.get(URL + query).json()["results"]}

    assert ids("?status=paused") == {other.pk}
    assert ids("?status=active") == {advocate.pk}
    assert ids("?tier=nano") == {advocate.pk, other.pk}
    assert staff_client.get(URL + "?status=sleeping").status_code == 400
