"""The export of everything held about one customer: one JSON document, streamed.

``SECTIONS`` names every table that refers to a customer and how (the lookup from its rows to
the customer). A test walks Django's model registry and fails when a model with a reference to
``Customer`` has no section here, so a new table cannot be left out of the export.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Model
from django.utils import timezone

from customers.models import Customer

FORMAT = "scrm.customer-export/1"
CHUNK = 500


@dataclass(frozen=True)
class Section:
    key: str  # the document's key
    model: str  # "app_label.ModelName"
    lookup: str  # from a row of the model to the customer's id, e.g. "actor_id"
    description: str

    @property
    def model_class(self) -> type[Model]:
        return apps.get_model(self.model)


SECTIONS: tuple[Section, ...] = (
    Section(
        "consent_history", "customers.ConsentRecord", "customer_id", "every grant and withdrawal"
    ),
    Section("advocate", "customers.Advocate", "customer_id", "the KOC record, if any"),
    Section(
        "friendships_low",
        "customers.Friendship",
        "customer_low_id",
        "friendships (this customer has the lower id)",
    ),
    Section(
        "friendships_high",
        "customers.Friendship",
        "customer_high_id",
        "friendships (this customer has the higher id)",
    ),
    Section(
        "friendships_ended_by",
        "customers.Friendship",
        "ended_by_id",
        "friendships this customer ended",
    ),
    Section(
        "interactions_as_actor", "interactions.Interaction", "actor_id", "events this customer did"
    ),
    Section(
        "interactions_as_target",
        "interactions.Interaction",
        "target_id",
        "events aimed at this customer",
    ),
    Section("ties_as_source", "interactions.Tie", "source_id", "tie state from this customer"),
    Section("ties_as_target", "interactions.Tie", "target_id", "tie state towards this customer"),
    Section("posts", "campaigns.Post", "author_id", "posts written"),
    Section(
        "publish_decisions",
        "campaigns.PublishDecision",
        "post__author_id",
        "fatigue decisions on own posts",
    ),
    Section(
        "deliveries",
        "campaigns.Delivery",
        "recipient_id",
        "posts delivered to (or suppressed for) this customer",
    ),
    Section(
        "enrollments",
        "campaigns.Enrollment",
        "advocate__customer_id",
        "campaign enrollments as advocate",
    ),
    Section(
        "sample_shipments",
        "campaigns.SampleShipment",
        "enrollment__advocate__customer_id",
        "free samples",
    ),
    Section("conversions_as_buyer", "campaigns.Conversion", "buyer_id", "orders"),
    Section(
        "conversions_as_sharer",
        "campaigns.Conversion",
        "sharer_id",
        "orders through this customer's share links",
    ),
    Section(
        "conversions_as_advocate",
        "campaigns.Conversion",
        "advocate__customer_id",
        "orders credited to this customer as advocate",
    ),
    Section(
        "folded_interactions_as_source",
        "privacy.FoldedPair",
        "source_id",
        "raw events older than the retention period, folded per pair",
    ),
    Section(
        "folded_interactions_as_target",
        "privacy.FoldedPair",
        "target_id",
        "raw events aimed at this customer, folded per pair",
    ),
    Section(
        "wecom_contacts",
        "wecom.WeComContact",
        "customer_id",
        "WeCom external contacts: which staff member, when added, ended and why",
    ),
    Section(
        "wecom_contacts_as_staff",
        "wecom.WeComContact",
        "brand_account_id",
        "WeCom external contacts of this brand account",
    ),
    Section(
        "wecom_churn", "wecom.ChurnRecord", "customer_id", "deletions of a staff member (churn)"
    ),
    Section(
        "wecom_churn_as_staff",
        "wecom.ChurnRecord",
        "brand_account_id",
        "customers who deleted this brand account",
    ),
    Section(
        "wecom_staff",
        "wecom.WeComStaff",
        "brand_account_id",
        "WeCom UserIDs mapped to this brand account",
    ),
    Section("erasure_requests", "privacy.ErasureRequest", "customer_id", "erasure requests"),
    Section(
        "access_log",
        "privacy.AuditEntry",
        "customer_id",
        "who read, exported, erased or changed consent",
    ),
)

# Columns not given out: internal bookkeeping of other people (the staff user's id is
# replaced by its label in the same rows).
HIDDEN = {
    "privacy.AuditEntry": {"actor_user"},
    "privacy.ErasureRequest": {"requested_by"},
    "customers.ConsentRecord": {"recorded_by"},
}


def _rows(section: Section, customer: Customer) -> Iterator[dict]:
    model = section.model_class
    hidden = HIDDEN.get(section.model, set())
    names = [
        field.attname
        for field in model._meta.concrete_fields
        if field.name not in hidden and field.attname not in hidden
    ]
    queryset = (
        model._default_manager.filter(brand_id=customer.brand_id, **{section.lookup: customer.pk})
        .order_by("pk")
        .values(*names)
    )
    yield from queryset.iterator(chunk_size=CHUNK)


def _profile(customer: Customer) -> dict:
    return {
        field.attname: getattr(customer, field.attname) for field in Customer._meta.concrete_fields
    }


def export_stream(*, customer: Customer) -> Iterator[str]:
    """The document, in pieces: ``{"format", "generated_at", "customer", <section>: [...], …,
    "sections": {key: description}}``. Rows are read in chunks; memory stays flat."""

    def dumps(value) -> str:
        return json.dumps(value, cls=DjangoJSONEncoder, ensure_ascii=False)

    head = {
        "format": FORMAT,
        "generated_at": timezone.now(),
        "brand": customer.brand_id,
        "customer": _profile(customer),
    }
    yield dumps(head)[:-1]
    for section in SECTIONS:
        yield f", {dumps(section.key)}: ["
        first = True
        for row in _rows(section, customer):
            yield ("" if first else ", ") + dumps(row)
            first = False
        yield "]"
    yield f', "sections": {dumps({s.key: s.description for s in SECTIONS})}}}\n'


def customer_references() -> set[tuple[str, str]]:
    """Every (model, field) of the installed apps that refers to ``Customer`` directly."""
    found = set()
    for model in apps.get_models():
        for field in model._meta.get_fields():
            if field.is_relation and field.concrete and field.related_model is Customer:
                found.add((model._meta.label, field.attname))
    return found
