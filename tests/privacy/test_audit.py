"""The audit trail: who read an unmasked phone, exported, erased or changed consent."""

import pytest
from django.db import DatabaseError, connection, transaction
from django.urls import reverse

from privacy.audit import Actor, audit_record
from privacy.models import AuditEntry
from scrm.tenancy.models import Role
from tests.conftest import admin_client_for, app_client_for, customer_client_for, staff_client_for
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db


def test_reading_the_unmasked_phone_is_audited(brand, customer):
    manager = staff_client_for(brand, Role.MANAGER, username="mia")
    app = app_client_for(brand)

    # reads of the single customer (unmasked) by staff and an app key are recorded
    assert manager.get(f"/api/v1/customers/{customer.pk}/").json()["phone"] == customer.phone
    app.get(f"/api/v1/customers/{customer.pk}/")
    # the list (masked) and the customer's own read are not
    manager.get("/api/v1/customers/")
    customer_client_for(customer).get(f"/api/v1/customers/{customer.pk}/")

    entries = AuditEntry.objects.filter(action="phone_read").order_by("id")
    assert [(e.customer_id, e.actor_kind, e.actor_label) for e in entries] == [
        (customer.pk, "staff", "staff:mia"),
        (customer.pk, "app", entries[1].actor_label),
    ]
    assert entries[0].actor_user_id == manager.user.pk


def test_audit_list_is_for_owners_of_the_brand_only(brand, other_brand, customer):
    owner = staff_client_for(brand, Role.OWNER)
    owner.get(f"/api/v1/customers/{customer.pk}/")  # one entry in brand A
    rival_owner = staff_client_for(other_brand, Role.OWNER)
    rival = CustomerFactory(brand=other_brand)
    rival_owner.get(f"/api/v1/customers/{rival.pk}/")  # one in brand B

    page = owner.get("/api/v1/audit/").json()
    assert [row["customer"] for row in page["results"]] == [customer.pk]
    assert set(page) == {"next", "previous", "results"}
    assert [row["customer"] for row in rival_owner.get("/api/v1/audit/").json()["results"]] == [
        rival.pk
    ]
    for role in (Role.MANAGER, Role.OPERATOR, Role.ANALYST):
        assert staff_client_for(brand, role).get("/api/v1/audit/").status_code == 403
    assert app_client_for(brand).get("/api/v1/audit/").status_code == 403
    assert customer_client_for(customer).get("/api/v1/audit/").status_code == 403


def test_audit_times_with_any_offset_are_compared_in_utc(brand, customer):
    owner = staff_client_for(brand, Role.OWNER)
    owner.get(f"/api/v1/customers/{customer.pk}/")

    # an offset PostgreSQL would refuse (beyond ±15:59) is a time like any other
    response = owner.get("/api/v1/audit/", {"until": "0168-02-24T19:24:02+16:44"})
    assert response.status_code == 200 and response.json()["results"] == []
    response = owner.get("/api/v1/audit/", {"since": "0168-02-24T19:24:02+16:44"})
    assert [row["customer"] for row in response.json()["results"]] == [customer.pk]
    # and a time before the calendar's start once in UTC is a 400 naming the parameter
    response = owner.get("/api/v1/audit/", {"until": "0001-01-01T00:00:00+10:00"})
    assert response.status_code == 400
    assert "until" in response.json()["error"]["details"]


def test_audit_filters_and_cursor_pages(brand, customer):
    owner = staff_client_for(brand, Role.OWNER)
    other = CustomerFactory(brand=brand)
    for who in (customer, customer, other):
        owner.get(f"/api/v1/customers/{who.pk}/")
    owner.post(
        f"/api/v1/customers/{other.pk}/consents/",
        {"purpose": "profiling", "granted": False},
        format="json",
    )

    def customers(query: str) -> list:
        response = owner.get(f"/api/v1/audit/{query}")
        assert response.status_code == 200, response.content
        return [(r["action"], r["customer"]) for r in response.json()["results"]]

    assert customers(f"?customer={customer.pk}") == [("phone_read", customer.pk)] * 2
    assert customers("?action=consent_change") == [("consent_change", other.pk)]
    assert customers(f"?actor_user={owner.user.pk}&action=phone_read")[0][1] == other.pk
    assert customers("?since=2999-01-01T00:00:00Z") == []
    first = owner.get("/api/v1/audit/?page_size=2").json()
    second = owner.get(first["next"]).json()
    assert len(first["results"]) == 2 and len(second["results"]) == 2
    for bad in ("?action=tamper", "?customer=abc", "?colour=red"):
        response = owner.get(f"/api/v1/audit/{bad}")
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"


def test_entries_cannot_be_changed_or_deleted(brand, customer):
    entry = audit_record(
        brand_id=brand.pk, action="export", customer_id=customer.pk, actor=Actor.system()
    )
    with pytest.raises(ValueError, match="append-only"):
        entry.save()
    with pytest.raises(ValueError, match="append-only"):
        entry.delete()
    # and the database refuses an update that goes around the model
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE privacy_auditentry SET actor_label = 'someone else' WHERE id = %s", [entry.pk]
        )
    entry.refresh_from_db()
    assert entry.actor_label == "system"


def test_admin_shows_the_trail_to_owners_read_only(brand, customer):
    owner = admin_client_for(brand, Role.OWNER)
    entry = audit_record(
        brand_id=brand.pk, action="export", customer_id=customer.pk, actor=Actor.system()
    )
    changelist = reverse("admin:privacy_auditentry_changelist")
    change = reverse("admin:privacy_auditentry_change", args=[entry.pk])
    delete = reverse("admin:privacy_auditentry_delete", args=[entry.pk])

    assert owner.get(changelist).status_code == 200
    page = owner.get(change)
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    owner.post(change, {"action": "erasure_done", "actor_label": "x"})
    assert owner.get(delete).status_code == 403
    owner.post(delete, {"post": "yes"})
    assert owner.get(reverse("admin:privacy_auditentry_add")).status_code == 403
    entry.refresh_from_db()
    assert (entry.action, entry.actor_label) == ("export", "system")
    # below owner the trail is not shown
    manager = admin_client_for(brand, Role.MANAGER)
    assert manager.get(changelist).status_code == 403
    # the admin's customer page shows the phone: opening it is audited
    owner.get(reverse("admin:customers_customer_change", args=[customer.pk]))
    assert AuditEntry.objects.filter(action="phone_read", customer_id=customer.pk).exists()
