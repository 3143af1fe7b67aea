"""Demo activity: weeks of posting, engagement, a campaign and its orders on a seeded network.

``seed_demo`` builds the people and the friendship graph; this adds what a brand would have after
running its private domain for a while, so that ties, the leaderboard, candidates, post stats,
fatigue decisions and the campaign report show real numbers in a fresh ``make run``. Everything
goes through the production services — posts are published by the fatigue decision and its
fan-out, events by the idempotent ingest, orders by the attribution service, ties by the full
recompute — only the clock is set back: each post is decided as of its own (past) time, in
order, and the fatigue counters are rebuilt from the ledger at the end.

The behaviour model is deliberately simple: every friendship gets a latent closeness drawn from
a skewed distribution (most ties weak, a few strong); the chance that a recipient views, likes,
comments on, forwards or buys from a post rises with closeness, is lower for commercial posts,
and a few recipients of commercial posts mute the author. Close friends also message each other.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Advocate, AdvocateStatus, Customer, CustomerKind
from interactions.recompute import ties_recompute
from interactions.scoring_db import ties_score_unscored
from interactions.services import interactions_ingest
from scrm.tenancy.models import Brand, Membership, Role
from scrm.tenancy.services import Caller, CallerKind

from .models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Post, PostStatus
from .services.campaigns import campaign_create, campaign_update, enrollment_create
from .services.conversions import conversion_record
from .services.fatigue_live import counters_rebuild
from .services.posts import post_create
from .services.publish import post_publish_as_of

Progress = Callable[[str], None]

CAMPAIGN_NAME = "Autumn oolong tasting"
BRAND_POSTS = [
    "New harvest: {tea} is in. Tasting notes inside.",
    "Weekend brewing class: how to get the most out of {tea}.",
    "Members' price on {tea} this week only.",
    "Behind the scenes at the {tea} garden.",
]
ADVOCATE_POSTS = [
    "Tried the {tea} they sent me, honest review: smooth, a little floral.",
    "My morning cup lately: {tea}. Ask me for my code if you want to try it.",
    "Cold brew experiment with {tea} — surprisingly good.",
    "Tea with friends this afternoon, {tea} was the favourite.",
]
CONSUMER_POSTS = [
    "Rainy Sunday, a pot of {tea} and a good book.",
    "Anyone else brewing {tea} at work? Tips welcome.",
    "Visited a tea house with my sister, we shared {tea}.",
]
TEAS = ["Tieguanyin", "Da Hong Pao", "Longjing", "Pu'er 2019", "Jasmine pearls", "Dancong"]


@dataclass
class ActivityResult:
    posts: int = 0
    published: int = 0
    deferred_or_rejected: int = 0
    deliveries: int = 0
    events: int = 0
    conversions: int = 0
    ties: int = 0
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def _staff_caller(brand: Brand) -> Caller:
    """The brand's first owner (decisions and events name them), or an unnamed owner."""
    owner = Membership.objects.filter(brand=brand, role=Role.OWNER).order_by("pk").first()
    return Caller(
        kind=CallerKind.STAFF,
        brand_id=brand.pk,
        user_id=owner.user_id if owner else None,
        role=Role.OWNER,
    )


