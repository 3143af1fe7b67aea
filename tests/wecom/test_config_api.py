"""wecom/config/: roles, brand scoping, secrets encrypted at rest and never answered in full."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import override_settings

from customers.models import CustomerKind
from scrm.tenancy.models import Role
from tests.conftest import app_client_for, staff_client_for
from tests.factories import CustomerFactory
from wecom.models import WeComConfig, WeComStaff
from wecom.secrets import SecretUnreadable, secret_decrypt
from wecom.services.config import callback_keys

from .helpers import AES_KEY, CORP_ID, TOKEN, configure

pytestmark = pytest.mark.django_db
URL = "/api/v1/wecom/config/"
BODY = {"corp_id": CORP_ID, "token": TOKEN, "encoding_aes_key": AES_KEY}


def test_get_before_configuration_says_not_configured(staff_client, brand):
    response = staff_client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["configured"] is False
    assert body["callback_url"].endswith(f"/api/v1/wecom/callback/{brand.slug}/")


def test_put_then_get_never_shows_the_token_or_key(staff_client):
    response = staff_client.put(URL, BODY, format="json")
    assert response.status_code == 200, response.json()
    for answer in (response, staff_client.get(URL)):
        text = answer.content.decode()
        assert AES_KEY not in text and TOKEN not in text
        body = answer.json()
        assert body["configured"] is True and body["corp_id"] == CORP_ID
        assert body["encoding_aes_key_hint"] == "…DEFG"
        assert body["token_hint"] == "…ests"
        assert "encoding_aes_key" not in body and "token" not in body


def test_secrets_are_encrypted_at_rest(staff_client, brand):
    staff_client.put(URL, BODY, format="json")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM wecom_wecomconfig WHERE brand_id = %s", [brand.pk])
        row = " ".join(str(value) for value in cursor.fetchone())
    assert AES_KEY not in row and TOKEN not in row
    config = WeComConfig.objects.get(brand=brand)
    assert secret_decrypt(config.aes_key_encrypted) == AES_KEY
    # a different settings key cannot read them
    with (
        override_settings(SECRET_KEY="another-key-" + "x" * 50),
        pytest.raises(SecretUnreadable),
    ):
        secret_decrypt(config.aes_key_encrypted)


def test_a_put_without_secrets_keeps_the_stored_ones(staff_client, brand):
    staff_client.put(URL, BODY, format="json")
    response = staff_client.put(URL, {"corp_id": "wwNEWCORP", "agent_id": "1000002"}, format="json")
    assert response.status_code == 200
    keys = callback_keys(WeComConfig.objects.get(brand=brand))
    assert (keys.corp_id, keys.token, keys.encoding_aes_key) == ("wwNEWCORP", TOKEN, AES_KEY)


def test_the_first_put_needs_the_secrets(staff_client):
    response = staff_client.put(URL, {"corp_id": CORP_ID}, format="json")
    assert response.status_code == 400
    assert {"token", "encoding_aes_key"} <= set(response.json()["error"]["details"])
    assert not WeComConfig.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BODY, "encoding_aes_key": "x" * 42}, "encoding_aes_key"),
        ({**BODY, "encoding_aes_key": "!" * 43}, "encoding_aes_key"),
        ({**BODY, "token": "has space"}, "token"),
        ({**BODY, "token": "t" * 33}, "token"),
        ({**BODY, "corp_id": ""}, "corp_id"),
        ({**BODY, "staff": [{"user_id": "a"}]}, "staff"),
        ({**BODY, "is_active": "maybe"}, "is_active"),
    ],
)
def test_bad_fields_are_400_naming_them_and_write_nothing(staff_client, body, field):
    response = staff_client.put(URL, body, format="json")
    assert response.status_code == 400
    assert any(key.startswith(field) for key in response.json()["error"]["details"])
    assert not WeComConfig.objects.exists()


def test_staff_mapping_is_set_and_replaced(staff_client, brand):
    first = CustomerFactory(brand=brand, kind=CustomerKind.BRAND_ACCOUNT)
    second = CustomerFactory(brand=brand, kind=CustomerKind.BRAND_ACCOUNT)
    staff = [
        {"user_id": "zhangsan", "brand_account": first.pk},
        {"user_id": "lisi", "brand_account": second.pk},
    ]
    response = staff_client.put(URL, {**BODY, "staff": staff}, format="json")
    assert response.status_code == 200
    assert sorted(response.json()["staff"], key=lambda s: s["user_id"]) == sorted(
        staff, key=lambda s: s["user_id"]
    )
    staff_client.put(URL, {"corp_id": CORP_ID, "staff": staff[:1]}, format="json")
    assert list(WeComStaff.objects.values_list("user_id", flat=True)) == ["zhangsan"]


def test_staff_mapping_refuses_consumers_and_other_brands_accounts(staff_client, other_brand):
    consumer = CustomerFactory(brand=staff_client.brand)
    foreign = CustomerFactory(brand=other_brand, kind=CustomerKind.BRAND_ACCOUNT)
    for account in (consumer, foreign):
        staff = [{"user_id": "zhangsan", "brand_account": account.pk}]
        response = staff_client.put(URL, {**BODY, "staff": staff}, format="json")
        assert response.status_code == 400
        assert "staff[0].brand_account" in response.json()["error"]["details"]
    assert not WeComConfig.objects.exists() and not WeComStaff.objects.exists()


@pytest.mark.parametrize(
    ("role", "read", "write"),
    [
        (Role.OWNER, 200, 200),
        (Role.MANAGER, 200, 200),
        (Role.OPERATOR, 200, 403),
        (Role.ANALYST, 200, 403),
    ],
)
def test_roles(brand, role, read, write):
    client = staff_client_for(brand, role)
    assert client.get(URL).status_code == read
    assert client.put(URL, BODY, format="json").status_code == write
    assert WeComConfig.objects.filter(brand=brand).exists() is (write == 200)


def test_app_keys_and_customers_may_not_read_or_write(brand, app_client, customer_client):
    configure(brand)
    for client in (app_client, customer_client):
        assert client.get(URL).status_code == 403
        assert client.put(URL, BODY, format="json").status_code == 403
    assert client.get(URL).json()["error"]["code"] == "permission_denied"


def test_anonymous_is_401(anon_client):
    assert anon_client.get(URL).status_code == 401
    assert anon_client.put(URL, BODY, format="json").status_code == 401


def test_each_brand_sees_and_changes_only_its_own_config(brand, other_brand, staff_client):
    configure(brand)
    before = list(WeComConfig.objects.filter(brand=brand).values())
    other = staff_client_for(other_brand, Role.OWNER)
    assert other.get(URL).json()["configured"] is False
    body = {"corp_id": "wwRIVAL", "token": "RivalToken", "encoding_aes_key": AES_KEY}
    assert other.put(URL, body, format="json").status_code == 200
    assert list(WeComConfig.objects.filter(brand=brand).values()) == before
    assert staff_client.get(URL).json()["corp_id"] == CORP_ID
    assert app_client_for(other_brand).get(URL).status_code == 403


@pytest.mark.parametrize("url", [URL, "/api/v1/churn/", "/api/v1/wecom/callback/acme/"])
def test_options_answers_without_a_server_error(staff_client, brand, url):
    configure(brand)
    assert staff_client.options(url).status_code == 200
