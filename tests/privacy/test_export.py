"""customers/{id}/export/: everything held about one customer, one streamed JSON document."""

import json

import pytest
from django.apps import apps

from privacy import export
from privacy.models import AuditEntry
from scrm.tenancy.models import Role
from tests.conftest import app_client_for, customer_client_for, staff_client_for
from tests.worlds import build_world

pytestmark = pytest.mark.django_db


def document(response) -> dict:
    assert response.status_code == 200, response.content[:300]
    assert response.streaming
    assert response["Content-Type"] == "application/json"
    return json.loads(b"".join(response.streaming_content))


def test_every_model_that_refers_to_a_customer_is_exported():
    # given every (model, field) of the installed apps with a reference to Customer
    references = export.customer_references()
    assert ("interactions.Interaction", "actor_id") in references  # the walk finds them

    # then each one is a section of the export (a new model must be added there)
    covered = {
        (section.model, section.lookup) for section in export.SECTIONS if "__" not in section.lookup
    }
    missing = sorted(references - covered)
    assert not missing, f"add these to privacy.export.SECTIONS: {missing}"
    # and every section names a real model and a lookup that resolves
    for section in export.SECTIONS:
        model = apps.get_model(section.model)
        model._default_manager.filter(**{section.lookup: 0}).exists()


def test_export_holds_everything_about_the_customer():
    a, b = build_world()
    client = staff_client_for(a.brand, Role.MANAGER)

    bob = document(client.get(f"/api/v1/customers/{a.bob.pk}/export/"))
    alice = document(client.get(f"/api/v1/customers/{a.alice.pk}/export/"))

    assert bob["format"] == export.FORMAT
    assert bob["customer"]["external_id"] == "a-bob"
    assert bob["customer"]["phone"] == a.bob.phone
    acted = {row["id"]: row["type"] for row in bob["interactions_as_actor"]}
    assert acted[a.interaction.pk] == "like" and set(acted.values()) == {"like", "purchase"}
    assert [row["post_id"] for row in bob["deliveries"]] == [a.published.pk]
    assert [row["order_id"] for row in bob["conversions_as_buyer"]] == ["a-order-1"]
    assert len(bob["friendships_low"]) + len(bob["friendships_high"]) == 1
    assert {row["id"] for row in alice["posts"]} == {a.draft.pk, a.published.pk}
    assert a.interaction.pk in {row["id"] for row in alice["interactions_as_target"]}
    assert [row["id"] for row in alice["enrollments"]] == [a.enrollment.pk]
    assert [row["id"] for row in alice["sample_shipments"]] == [a.sample.pk]
    assert [row["order_id"] for row in alice["conversions_as_advocate"]] == ["a-order-1"]
    assert alice["advocate"][0]["referral_code"] == a.advocate.referral_code
    assert set(alice["sections"]) == {section.key for section in export.SECTIONS}
    # nothing of the other brand
    text = json.dumps(alice) + json.dumps(bob)
    assert "b-alice" not in text and "b-order-1" not in text
    # each export is audited, and the access log is part of the next export
    assert AuditEntry.objects.filter(action="export", customer_id=a.bob.pk).count() == 1
    again = document(client.get(f"/api/v1/customers/{a.bob.pk}/export/"))
    assert [row["action"] for row in again["access_log"]][:1] == ["export"]
    assert "actor_user_id" not in again["access_log"][0]


def test_export_roles_and_tenancy():
    a, b = build_world()
    url = f"/api/v1/customers/{a.alice.pk}/export/"
    # a customer token: own data only
    assert customer_client_for(a.alice).get(url).status_code == 200
    assert customer_client_for(a.bob).get(url).status_code == 404
    # staff: manager and owner yes, operator and analyst no; app keys no
    assert staff_client_for(a.brand, Role.OWNER).get(url).status_code == 200
    for role in (Role.OPERATOR, Role.ANALYST):
        response = staff_client_for(a.brand, role).get(url)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
    assert app_client_for(a.brand).get(url).status_code == 403
    # another brand: 404, and nothing audited for it
    before = AuditEntry.objects.filter(action="export").count()
    assert b.staff.get(url).status_code == 404
    assert customer_client_for(b.alice).get(url).status_code == 404
    assert AuditEntry.objects.filter(action="export").count() == before
