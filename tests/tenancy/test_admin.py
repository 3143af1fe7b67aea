"""Admin for brands, memberships, staff tokens and app keys, for non-superuser staff."""

import hashlib

import pytest

from scrm.tenancy import services
from scrm.tenancy.models import AppKey, Brand, Membership, Role, StaffToken
from tests.conftest import admin_client_for
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

APP_KEYS = "/admin/tenancy/appkey/"
TOKENS = "/admin/tenancy/stafftoken/"
MEMBERSHIPS = "/admin/tenancy/membership/"
BRANDS = "/admin/tenancy/brand/"


def changelist_ids(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return {obj.pk for obj in response.context["cl"].result_list}


def run_action(client, url, action, ids):
    return client.post(url, {"action": action, "_selected_action": [str(pk) for pk in ids]})


def page_messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def test_creating_an_app_key_shows_it_once_and_stores_only_a_hash(brand_admin_client, brand):
    response = brand_admin_client.post(
        f"{APP_KEYS}add/", {"brand": brand.pk, "name": "mini-program"}, follow=True
    )

    app_key = AppKey.objects.get()
    shown = [m for m in page_messages(response) if "sk_" in m]
    assert len(shown) == 1
    raw = next(word for word in shown[0].split() if word.startswith("sk_"))
    assert app_key.brand == brand and app_key.created_by == brand_admin_client.user
    assert app_key.key_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in {app_key.key_hash, app_key.prefix, app_key.name}
    assert services.app_key_authenticate(raw).brand_id == brand.pk
    # Never again: not on the list, not on the change page.
    assert raw not in brand_admin_client.get(APP_KEYS).content.decode()
    assert raw not in brand_admin_client.get(f"{APP_KEYS}{app_key.pk}/change/").content.decode()


def test_app_key_brand_choices_and_other_brand_keys(brand_admin_client, brand, other_brand):
    theirs = services.app_key_create(brand=other_brand, name="theirs").app_key
    mine = services.app_key_create(brand=brand, name="mine").app_key

    form = brand_admin_client.get(f"{APP_KEYS}add/").context["adminform"].form
    forged = brand_admin_client.post(f"{APP_KEYS}add/", {"brand": other_brand.pk, "name": "x"})

    assert list(form.fields["brand"].queryset) == [brand]
    assert forged.status_code == 200 and "brand" in forged.context["adminform"].form.errors
    assert changelist_ids(brand_admin_client, APP_KEYS) == {mine.pk}
    assert brand_admin_client.get(f"{APP_KEYS}{theirs.pk}/change/").status_code == 302
    assert AppKey.objects.filter(brand=other_brand).count() == 1


def test_revoke_app_keys_action_only_touches_own_brand(brand_admin_client, brand, other_brand):
    mine = services.app_key_create(brand=brand, name="mine")
    theirs = services.app_key_create(brand=other_brand, name="theirs")

    run_action(brand_admin_client, APP_KEYS, "revoke_keys", [mine.app_key.pk, theirs.app_key.pk])

    assert services.app_key_authenticate(mine.raw_key) is None
    assert services.app_key_authenticate(theirs.raw_key) is not None


def test_manager_sees_app_keys_but_cannot_create_or_revoke(brand):
    client = admin_client_for(brand, Role.MANAGER)
    issued = services.app_key_create(brand=brand, name="mine")

    assert changelist_ids(client, APP_KEYS) == {issued.app_key.pk}
    assert client.get(f"{APP_KEYS}add/").status_code == 403
    run_action(client, APP_KEYS, "revoke_keys", [issued.app_key.pk])
    assert services.app_key_authenticate(issued.raw_key) is not None


def test_app_keys_cannot_be_deleted(brand_admin_client, brand):
    issued = services.app_key_create(brand=brand, name="mine")
    assert brand_admin_client.get(f"{APP_KEYS}{issued.app_key.pk}/delete/").status_code == 403


def test_staff_tokens_owner_sees_brand_tokens_and_revokes(brand_admin_client, brand, other_brand):
    colleague = MembershipFactory(brand=brand, role=Role.OPERATOR).user
    stranger = MembershipFactory(brand=other_brand, role=Role.OWNER).user
    services.staff_token_issue(user=colleague, brand=brand)
    services.staff_token_issue(user=stranger, brand=other_brand)
    mine = StaffToken.objects.get(user=colleague)
    theirs = StaffToken.objects.get(user=stranger)

    ids = changelist_ids(brand_admin_client, TOKENS)
    run_action(brand_admin_client, TOKENS, "revoke_tokens", [mine.pk, theirs.pk])

    assert ids == {mine.pk}
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert mine.revoked_at is not None and theirs.revoked_at is None


def test_non_owner_sees_and_revokes_only_own_tokens(brand):
    client = admin_client_for(brand, Role.OPERATOR)
    colleague = MembershipFactory(brand=brand, role=Role.OWNER).user
    own = services.staff_token_issue(user=client.user, brand=brand)
    services.staff_token_issue(user=colleague, brand=brand)
    own_row = StaffToken.objects.get(user=client.user)
    colleague_row = StaffToken.objects.get(user=colleague)

    ids = changelist_ids(client, TOKENS)
    run_action(client, TOKENS, "revoke_tokens", [own_row.pk, colleague_row.pk])

    assert ids == {own_row.pk}
    assert services.staff_token_authenticate(own.token) is None
    colleague_row.refresh_from_db()
    assert colleague_row.revoked_at is None
    assert client.get(f"{TOKENS}{colleague_row.pk}/change/").status_code == 302


def test_memberships_scoped_and_owner_only(brand_admin_client, brand, other_brand):
    MembershipFactory(brand=other_brand, role=Role.OWNER)
    own = Membership.objects.get(user=brand_admin_client.user)
    colleague = MembershipFactory(brand=brand, role=Role.OPERATOR)
    operator = admin_client_for(brand, Role.OPERATOR)

    ids = changelist_ids(brand_admin_client, MEMBERSHIPS)
    response = brand_admin_client.post(
        f"{MEMBERSHIPS}{colleague.pk}/change/", {"brand": brand.pk, "role": Role.MANAGER}
    )

    assert ids == {own.pk, colleague.pk, Membership.objects.get(user=operator.user).pk}
    assert response.status_code == 302
    colleague.refresh_from_db()
    assert colleague.role == Role.MANAGER
    assert operator.get(MEMBERSHIPS).status_code == 403


def test_membership_user_choices_are_staff_of_own_brands(brand_admin_client, brand, other_brand):
    colleague = MembershipFactory(brand=brand).user
    stranger = MembershipFactory(brand=other_brand).user

    form = brand_admin_client.get(f"{MEMBERSHIPS}add/").context["adminform"].form
    users = set(form.fields["user"].queryset)

    assert colleague in users and brand_admin_client.user in users
    assert stranger not in users
    assert list(form.fields["brand"].queryset) == [brand]


def test_brand_list_and_owner_edit(brand_admin_client, brand, other_brand):
    ids = changelist_ids(brand_admin_client, BRANDS)
    bad = brand_admin_client.post(
        f"{BRANDS}{brand.pk}/change/",
        {"name": brand.name, "time_zone": "Mars/Olympus", "disclosure_label": "#ad"},
    )
    good = brand_admin_client.post(
        f"{BRANDS}{brand.pk}/change/",
        {"name": brand.name, "time_zone": "Europe/Paris", "disclosure_label": "#pub"},
    )

    assert ids == {brand.pk}
    assert "time_zone" in bad.context["adminform"].form.errors
    assert good.status_code == 302
    brand.refresh_from_db()
    assert (brand.time_zone, brand.disclosure_label, brand.slug) == ("Europe/Paris", "#pub", "acme")
    assert brand_admin_client.get(f"{BRANDS}{other_brand.pk}/change/").status_code == 302
    assert brand_admin_client.get(f"{BRANDS}add/").status_code == 403
    assert Brand.objects.count() == 2


def test_admin_index_lists_only_permitted_models(brand):
    analyst = admin_client_for(brand, Role.ANALYST)

    index = analyst.get("/admin/")

    models = {m["object_name"] for app in index.context["app_list"] for m in app["models"]}
    assert {"Customer", "Friendship", "Advocate", "Brand", "StaffToken"} <= models
    assert "AppKey" not in models and "Membership" not in models


def test_staff_without_membership_sees_nothing(db):
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_user("loner", password="pw", is_staff=True)
    client = Client()
    client.force_login(user)

    assert client.get("/admin/customers/customer/").status_code == 403
    assert client.get("/admin/").context["app_list"] == []
