"""The WeCom admin: secrets write-only and encrypted, roles, channel codes, churn alerts."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from customers.models import CustomerKind
from scrm.tenancy.models import Role
from tests.conftest import admin_client_for
from tests.factories import BrandFactory, CustomerFactory
from wecom.management.commands.wecom_demo_config import DEMO_AES_KEY, DEMO_TOKEN
from wecom.models import ChurnRecord, ContactChannel, WeComConfig, WeComStaff
from wecom.services.config import callback_keys

from .helpers import AES_KEY, TOKEN, configure, wecom_populate

pytestmark = pytest.mark.django_db


def _form(brand, **overrides) -> dict:
    return {
        "brand": brand.pk,
        "corp_id": "wwadmin",
        "token": TOKEN,
        "encoding_aes_key": AES_KEY,
        "agent_id": "",
        "suite_id": "",
        "is_active": "on",
        **overrides,
    }


def test_a_manager_configures_wecom_in_the_admin_and_never_sees_the_key(brand):
    client = admin_client_for(brand, Role.MANAGER)
    response = client.post(reverse("admin:wecom_wecomconfig_add"), _form(brand))
    assert response.status_code == 302, response.content.decode()[:2000]
    config = WeComConfig.objects.get(brand=brand)
    assert callback_keys(config).encoding_aes_key == AES_KEY
    page = client.get(reverse("admin:wecom_wecomconfig_change", args=[config.pk]))
    assert page.status_code == 200
    assert AES_KEY not in page.content.decode() and TOKEN not in page.content.decode()
    # a change with blank secrets keeps them
    form = _form(brand, corp_id="wwchanged", token="", encoding_aes_key="")
    client.post(reverse("admin:wecom_wecomconfig_change", args=[config.pk]), form)
    keys = callback_keys(WeComConfig.objects.get(brand=brand))
    assert (keys.corp_id, keys.token, keys.encoding_aes_key) == ("wwchanged", TOKEN, AES_KEY)


def test_a_bad_key_in_the_admin_is_a_form_error(brand):
    client = admin_client_for(brand, Role.OWNER)
    response = client.post(
        reverse("admin:wecom_wecomconfig_add"), _form(brand, encoding_aes_key="short")
    )
    assert response.status_code == 200
    assert "encoding_aes_key" in response.context["adminform"].form.errors
    assert not WeComConfig.objects.exists()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.ANALYST])
def test_operators_and_analysts_cannot_change_the_config(brand, role):
    configure(brand)
    client = admin_client_for(brand, role)
    config = WeComConfig.objects.get(brand=brand)
    client.post(reverse("admin:wecom_wecomconfig_change", args=[config.pk]),
                _form(brand, corp_id="wwhacked"))  # fmt: skip
    assert WeComConfig.objects.get(brand=brand).corp_id != "wwhacked"
    assert client.get(reverse("admin:wecom_wecomconfig_add")).status_code == 403


def test_staff_mapping_refuses_another_brands_account(brand, other_brand):
    client = admin_client_for(brand, Role.MANAGER)
    foreign = CustomerFactory(brand=other_brand, kind=CustomerKind.BRAND_ACCOUNT)
    response = client.post(
        reverse("admin:wecom_wecomstaff_add"),
        {"brand": brand.pk, "user_id": "zhangsan", "brand_account": foreign.pk},
    )
    assert response.status_code == 200
    assert not WeComStaff.objects.exists()


def test_an_operator_adds_a_channel_code(brand):
    client = admin_client_for(brand, Role.OPERATOR)
    response = client.post(
        reverse("admin:wecom_contactchannel_add"),
        {"brand": brand.pk, "state": "store-qr", "name": "Store QR", "is_active": "on"},
    )
    assert response.status_code == 302
    assert ContactChannel.objects.get(brand=brand).state == "store-qr"


def test_churn_alerts_page_lists_and_filters_the_brands_churn(brand):
    wecom_populate(brand)
    other = BrandFactory(slug="other")
    wecom_populate(other)
    client = admin_client_for(brand, Role.ANALYST)
    response = client.get(reverse("admin:wecom_churnrecord_changelist"), {"within": "7"})
    assert response.status_code == 200
    shown = {row.pk for row in response.context["cl"].queryset}
    assert shown == set(ChurnRecord.objects.filter(brand=brand).values_list("pk", flat=True))
    record = ChurnRecord.objects.get(brand=brand)
    detail = client.get(reverse("admin:wecom_churnrecord_change", args=[record.pk]))
    assert detail.status_code == 200


def test_demo_config_command_is_idempotent(brand, settings):
    settings.SCRM_DEMO_LOGIN = True
    demo = BrandFactory(slug="demo")
    CustomerFactory(brand=demo, kind=CustomerKind.BRAND_ACCOUNT)
    call_command("wecom_demo_config", brand="demo")
    call_command("wecom_demo_config", brand="demo")
    keys = callback_keys(WeComConfig.objects.get(brand=demo))
    assert (keys.token, keys.encoding_aes_key) == (DEMO_TOKEN, DEMO_AES_KEY)
    assert list(WeComStaff.objects.filter(brand=demo).values_list("user_id", flat=True)) == [
        "demo-staff-1"
    ]
    assert ContactChannel.objects.filter(brand=demo, state="demo-store-qr").exists()


def test_demo_config_is_refused_outside_local_settings(settings):
    settings.SCRM_DEMO_LOGIN = False
    BrandFactory(slug="demo")
    with pytest.raises(CommandError):
        call_command("wecom_demo_config", brand="demo")
