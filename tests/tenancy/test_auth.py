from datetime import timedelta

import pytest
from django.utils import timezone

from scrm.tenancy import services as tenancy
from scrm.tenancy.models import AppKey, StaffToken
from tests.conftest import customer_client_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_staff_token_login_returns_brand_bound_token(anon_client, brand):
    membership = MembershipFactory(brand=brand, user__username="amy")

    response = anon_client.post(
        "/api/v1/auth/token/", {"username": "amy", "password": "pw-for-tests"}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["token"].startswith("st_")
    assert body["brand"] == "acme"
    assert body["role"] == membership.role
    # stored hashed, never in clear
    assert not StaffToken.objects.filter(key_hash=body["token"]).exists()
    anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {body['token']}")
    assert anon_client.get("/api/v1/customers/").status_code == 200


def test_staff_token_wrong_password_is_401_in_error_format(anon_client, brand):
    MembershipFactory(brand=brand, user__username="amy")

    response = anon_client.post(
        "/api/v1/auth/token/", {"username": "amy", "password": "nope"}, format="json"
    )

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_staff_in_two_brands_must_pick_one(anon_client, brand, other_brand):
    membership = MembershipFactory(brand=brand, user__username="amy")
    MembershipFactory(brand=other_brand, user=membership.user)

    ambiguous = anon_client.post(
        "/api/v1/auth/token/", {"username": "amy", "password": "pw-for-tests"}, format="json"
    )
    chosen = anon_client.post(
        "/api/v1/auth/token/",
        {"username": "amy", "password": "pw-for-tests", "brand": "rival"},
        format="json",
    )

    assert ambiguous.status_code == 400
    assert "brand" in ambiguous.json()["error"]["details"]
    assert chosen.status_code == 201 and chosen.json()["brand"] == "rival"


def test_expired_and_revoked_staff_tokens_are_rejected(anon_client, brand):
    membership = MembershipFactory(brand=brand)
    expired = tenancy.staff_token_issue(user=membership.user, brand=brand)
    StaffToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    revoked = tenancy.staff_token_issue(user=membership.user, brand=brand)
    tenancy.staff_token_revoke(raw=revoked.token)

    for token in (expired.token, revoked.token, "st_forged"):
        anon_client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        response = anon_client.get("/api/v1/customers/")
        assert response.status_code == 401, token
        assert response.json()["error"]["code"] == "authentication_failed"


def test_app_key_is_hashed_revocable_and_mints_customer_tokens(anon_client, brand, customer):
    issued = tenancy.app_key_create(brand=brand, name="mini")
    stored = AppKey.objects.get()
    assert issued.raw_key not in (stored.key_hash, stored.prefix)

    anon_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {issued.raw_key}")
    minted = anon_client.post(
        "/api/v1/auth/customer-token/", {"external_id": customer.external_id}, format="json"
    )
    assert minted.status_code == 201
    assert minted.json()["customer"] == customer.pk

    tenancy.app_key_revoke(app_key=stored)
    assert anon_client.get("/api/v1/customers/").status_code == 401


def test_customer_token_for_unknown_external_id_is_404(app_client):
    response = app_client.post(
        "/api/v1/auth/customer-token/", {"external_id": "nobody"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_customer_token_cannot_mint_tokens(customer_client, customer):
    response = customer_client.post(
        "/api/v1/auth/customer-token/", {"external_id": customer.external_id}, format="json"
    )
    assert response.status_code == 403


def test_expired_customer_token_is_rejected(customer, settings):
    settings.SCRM = {**settings.SCRM, "CUSTOMER_TOKEN_TTL_MINUTES": -1}
    client = customer_client_for(customer)
    assert client.get(f"/api/v1/customers/{customer.pk}/").status_code == 401


def test_no_credentials_is_401(anon_client, brand):
    response = anon_client.get("/api/v1/customers/")
    assert response.status_code == 401
    assert set(response.json()["error"]) == {"code", "message", "details"}
