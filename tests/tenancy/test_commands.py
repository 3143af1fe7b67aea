"""create_brand, create_staff and create_app_key, through call_command."""

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from scrm.tenancy import services
from scrm.tenancy.models import AppKey, Brand, Membership, Role

pytestmark = pytest.mark.django_db


def run(*args, **options) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, **options)
    return out.getvalue()


def test_create_brand():
    output = run("create_brand", "Acme Tea", "--slug", "acme", "--time-zone", "Europe/Paris")

    brand = Brand.objects.get(slug="acme")
    assert (brand.name, brand.time_zone) == ("Acme Tea", "Europe/Paris")
    assert "acme" in output


def test_create_brand_derives_slug_and_default_time_zone():
    run("create_brand", "Lotus Bakery")
    assert Brand.objects.get(slug="lotus-bakery").time_zone == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Acme Tea"], "exists already"),
        (["ACME TEA", "--slug", "other"], "exists already"),
        (["Another", "--slug", "acme"], "slug 'acme'"),
        (["Another", "--time-zone", "Mars/Olympus"], "time zone"),
        (["   "], "must not be empty"),
    ],
)
def test_create_brand_errors(brand, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_brand", *args)
    assert Brand.objects.count() == 1


def test_create_staff_with_password_option(brand):
    run("create_staff", "acme", "lin", "--role", "manager", "--password", "a-long-pass-phrase")

    membership = Membership.objects.get(user__username="lin")
    assert membership.brand == brand and membership.role == Role.MANAGER
    assert membership.user.is_staff and not membership.user.is_superuser
    assert authenticate(username="lin", password="a-long-pass-phrase") == membership.user


def test_create_staff_password_from_environment(brand, monkeypatch):
    monkeypatch.setenv("SCRM_STAFF_PASSWORD", "env-pass-phrase-9")

    run("create_staff", "acme", "wu")

    assert authenticate(username="wu", password="env-pass-phrase-9") is not None
    assert Membership.objects.get(user__username="wu").role == Role.OPERATOR


def test_create_staff_again_adds_a_brand_and_keeps_password(brand, other_brand):
    run("create_staff", "acme", "lin", "--password", "a-long-pass-phrase")

    run("create_staff", "rival", "lin", "--role", "analyst", "--no-password")

    roles = dict(Membership.objects.filter(user__username="lin").values_list("brand__slug", "role"))
    assert roles == {"acme": "operator", "rival": "analyst"}
    assert authenticate(username="lin", password="a-long-pass-phrase") is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope", "lin", "--password", "a-long-pass-phrase"], "No brand with slug 'nope'"),
        (["acme", "lin", "--password", "123"], "Password rejected"),
        (["acme", " ", "--password", "a-long-pass-phrase"], "must not be empty"),
    ],
)
def test_create_staff_errors(brand, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_staff", *args)
    assert not Membership.objects.exists()


def test_create_staff_unknown_role_is_refused(brand):
    with pytest.raises(CommandError, match="role"):
        run("create_staff", "acme", "lin", "--role", "king", "--password", "a-long-pass-phrase")


def test_create_staff_without_password_or_tty_fails(brand, monkeypatch):
    monkeypatch.delenv("SCRM_STAFF_PASSWORD", raising=False)
    monkeypatch.setattr("os.isatty", lambda fd: False)

    with pytest.raises(CommandError, match="No password"):
        run("create_staff", "acme", "lin")


def test_create_app_key_prints_the_key_once(brand):
    output = run("create_app_key", "acme", "mini-program")

    raw = next(line for line in output.splitlines() if line.startswith("sk_"))
    app_key = AppKey.objects.get()
    assert app_key.name == "mini-program" and app_key.brand == brand
    assert raw not in (app_key.key_hash, app_key.prefix)
    assert services.app_key_authenticate(raw).brand_id == brand.pk


def test_create_app_key_quiet_prints_only_the_key(brand):
    output = run("create_app_key", "acme", "ci", "--quiet-key").strip()
    assert output.startswith("sk_") and "\n" not in output
    assert services.app_key_authenticate(output) is not None


def test_create_app_key_unknown_brand(db):
    with pytest.raises(CommandError, match="No brand with slug 'ghost'"):
        run("create_app_key", "ghost", "x")
    assert not AppKey.objects.exists()
