"""``manage.py wecom_simulate`` against a running server (pytest-django's live server)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from customers.models import Customer
from tests.factories import BrandFactory
from wecom.models import CallbackEvent, CallbackStatus, ChurnRecord, WeComContact
from wecom.services.events import callback_apply

from .helpers import configure

pytestmark = pytest.mark.django_db(transaction=True)


def _apply_all() -> None:
    for pk in (
        CallbackEvent.objects.filter(status="pending").order_by("pk").values_list("pk", flat=True)
    ):
        callback_apply(callback_id=pk)


def _simulate(live_server, brand, **options) -> str:
    out = StringIO()
    call_command("wecom_simulate", url=live_server.url, brand=brand.slug, stdout=out, **options)
    return out.getvalue()


def test_mix_scenario_is_accepted_and_applied(live_server):
    brand = BrandFactory(slug="simbrand")
    configure(brand)
    output = _simulate(live_server, brand, scenario="mix", count=8, verify_url=True, seed=1)
    assert "URL check: ok" in output and "200:" in output
    _apply_all()
    statuses = set(CallbackEvent.objects.values_list("status", flat=True))
    assert CallbackStatus.FAILED not in statuses
    consumers = Customer.objects.filter(brand=brand, source_channel="wecom", kind="consumer")
    assert consumers.count() == 8
    assert ChurnRecord.objects.filter(brand=brand).count() == 2
    assert CallbackEvent.objects.filter(event="some_future_event").exists()


def test_churn_burst_acts_on_current_contacts_and_retries_apply_once(live_server):
    brand = BrandFactory(slug="simbrand")
    configure(brand)
    _simulate(live_server, brand, scenario="adds", count=5, seed=2)
    _apply_all()
    _simulate(live_server, brand, scenario="churn", count=3, retries=2, seed=3)
    assert CallbackEvent.objects.filter(change_type="del_follow_user").count() == 3
    assert set(
        CallbackEvent.objects.filter(change_type="del_follow_user").values_list(
            "deliveries", flat=True
        )
    ) == {3}
    _apply_all()
    assert ChurnRecord.objects.filter(brand=brand).count() == 3
    assert WeComContact.objects.filter(brand=brand, ended_at__isnull=True).count() == 2


def test_a_brand_without_config_is_an_error(live_server):
    brand = BrandFactory(slug="bare")
    with pytest.raises(CommandError):
        _simulate(live_server, brand)


def test_demo_mode_sends_to_make_runs_demo_configuration(live_server, settings):
    settings.SCRM_DEMO_LOGIN = True
    demo = BrandFactory(slug="demo")
    call_command("wecom_demo_config", brand="demo", stdout=StringIO())
    output = _simulate(live_server, demo, demo=True, scenario="churn", count=2)
    assert "200: 4" in output  # two adds, then their churn
    _apply_all()
    assert ChurnRecord.objects.filter(brand=demo).count() == 2
    assert set(ChurnRecord.objects.values_list("user_id", flat=True)) <= {
        "demo-staff-1",
        "demo-staff-2",
        "demo-staff-3",
    }


def test_demo_churn_acts_on_the_demo_brands_own_customers(live_server, settings):
    # given make run's demo: a brand account with consumer friends and the demo login
    from customers.services import friendship_create
    from scrm.tenancy.models import Membership, Role
    from tests.factories import CustomerFactory, UserFactory

    settings.SCRM_DEMO_LOGIN = True
    demo = BrandFactory(slug="demo")
    account = CustomerFactory(brand=demo, kind="brand_account")
    friends = CustomerFactory.create_batch(3, brand=demo)
    for friend in friends:
        friendship_create(brand_id=demo.pk, customer_id=friend.pk, friend_id=account.pk)
    Membership.objects.create(
        user=UserFactory(username="demo", password="demo"), brand=demo, role=Role.OWNER
    )
    call_command("wecom_demo_config", brand="demo", stdout=StringIO())

    # when a churn burst is simulated in demo mode
    _simulate(live_server, demo, demo=True, scenario="churn", count=2)
    _apply_all()

    # then two of the account's existing friends churned
    churned = set(ChurnRecord.objects.values_list("customer_id", flat=True))
    assert len(churned) == 2 and churned <= {f.pk for f in friends}
    assert not Customer.objects.filter(brand=demo, external_id__startswith="wmSIM").exists()
