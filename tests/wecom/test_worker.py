"""Through a real Celery worker on the real Redis broker: signed callbacks over HTTP → stored →
applied by the ``wecom.apply_callback`` task (late ack) → customers, friendships, churn."""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from rest_framework.test import APIClient

from customers.models import Customer, Friendship
from interactions.models import Interaction
from scrm.celery import app
from tests.factories import BrandFactory
from wecom.models import CallbackEvent, CallbackStatus, ChurnRecord

from .helpers import configure, contact_event, post_event


def wait_until(predicate, timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_callbacks_over_http_are_applied_once_by_a_real_worker(monkeypatch):
    # given a configured brand, the queue not eager, a worker on the default and scoring queues
    monkeypatch.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    app.conf.task_always_eager = False
    app.conf.broker_url = settings.REDIS_URL
    brand = BrandFactory()
    configure(brand)
    client = APIClient()
    add = contact_event("add_external_contact", external="wmWORKER")
    churn = contact_event("del_follow_user", external="wmWORKER")

    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        queues=["default", "scoring"],
        shutdown_timeout=30,
    ):
        # when WeCom sends the add (and retries it twice), then the churn
        for _ in range(3):
            assert post_event(client, brand, add).status_code == 200
        assert wait_until(
            lambda: CallbackEvent.objects.filter(status=CallbackStatus.APPLIED).count() == 1
        ), "the worker did not apply the add in time"
        assert post_event(client, brand, churn).status_code == 200

        # then the worker applies both, once each
        assert wait_until(
            lambda: CallbackEvent.objects.filter(status=CallbackStatus.APPLIED).count() == 2
        ), "the worker did not apply the churn in time"

    assert CallbackEvent.objects.get(change_type="add_external_contact").deliveries == 3
    customer = Customer.objects.get(brand=brand, external_id="wmWORKER")
    assert customer.lifecycle_stage == "churned"
    friendship = Friendship.objects.get(brand=brand)
    assert friendship.ended_at is not None
    assert ChurnRecord.objects.filter(brand=brand, customer=customer).count() == 1
    assert Interaction.objects.filter(brand=brand, type="unfriend").count() == 1


@pytest.mark.django_db(transaction=True)
def test_one_customer_adding_two_staff_members_at_once_is_applied_by_both():
    # given two stored adds of one new customer (a multi-person contact-me code)
    import threading

    from django.db import connection

    from wecom.services.callbacks import callback_store
    from wecom.services.events import callback_apply

    brand = BrandFactory()
    configure(brand)
    ids = [
        callback_store(
            brand_id=brand.pk, fields=contact_event("add_external_contact", user_id=user,
                                                    external="wmBOTH")
        ).callback_id
        for user in ("zhangsan", "lisi")
    ]  # fmt: skip
    barrier = threading.Barrier(2)
    outcomes = []

    def apply(callback_id: int) -> None:
        barrier.wait()
        try:
            outcomes.append(callback_apply(callback_id=callback_id).status)
        finally:
            connection.close()

    # when two workers apply them at the same time
    threads = [threading.Thread(target=apply, args=(pk,)) for pk in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then both apply: one customer, befriended with both staff accounts
    assert outcomes == [CallbackStatus.APPLIED, CallbackStatus.APPLIED]
    customer = Customer.objects.get(brand=brand, external_id="wmBOTH")
    assert Friendship.objects.filter(brand=brand, ended_at__isnull=True).count() == 2
    customer.refresh_from_db()
    assert customer.friend_count == 2
