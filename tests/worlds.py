"""Two brands with one of everything, built through the factories and services.

``build_world()`` answers ``(a, b)``: for each brand its staff (owner), an app key, customers
(``alice`` with her friend ``bob``, ``carol`` a stranger to both, ``dave`` an advocate), a
friendship, advocates, a draft and a published post (delivered to bob), an interaction, a
campaign with an enrollment and a free sample, and a conversion. ``fingerprint(side)`` is every
row of the brand, to assert that a refused request changed nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import (
    Campaign,
    Conversion,
    Delivery,
    Enrollment,
    FatiguePolicyRecord,
    Post,
    SampleShipment,
)
from campaigns.services.conversions import conversion_record
from customers import services as customer_services
from customers.models import Advocate, ConsentRecord, Customer, Friendship
from interactions import services as interaction_services
from interactions.models import Interaction
from privacy.models import AuditEntry, ErasureRequest
from scrm.tenancy import services as tenancy
from scrm.tenancy.models import AppKey, Brand, Membership, Role, StaffToken
from wecom.models import (
    CallbackEvent,
    ChurnRecord,
    ContactChannel,
    WeComConfig,
    WeComContact,
    WeComStaff,
)

from .campaigns.factories import CampaignFactory, EnrollmentFactory, PostFactory, hand_published
from .conftest import app_client_for, customer_client_for, staff_client_for
from .factories import AdvocateFactory, BrandFactory, CustomerFactory

SCOPED_MODELS = [
    Customer,
    Friendship,
    Advocate,
    Post,
    Delivery,
    Interaction,
    Campaign,
    Enrollment,
    SampleShipment,
    Conversion,
    FatiguePolicyRecord,
    Membership,
    ConsentRecord,
    ErasureRequest,
    AuditEntry,
    WeComConfig,
    WeComStaff,
    ContactChannel,
    CallbackEvent,
    WeComContact,
    ChurnRecord,
]


@dataclass
class Side:
    brand: Brand
    staff: APIClient
    app: APIClient
    alice: Customer
    bob: Customer
    carol: Customer
    dave: Customer
    friendship: Friendship
    advocate: Advocate  # alice
    dave_advocate: Advocate
    draft: Post  # alice's
    published: Post  # alice's, delivered to bob
    interaction: Interaction
    campaign: Campaign
    enrollment: Enrollment  # alice's advocate
    sample: SampleShipment
    conversion: Conversion

    def client(self, kind: str) -> APIClient:
        """The caller of ``kind``: staff (owner), app key, or alice's customer token."""
        return {"staff": self.staff, "app": self.app, "customer": self.customer(self.alice)}[kind]

    def customer(self, who: Customer) -> APIClient:
        return customer_client_for(who)

    def ids(self) -> dict[str, int]:
        return {
            "customer": self.alice.pk,
            "stranger": self.carol.pk,
            "friendship": self.friendship.pk,
            "advocate": self.advocate.pk,
            "draft": self.draft.pk,
            "published": self.published.pk,
            "campaign": self.campaign.pk,
            "sample": self.sample.pk,
            "conversion": self.conversion.pk,
            "interaction": self.interaction.pk,
        }


def build_side(slug: str) -> Side:
    brand = BrandFactory(name=f"Brand {slug}", slug=slug)
    staff = staff_client_for(brand, Role.OWNER, username=f"owner-{slug}")
    app = app_client_for(brand)
    alice, bob, carol, dave = (
        CustomerFactory(brand=brand, external_id=f"{slug}-{name}", display_name=name)
        for name in ("alice", "bob", "carol", "dave")
    )
    friendship, _ = customer_services.friendship_create(
        brand_id=brand.pk, customer_id=alice.pk, friend_id=bob.pk
    )
    advocate = AdvocateFactory(customer=alice, brand=brand)
    dave_advocate = AdvocateFactory(customer=dave, brand=brand)
    draft = PostFactory(author=alice, brand=brand, text="a draft")
    published = hand_published(alice, [bob], text="a published post")
    app_caller = tenancy.Caller(kind=tenancy.CallerKind.APP, brand_id=brand.pk)
    (result,) = interaction_services.interactions_ingest(
        caller=app_caller,
        events=[
            {
                "event_id": f"{slug}-like-1",
                "type": "like",
                "actor": bob.pk,
                "post": published.pk,
                "occurred_at": timezone.now().isoformat(),
            }
        ],
    )
    assert result.status == "created", result.error
    campaign = CampaignFactory(brand=brand)
    enrollment = EnrollmentFactory(campaign=campaign, brand=brand, advocate=advocate)
    sample = SampleShipment.objects.create(
        brand=brand, enrollment=enrollment, product="tea sampler", cost=Decimal("12.00")
    )
    conversion = conversion_record(
        caller=app_caller,
        order_id=f"{slug}-order-1",
        amount=Decimal("99.00"),
        currency="CNY",
        buyer_id=bob.pk,
        referral_code=enrollment.code,
    ).conversion
    return Side(
        brand=brand,
        staff=staff,
        app=app,
        alice=alice,
        bob=bob,
        carol=carol,
        dave=dave,
        friendship=friendship,
        advocate=advocate,
        dave_advocate=dave_advocate,
        draft=draft,
        published=published,
        interaction=Interaction.objects.get(brand=brand, event_id=f"{slug}-like-1"),
        campaign=campaign,
        enrollment=enrollment,
        sample=sample,
        conversion=conversion,
    )


def build_world() -> tuple[Side, Side]:
    return build_side("a"), build_side("b")


def fingerprint(side: Side) -> dict[str, list[dict]]:
    """Every row of the side's brand in the scoped tables, and its staff tokens."""
    rows = {
        model.__name__: list(model.objects.filter(brand=side.brand).order_by("pk").values())
        for model in SCOPED_MODELS
    }
    for model in (StaffToken, AppKey):  # not last_used_at: every request touches it
        rows[model.__name__] = list(
            model.objects.filter(brand=side.brand).order_by("pk").values("pk", "revoked_at")
        )
    return rows
