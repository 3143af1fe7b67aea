"""An erasure request whose task was lost (broker down at commit) is queued again by the
sweeper, and then carried out."""

import base64
import json
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.utils import timezone

from privacy.models import ErasureRequest
from privacy.tasks import erase_customer, requeue_erasures
from scrm.tenancy.models import Role
from tests.conftest import staff_client_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def queued_erasures() -> list[list]:
    """The args of every ``privacy.erase_customer`` message waiting in the Redis queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        messages = [json.loads(raw) for raw in client.lrange("default", 0, -1)]
    finally:
        client.close()
    return [
        json.loads(base64.b64decode(m["body"]))[0]
        for m in messages
        if m["headers"]["task"] == "privacy.erase_customer"
    ]


def test_a_queued_request_whose_task_was_lost_is_queued_again_and_done(
    brand, customer, django_capture_on_commit_callbacks
):
    # given an erasure request whose hand-off to the broker never happened
    manager = staff_client_for(brand, Role.MANAGER)
    url = f"/api/v1/customers/{customer.pk}/erase/"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = manager.post(url, {}, format="json")
    assert response.status_code == 202 and len(callbacks) == 1
    request_id = response.json()["id"]
    assert queued_erasures() == []

    # when the sweeper runs while the request is recent: its task may still come
    assert requeue_erasures.apply().get() == {"requeued": 0, "failed": 0}
    assert queued_erasures() == []

    # when it runs after the configured minutes
    after = settings.SCRM["ERASURE_SWEEP_AFTER_MINUTES"]
    ErasureRequest.objects.filter(pk=request_id).update(
        created_at=timezone.now() - timedelta(minutes=after + 1)
    )
    assert requeue_erasures.apply().get() == {"requeued": 1, "failed": 0}

    # then the task is in the broker's queue, and the request says it was queued again
    assert queued_erasures() == [[request_id]]
    listed = manager.get(url).json()["results"][0]
    assert listed["status"] == "queued" and "requeued_at" in listed["progress"]

    # when the worker runs it, the request is done and the sweeper leaves it alone
    erase_customer.apply(args=[request_id]).get()
    assert manager.get(url).json()["results"][0]["status"] == "done"
    assert requeue_erasures.apply().get() == {"requeued": 0, "failed": 0}


def test_running_done_and_failed_requests_are_not_queued_again(brand):
    manager = staff_client_for(brand, Role.MANAGER)
    long_ago = timezone.now() - timedelta(days=1)
    for status in ("running", "done", "failed"):
        customer = CustomerFactory(brand=brand)
        made = manager.post(f"/api/v1/customers/{customer.pk}/erase/", {}, format="json")
        ErasureRequest.objects.filter(pk=made.json()["id"]).update(
            status=status, created_at=long_ago
        )
    assert requeue_erasures.apply(kwargs={"older_than_minutes": 0}).get()["requeued"] == 0
    assert queued_erasures() == []
