"""Erasure covers what the WeCom connector stored about the customer: their callbacks keep
what counts and lose what identifies them."""

import json

import pytest
from django.db.models import Count

from customers.models import Customer, CustomerKind
from privacy.models import ErasureRequest
from privacy.tasks import erase_customer
from scrm.tenancy.models import Role
from tests.conftest import staff_client_for
from tests.factories import BrandFactory, CustomerFactory
from tests.wecom.helpers import configure, contact_event, store_and_apply
from wecom.models import CallbackEvent, ChurnRecord, ContactChannel, WeComContact
from wecom.services.callbacks import callback_store
from wecom.services.config import wecom_staff_map

pytestmark = pytest.mark.django_db

GONE, KEPT = "wmGONE0001", "wmKEEP0001"


def _counts(brand) -> dict:
    rows = CallbackEvent.objects.filter(brand=brand).values("event", "change_type", "status")
    return {
        (r["event"], r["change_type"], r["status"]): r["n"] for r in rows.annotate(n=Count("id"))
    }


def _times(brand) -> list:
    return list(
        CallbackEvent.objects.filter(brand=brand)
        .order_by("pk")
        .values_list("pk", "event", "change_type", "created_at_wecom", "received_at", "dedupe_key")
    )


def test_erasure_pseudonymises_the_customers_wecom_callbacks(brand):
    # given a WeCom brand where the customer came through a channel code, left (churn),
    # had a failed transfer and has a callback still pending; another customer; and another
    # brand that knows a customer by the same ExternalUserID
    configure(brand)
    account = CustomerFactory(brand=brand, kind=CustomerKind.BRAND_ACCOUNT)
    wecom_staff_map(brand_id=brand.pk, user_id="zhangsan", brand_account_id=account.pk)
    ContactChannel.objects.create(brand=brand, state="qr-store-7", name="Store QR")
    secret = {"WelcomeCode": "welcome-secret-123", "Remark": "Ms Wang, VIP"}
    store_and_apply(brand, contact_event("add_external_contact", external=GONE,
                                         State="qr-store-7", **secret))  # fmt: skip
    store_and_apply(brand, contact_event("transfer_fail", external=GONE, FailReason="refused"))
    store_and_apply(brand, contact_event("del_follow_user", external=GONE))
    store_and_apply(brand, contact_event("add_external_contact", external=KEPT, **secret))
    pending = callback_store(brand_id=brand.pk, fields=contact_event("edit_external_contact",
                                                                      external=GONE))  # fmt: skip
    other_brand = BrandFactory()
    configure(other_brand)
    store_and_apply(other_brand, contact_event("add_external_contact", external=GONE, **secret))
    gone = Customer.objects.get(brand=brand, external_id=GONE)
    counts, times = _counts(brand), _times(brand)
    other_before = list(CallbackEvent.objects.filter(brand=other_brand).values())
    kept_before = list(CallbackEvent.objects.filter(external_user_id=KEPT).values())

    # when a manager erases the customer and the task runs
    manager = staff_client_for(brand, Role.MANAGER)
    queued = manager.post(f"/api/v1/customers/{gone.pk}/erase/", {}, format="json")
    assert queued.status_code == 202, queued.content
    erase_customer.apply(args=[queued.json()["id"]]).get()

    # then none of the brand's callbacks names the customer's ExternalUserID or the free text
    gone.refresh_from_db()
    mine = CallbackEvent.objects.filter(brand=brand, external_user_id=gone.external_id)
    assert mine.count() == 4
    stored = json.dumps(list(CallbackEvent.objects.filter(brand=brand).exclude(
        external_user_id=KEPT).values("payload", "result", "error", "external_user_id")),
        default=str)  # fmt: skip
    assert GONE not in stored
    assert "welcome-secret-123" not in stored and "Ms Wang" not in stored
    # what counts is kept: event, change type, times, dedupe key, and the outcome of
    # applied callbacks; the pending one is recorded and never applied
    after = _counts(brand)
    contact = "change_external_contact"
    assert after.pop((contact, "edit_external_contact", "recorded")) == 1
    assert counts.pop((contact, "edit_external_contact", "pending")) == 1
    assert after == counts
    assert _times(brand) == times
    for row in mine:
        assert row.payload["ExternalUserID"] == gone.external_id
        assert row.payload["ChangeType"] == row.change_type
        assert row.payload["UserID"] == "zhangsan"
    added = mine.get(change_type="add_external_contact")
    assert added.payload["State"] == "qr-store-7" and added.state == "qr-store-7"
    assert added.result["customer"] == gone.pk
    failed = mine.get(change_type="transfer_fail")
    assert failed.result["external_user_id"] == gone.external_id
    assert failed.payload["FailReason"] == "refused"
    skipped = CallbackEvent.objects.get(pk=pending.callback_id)
    assert skipped.status == "recorded" and "erased" in skipped.result["skipped"]
    # the contact keeps its channel code, the churn record stays (attached to the pseudonym)
    assert WeComContact.objects.get(customer=gone).state == "qr-store-7"
    assert ChurnRecord.objects.filter(customer=gone).count() == 1
    # another customer and another brand are untouched
    assert list(CallbackEvent.objects.filter(external_user_id=KEPT).values()) == kept_before
    assert list(CallbackEvent.objects.filter(brand=other_brand).values()) == other_before
    # the request's progress reports the step
    steps = ErasureRequest.objects.get(pk=queued.json()["id"]).progress["steps"]
    assert steps["wecom"] == {"callbacks": 4, "pending_not_applied": 1}
    # and the export of the pseudonym names none of it
    export = manager.get(f"/api/v1/customers/{gone.pk}/export/")
    body = b"".join(export.streaming_content).decode()
    assert GONE not in body and "welcome-secret-123" not in body


def test_a_redelivered_callback_of_the_erased_customer_is_not_applied_again(brand):
    # given an erased customer who had come through WeCom
    configure(brand)
    fields = contact_event("add_external_contact", external=GONE)
    store_and_apply(brand, fields)
    gone = Customer.objects.get(brand=brand, external_id=GONE)
    manager = staff_client_for(brand, Role.MANAGER)
    queued = manager.post(f"/api/v1/customers/{gone.pk}/erase/", {}, format="json")
    erase_customer.apply(args=[queued.json()["id"]]).get()
    customers = Customer.objects.count()

    # when WeCom re-delivers the same callback
    again = callback_store(brand_id=brand.pk, fields=fields)

    # then it is counted on the stored row (the dedupe key stays), never applied again
    assert not again.created and again.status == "applied"
    row = CallbackEvent.objects.get(pk=again.callback_id)
    assert row.deliveries == 2 and GONE not in json.dumps(row.payload)
    assert Customer.objects.count() == customers
    assert not Customer.objects.filter(brand=brand, external_id=GONE).exists()
