"""A brand to inject faults into, written to the stack's database through the ORM (the
``stack`` fixture points it there): staff, an app key, senders with friends, and tokens."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from customers.models import Customer
from scrm.tenancy import services as tenancy
from scrm.tenancy.models import Brand, Role
from tests.factories import BrandFactory, CustomerFactory, MembershipFactory
from tests.graph import befriend, set_policy


@dataclass
class World:
    brand: Brand
    staff: str  # Authorization header values
    app: str
    senders: list[Customer]
    friends: list[Customer]
    tokens: dict[int, str] = field(default_factory=dict)

    def customer(self, who: Customer) -> str:
        if who.pk not in self.tokens:
            issued = tenancy.customer_token_issue(brand_id=self.brand.pk, customer_id=who.pk)
            self.tokens[who.pk] = f"Bearer {issued.token}"
        return self.tokens[who.pk]


def build_world(*, senders: int = 1, friends: int = 5, commercial_rules=None) -> World:
    """Senders who are all friends of the same ``friends``. With ``commercial_rules`` the
    brand's fatigue policy enables only those rules (so the time of day does not matter)."""
    brand = BrandFactory()
    membership = MembershipFactory(brand=brand, role=Role.MANAGER)
    staff = tenancy.staff_token_issue(user=membership.user, brand=brand).token
    app = tenancy.app_key_create(brand=brand, name="mini-program").raw_key
    people = CustomerFactory.create_batch(friends, brand=brand)
    authors = CustomerFactory.create_batch(senders, brand=brand)
    for author in authors:
        befriend(author, people)
    if commercial_rules is not None:
        set_policy(brand, enabled_rules=list(commercial_rules))
    return World(brand, f"Bearer {staff}", f"Api-Key {app}", authors, people)


KINDS = ("message", "click", "reply", "purchase")


def events_between(world: World, count: int, prefix: str):
    """``count`` events among the world's people (pairs and types cycling), in the past."""
    people = [*world.senders, *world.friends]
    start = timezone.now() - timedelta(days=3)
    events = []
    for i in range(count):
        actor = people[i % len(people)]
        target = people[(i * 7 + 1) % len(people)]
        if target.pk == actor.pk:
            target = people[(i * 7 + 2) % len(people)]
        events.append(
            {
                "event_id": f"{prefix}-{i}",
                "type": KINDS[i % len(KINDS)],
                "actor": actor.pk,
                "target": target.pk,
                "occurred_at": (start + timedelta(seconds=17 * i)).isoformat(),
            }
        )
    return events