def _closeness(rng: np.random.Generator, brand_id: int) -> dict[tuple[int, int], float]:
    """Latent closeness of every current friendship, keyed by both directions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT customer_low_id, customer_high_id FROM customers_friendship"
            " WHERE brand_id = %s AND ended_at IS NULL",
            [brand_id],
        )
        pairs = cursor.fetchall()
    values = rng.beta(0.6, 4.0, size=len(pairs))
    closeness: dict[tuple[int, int], float] = {}
    for (a, b), value in zip(pairs, values, strict=True):
        closeness[(a, b)] = closeness[(b, a)] = float(value)
    return closeness


def _campaign(brand: Brand, start: datetime, advocates: list[Advocate]) -> tuple[Campaign, dict]:
    """An active campaign with the most connected advocates enrolled (samples shipped)."""
    campaign = campaign_create(
        brand_id=brand.pk,
        name=CAMPAIGN_NAME,
        goal="Trial orders of the autumn oolongs through advocates' honest reviews",
        starts_at=start,
        ends_at=timezone.now() + timedelta(days=21),
        budget=Decimal("30000"),
        products=["oolong-autumn-100g", "tasting-set"],
        brief="Free tasting set in exchange for an honest post; disclose it.",
        disclosure_label="#ad #gifted",
        advocate_fee=Decimal("200"),
    )
    campaign = campaign_update(campaign=campaign, status=CampaignStatus.ACTIVE)
    codes = {}
    for index, advocate in enumerate(advocates):
        shipped = start + timedelta(days=1 + index % 3)
        sample = {
            "product": "tasting-set",
            "cost": "45.00",
            "shipped_at": shipped,
            "received_at": shipped + timedelta(days=2),
        }
        enrollment = enrollment_create(campaign=campaign, advocate_id=advocate.pk, samples=[sample])
        codes[advocate.customer_id] = enrollment.code
    return campaign, codes


def _schedule(
    rng: np.random.Generator,
    senders: list[Customer],
    advocates: set[int],
    start: datetime,
    days: int,
) -> list[tuple[datetime, Customer, bool]]:
    """(time, author, commercial) of every post, in time order, between 09:00 and 21:00 of the
    brand's time zone (``start`` is a local midnight), outside the default quiet hours.

    Most senders keep commercial posts under half of their week's posts (the default commercial
    share); one in five ignores that and meets the fatigue rules' refusals.
    """
    plan = []
    for author in senders:
        brand_account = author.kind == CustomerKind.BRAND_ACCOUNT
        advocate = author.pk in advocates
        rate = 0.8 if brand_account else 0.25 if advocate else 0.1
        careless = rng.random() < 0.2
        recent: list[tuple[datetime, bool]] = []
        for day in range(days):
            hours = sorted(float(h) for h in rng.uniform(9, 21, size=rng.poisson(rate)))
            for hour in hours:
                at = start + timedelta(days=day, hours=hour)
                recent = [(t, c) for t, c in recent if t > at - timedelta(days=7)]
                wish = 0.5 if brand_account else 0.4 if advocate else 0.0
                commercial = bool(rng.random() < wish)
                share = (sum(c for _, c in recent) + 1) / (len(recent) + 1)
                if commercial and share > 0.5 and not careless:
                    commercial = False
                recent.append((at, commercial))
                plan.append((at, author, commercial))
    plan.sort(key=lambda item: (item[0], item[1].pk))
    return plan


def _responses(
    rng: np.random.Generator,
    post: Post,
    recipients: list[int],
    closeness: dict[tuple[int, int], float],
    now: datetime,
    codes: dict[int, str],
) -> tuple[list[dict], list[dict]]:
    """Events (and orders, for campaign posts) of the recipients of one published post."""
    author = post.author_id
    near = np.array([closeness.get((author, r), 0.02) for r in recipients])
    damp = 0.6 if post.commercial else 1.0
    draws = rng.random((6, len(recipients)))
    delays = rng.exponential(3.0, size=len(recipients))
    events, orders = [], []
    for i, recipient in enumerate(recipients):
        at = min(post.published_at + timedelta(hours=float(delays[i])), now)
        c = near[i]

        def event(kind: str, minutes: float = 0.0, _r=recipient, _at=at) -> None:
            events.append(
                {
                    "event_id": f"demo-{post.pk}-{_r}-{kind}",
                    "type": kind,
                    "actor": _r,
                    "post": post.pk,
                    "target": author,
                    "occurred_at": min(_at + timedelta(minutes=minutes), now).isoformat(),
                }
            )

        if draws[0, i] < 0.25 + 0.6 * c:
            event("view")
        if draws[1, i] < damp * (0.02 + 0.55 * c):
            event("like", 1)
        if draws[2, i] < damp * (0.004 + 0.25 * c):
            event("comment", 2)
        if draws[3, i] < damp * (0.002 + 0.08 * c):
            event("forward", 3)
        if post.commercial and draws[4, i] < 0.004 * (1 - c):
            event("mute_author", 4)
        code = codes.get(author)
        if code and post.campaign_id and draws[5, i] < 0.004 + 0.12 * c:
            # One order in five is a code entered at the till (store coupon), the rest online.
            how = "coupon_code" if rng.random() < 0.2 else "referral_code"
            orders.append(
                {
                    "order_id": f"demo-{post.pk}-{recipient}",
                    "buyer_id": recipient,
                    how: code,
                    "occurred_at": min(at + timedelta(hours=5), now),
                    "amount": Decimal(int(rng.choice([68, 128, 188, 388]))),
                }
            )
    return events, orders


def _messages(
    rng: np.random.Generator,
    closeness: dict[tuple[int, int], float],
    start: datetime,
    now: datetime,
) -> list[dict]:
    """Direct messages between close friends over the period (both directions, unequal)."""
    span = (now - start).total_seconds()
    events = []
    for (a, b), c in closeness.items():
        if c < 0.25:
            continue
        for n in range(rng.poisson(12 * c * c)):
            at = start + timedelta(seconds=float(rng.uniform(0, span)))
            events.append(
                {
                    "event_id": f"demo-msg-{a}-{b}-{n}",
                    "type": "message",
                    "actor": a,
                    "target": b,
                    "occurred_at": at.isoformat(),
                }
            )
    return events


def _ingest(caller: Caller, events: list[dict], chunk: int = 1000) -> int:
    created = 0
    for offset in range(0, len(events), chunk):
        results = interactions_ingest(caller=caller, events=events[offset : offset + chunk])
        created += sum(1 for r in results if r.status == "created")
    return created


def demo_activity_seed(
    *,
    brand: Brand,
    weeks: int = 4,
    seed: int = 0,
    max_advocates: int = 60,
    progress: Progress | None = None,
) -> ActivityResult:
    """Generate ``weeks`` of activity ending now for ``brand`` (see the module doc)."""
    say = progress or (lambda _message: None)
    result = ActivityResult()
    started = time.perf_counter()
    lap = started
    rng = np.random.default_rng(seed)
    caller = _staff_caller(brand)
    now = timezone.now()
    local = (now - timedelta(weeks=weeks)).astimezone(ZoneInfo(brand.time_zone))
    start = local.replace(hour=0, minute=0, second=0, microsecond=0)

    def phase(name: str) -> None:
        nonlocal lap
        result.phases[name] = time.perf_counter() - lap
        lap = time.perf_counter()
        say(f"  {name:<22} {result.phases[name]:6.2f}s")

    closeness = _closeness(rng, brand.pk)
    advocates = list(
        Advocate.objects.filter(brand=brand, status=AdvocateStatus.ACTIVE)
        .select_related("customer")
        .order_by("-customer__friend_count", "pk")[:max_advocates]
    )
    brand_accounts = list(
        Customer.objects.filter(brand=brand, kind=CustomerKind.BRAND_ACCOUNT).order_by("pk")
    )
    # Well-connected consumers who are not advocates post now and then (not commercially):
    # the engagement they earn is what ranks advocate candidates.
    consumers = list(
        Customer.objects.filter(
            brand=brand, kind=CustomerKind.CONSUMER, advocate__isnull=True
        ).order_by("-friend_count", "pk")[:max_advocates]
    )
    with transaction.atomic():
        campaign, codes = _campaign(brand, start, advocates[: max_advocates // 2])
    phase("campaign")

    senders = [*brand_accounts, *(a.customer for a in advocates), *consumers]
    advocate_ids = {a.customer_id for a in advocates}
    plan = _schedule(rng, senders, advocate_ids, start, weeks * 7)
    events: list[dict] = []
    orders: list[dict] = []
    consumer_ids = {consumer.pk for consumer in consumers}
    published: list[Post] = []
    for index, (at, author, commercial) in enumerate(plan):
        teas = TEAS[index % len(TEAS)]
        texts = BRAND_POSTS if author.kind == CustomerKind.BRAND_ACCOUNT else ADVOCATE_POSTS
        if not commercial and author.pk in consumer_ids:
            texts = CONSUMER_POSTS
        in_campaign = commercial and author.pk in codes
        # Staff author for brand accounts and advocates; consumers post as themselves.
        poster = caller
        if author.kind == CustomerKind.CONSUMER and author.pk not in advocate_ids:
            poster = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=author.pk)
        with transaction.atomic():
            post = post_create(
                caller=poster,
                author_id=author.pk,
                text=texts[index % len(texts)].format(tea=teas),
                commercial=commercial,
                campaign_id=campaign.pk if in_campaign else None,
            )
            answer = post_publish_as_of(caller=poster, post=post, at=at)
        result.posts += 1
        if answer["decision"] != PostStatus.PUBLISHED:
            result.deferred_or_rejected += 1
            continue
        result.published += 1
        result.deliveries += answer["delivered"]
        post.published_at = at
        published.append(post)

    # Every delivery of the new posts in one query (the brand had no posts before).
    recipients: dict[int, list[int]] = defaultdict(list)
    delivered = (
        Delivery.objects.filter(brand=brand, status=DeliveryStatus.DELIVERED)
        .order_by("post_id", "recipient_id")
        .values_list("post_id", "recipient_id")
    )
    for post_id, recipient_id in delivered.iterator(chunk_size=10_000):
        recipients[post_id].append(recipient_id)
    for post in published:
        post_events, post_orders = _responses(rng, post, recipients[post.pk], closeness, now, codes)
        events += post_events
        orders += post_orders
    phase("posts published")

    events += _messages(rng, closeness, start, now)
    events.sort(key=lambda e: e["occurred_at"])
    result.events = _ingest(caller, events)
    phase("events ingested")

    # The recompute claims every pending event of the brand (the queued scoring tasks then
    # find nothing left) and adds κ, friendship duration and mutual friends.
    report = ties_recompute(brand_id=brand.pk)
    result.ties = report.pairs
    counters_rebuild(brand_id=brand.pk)
    phase("ties scored")

    # Orders last, so each records the buyer–advocate tie strength the history built; their
    # purchase events are scored like any others.
    for order in orders:
        outcome = conversion_record(caller=caller, currency="CNY", **order)
        result.conversions += int(outcome.created)
    ties_score_unscored(older_than=timedelta(0))
    phase("orders attributed")
    result.seconds = time.perf_counter() - started
    return result
