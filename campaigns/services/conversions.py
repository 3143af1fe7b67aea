"""Conversions: orders recorded once per order id, attributed to advocate, campaign and post.

Attribution sources, at most one per order:
- ``referral_code``: an enrollment code (→ that enrollment's campaign and advocate) or an
  advocate's own code (→ the advocate, and the campaign of their enrollment in an active
  campaign running at purchase time, the latest-started one if several);
- ``share_token``: a signed per-post share link (→ the post, its campaign, its author's
  advocate and enrollment);
- ``coupon_code``: a code entered at the till, resolved like a referral code, source
  ``store_coupon``;
- none: unattributed.
Fraud basics: an order whose buyer is the credited person (self-referral) or shares their
phone number (the advocate's own other account) is stored without credit and with the
reason; ``CONVERSION_BURST_COUNT`` orders of one buyer within ``CONVERSION_BURST_MINUTES``
are flagged for review. A credited order with a known buyer also enters the interaction log
as a ``purchase`` whose ``event_id`` derives from the order id (idempotent too).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from customers.models import Advocate, Customer
from interactions.models import Tie
from interactions.services import interactions_ingest
from scrm.api.errors import Conflict
from scrm.tenancy.services import Caller

from ..models import (
    CampaignStatus,
    Conversion,
    ConversionSource,
    Delivery,
    DeliveryStatus,
    Enrollment,
    Post,
    PostStatus,
)
from .campaigns import currency_clean

SHARE_LINK_SALT = "scrm.share-link"
ORDER_ID_MAX = 64
SELF_REFERRAL = "self_referral"
OWN_ACCOUNT = "advocate_own_account"


# --- Share links ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShareLink:
    token: str
    post_id: int
    sharer_id: int
    expires_at: datetime


def share_link_issue(*, caller: Caller, post: Post) -> ShareLink:
    """A signed link token for one published post, shared by its author.

    The author's customer token or staff (for the author) may ask; app keys and other
    customers may not. The token names brand, post and sharer and expires after
    ``SHARE_LINK_MAX_AGE_DAYS``.
    """
    if caller.is_customer and caller.customer_id != post.author_id:
        raise PermissionDenied("Only the post's author may share it.")
    if caller.is_app:
        raise PermissionDenied("App keys cannot issue share links.")
    if post.status != PostStatus.PUBLISHED:
        raise Conflict(f"A {post.status} post cannot be shared.")
    payload = {"b": post.brand_id, "p": post.pk, "s": post.author_id}
    token = signing.dumps(payload, salt=SHARE_LINK_SALT, compress=True)
    days = settings.SCRM["SHARE_LINK_MAX_AGE_DAYS"]
    return ShareLink(token, post.pk, post.author_id, timezone.now() + timedelta(days=days))


def share_link_read(*, brand_id: int, token: str) -> tuple[int, int]:
    """``(post_id, sharer_id)`` of a valid token of this brand, else a 400 on ``share_token``."""
    max_age = timedelta(days=settings.SCRM["SHARE_LINK_MAX_AGE_DAYS"])
    try:
        payload = signing.loads(token, salt=SHARE_LINK_SALT, max_age=max_age)
    except signing.SignatureExpired:
        raise ValidationError({"share_token": ["The share link has expired."]}) from None
    except signing.BadSignature:
        raise ValidationError({"share_token": ["Not a valid share link."]}) from None
    if not isinstance(payload, dict) or payload.get("b") != brand_id:
        raise ValidationError({"share_token": ["Not a valid share link."]})
    return int(payload["p"]), int(payload["s"])


# --- Reading tie strength ------------------------------------------------------------------------


def tie_strength(*, a: int, b: int) -> float:
    """Current undirected strength of the pair (0 when there is no tie row).

    Reads ``interactions_tie.strength``, which the scoring workers write on both directed
    rows of a pair.
    """
    value = Tie.objects.filter(source_id=a, target_id=b).values_list("strength", flat=True).first()
    return float(value or 0.0)


# --- Recording an order ---------------------------------------------------------------------


@dataclass
class ConversionResult:
    conversion: Conversion
    created: bool

    @property
    def status(self) -> str:
        return "created" if self.created else "duplicate"


@dataclass
class _Attribution:
    source: str = ConversionSource.NONE
    code: str = ""
    advocate: Advocate | None = None
    enrollment: Enrollment | None = None
    post: Post | None = None
    sharer_id: int | None = None
    person: Customer | None = None  # who gets the credit: advocate or post author

    @property
    def campaign_id(self) -> int | None:
        if self.enrollment is not None:
            return self.enrollment.campaign_id
        return self.post.campaign_id if self.post is not None else None


def purchase_event_id(order_id: str) -> str:
    """The interaction ``event_id`` of an order: readable when short, hashed when long."""
    event_id = f"order:{order_id}"
    if len(event_id) <= ORDER_ID_MAX:
        return event_id
    return "order#" + hashlib.sha256(order_id.encode()).hexdigest()[:58]


def _by_code(*, brand_id: int, code: str, field: str, when: datetime) -> _Attribution:
    code = code.strip().upper()
    enrollment = (
        Enrollment.objects.select_related("advocate__customer")
        .filter(brand_id=brand_id, code=code)
        .first()
    )
    if enrollment is not None:
        advocate = enrollment.advocate
    else:
        advocate = (
            Advocate.objects.select_related("customer")
            .filter(brand_id=brand_id, referral_code=code)
            .first()
        )
        if advocate is None:
            raise ValidationError({field: [f"Unknown code {code!r}."]})
        enrollment = (
            Enrollment.objects.filter(
                advocate=advocate,
                campaign__status=CampaignStatus.ACTIVE,
                campaign__starts_at__lte=when,
                campaign__ends_at__gt=when,
            )
            .order_by("-campaign__starts_at", "-pk")
            .first()
        )
    source = (
        ConversionSource.STORE_COUPON if field == "coupon_code" else ConversionSource.REFERRAL_CODE
    )
    return _Attribution(
        source=source,
        code=code,
        advocate=advocate,
        enrollment=enrollment,
        person=advocate.customer,
    )


def _by_share_link(*, brand_id: int, token: str) -> _Attribution:
    post_id, sharer_id = share_link_read(brand_id=brand_id, token=token)
    post = Post.objects.select_related("author").filter(brand_id=brand_id, pk=post_id).first()
    if post is None:
        raise ValidationError({"share_token": ["The shared post no longer exists."]})
    advocate = Advocate.objects.filter(customer_id=post.author_id).first()
    enrollment = None
    if advocate is not None and post.campaign_id is not None:
        enrollment = Enrollment.objects.filter(
            campaign_id=post.campaign_id, advocate=advocate
        ).first()
    return _Attribution(
        source=ConversionSource.SHARE_LINK,
        advocate=advocate,
        enrollment=enrollment,
        post=post,
        sharer_id=sharer_id,
        person=post.author,
    )


def _buyer(*, brand_id: int, buyer_id: int | None, external_id: str) -> tuple[Customer | None, str]:
    customer = None
    if buyer_id is not None:
        customer = Customer.objects.filter(brand_id=brand_id, pk=buyer_id).first()
        if customer is None:
            raise ValidationError({"buyer": [f"No customer {buyer_id} in this brand."]})
        if external_id and external_id != customer.external_id:
            raise ValidationError({"buyer_external_id": ["Does not match the buyer."]})
    elif external_id:
        customer = Customer.objects.filter(brand_id=brand_id, external_id=external_id).first()
    return customer, (customer.external_id if customer is not None else external_id)


def _refusal(*, attribution: _Attribution, buyer: Customer | None, buyer_key: str) -> str:
    """Why the credit is refused, or ``""``."""
    person = attribution.person
    if person is None:
        return ""
    if (buyer is not None and buyer.pk == person.pk) or (buyer_key == person.external_id):
        return SELF_REFERRAL
    if buyer is not None and buyer.phone and buyer.phone == person.phone:
        return OWN_ACCOUNT
    return ""


def _burst_flag(*, brand_id: int, buyer_key: str, when: datetime) -> str:
    """Serialise one buyer's orders (advisory lock) and flag the N-th within M minutes."""
    if not buyer_key:
        return ""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))",
            [f"conversion-buyer:{brand_id}:{buyer_key}"],
        )
    count = settings.SCRM["CONVERSION_BURST_COUNT"]
    minutes = settings.SCRM["CONVERSION_BURST_MINUTES"]
    earlier = Conversion.objects.filter(
        brand_id=brand_id,
        buyer_external_id=buyer_key,
        occurred_at__gt=when - timedelta(minutes=minutes),
        occurred_at__lte=when,
    ).count()
    if earlier + 1 >= count:
        return f"burst: {earlier + 1} orders by this buyer within {minutes} minutes"
    return ""


def _log_purchase(
    *, caller: Caller, conversion: Conversion, buyer: Customer, target: Customer
) -> str:
    """The purchase as an interaction (buyer → credited person); the event id, or ``""``."""
    post_id = conversion.post_id
    if post_id is not None:
        seen = Delivery.objects.filter(
            post_id=post_id,
            recipient_id=buyer.pk,
            status=DeliveryStatus.DELIVERED,
            post__status=PostStatus.PUBLISHED,
        ).exists()
        post_id = post_id if seen else None  # the log only takes posts the buyer was shown
    event = {
        "event_id": purchase_event_id(conversion.order_id),
        "type": "purchase",
        "actor": buyer.pk,
        "target": target.pk,
        "post": post_id,
        "occurred_at": conversion.occurred_at.isoformat(),
        "payload": {
            "order_id": conversion.order_id,
            "amount": str(conversion.amount),
            "currency": conversion.currency,
            "conversion": conversion.pk,
            "shared_post": conversion.post_id,
        },
    }
    (result,) = interactions_ingest(caller=caller, events=[event])
    return event["event_id"] if result.status in ("created", "duplicate") else ""


def _validate(
    *, amount: Any, currency: Any, discount: Any, occurred_at: datetime | None, now: datetime
) -> tuple[Decimal, str, Decimal, datetime]:
    if amount is None or Decimal(amount) <= 0:
        raise ValidationError({"amount": ["Must be greater than zero."]})
    if discount is None or Decimal(discount) < 0:
        raise ValidationError({"discount": ["Must be zero or more."]})
    currency = currency_clean(currency)
    occurred_at = occurred_at or now
    skew = timedelta(minutes=settings.SCRM["INGEST_FUTURE_SKEW_MINUTES"])
    if occurred_at > now + skew:
        raise ValidationError({"occurred_at": ["Lies too far in the future."]})
    if occurred_at < now - timedelta(days=settings.SCRM["CONVERSION_MAX_AGE_DAYS"]):
        raise ValidationError({"occurred_at": ["Lies too far in the past."]})
    return Decimal(amount), currency, Decimal(discount), occurred_at


@transaction.atomic
def conversion_record(
    *,
    caller: Caller,
    order_id: str,
    amount: Decimal,
    currency: str,
    buyer_id: int | None = None,
    buyer_external_id: str = "",
    referral_code: str = "",
    share_token: str = "",
    coupon_code: str = "",
    discount: Decimal = Decimal(0),
    occurred_at: datetime | None = None,
) -> ConversionResult:
    """Record an order once: a repeated ``order_id`` of the brand changes nothing and
    answers the stored conversion as a duplicate (also under concurrent repeats)."""
    brand_id = caller.brand_id
    existing = Conversion.objects.filter(brand_id=brand_id, order_id=order_id).first()
    if existing is not None:
        return ConversionResult(existing, created=False)
    now = timezone.now()
    amount, currency, discount, occurred_at = _validate(
        amount=amount, currency=currency, discount=discount, occurred_at=occurred_at, now=now
    )
    given = [name for name, value in (("referral_code", referral_code),
             ("share_token", share_token), ("coupon_code", coupon_code)) if value]  # fmt: skip
    if len(given) > 1:
        raise ValidationError({given[1]: [f"Give only one of {', '.join(given)}."]})
    buyer, buyer_key = _buyer(brand_id=brand_id, buyer_id=buyer_id, external_id=buyer_external_id)

    if referral_code or coupon_code:
        field = "referral_code" if referral_code else "coupon_code"
        attribution = _by_code(
            brand_id=brand_id, code=referral_code or coupon_code, field=field, when=occurred_at
        )
    elif share_token:
        attribution = _by_share_link(brand_id=brand_id, token=share_token)
    else:
        attribution = _Attribution()
    refusal = _refusal(attribution=attribution, buyer=buyer, buyer_key=buyer_key)
    credited = attribution.person is not None and not refusal
    strength = None
    if credited and buyer is not None:
        strength = tie_strength(a=buyer.pk, b=attribution.person.pk)
    flag = _burst_flag(brand_id=brand_id, buyer_key=buyer_key, when=occurred_at)

    conversion = Conversion(
        brand_id=brand_id,
        order_id=order_id,
        amount=amount,
        currency=currency,
        discount=discount,
        buyer=buyer,
        buyer_external_id=buyer_key,
        source=attribution.source,
        code=attribution.code,
        sharer_id=attribution.sharer_id if credited else None,
        advocate=attribution.advocate if credited else None,
        campaign_id=attribution.campaign_id if credited else None,
        enrollment=attribution.enrollment if credited else None,
        post=attribution.post if credited else None,
        tie_strength_at_purchase=strength,
        uncredited_reason=refusal,
        flagged_for_review=bool(flag),
        flag_reason=flag,
        occurred_at=occurred_at,
    )
    try:
        with transaction.atomic():
            conversion.save(force_insert=True)
    except IntegrityError as exc:
        if "conversion_brand_order" not in str(exc):
            raise
        # The same order recorded concurrently: the first one wins, this one is a duplicate.
        stored = Conversion.objects.get(brand_id=brand_id, order_id=order_id)
        return ConversionResult(stored, created=False)

    if credited and buyer is not None and buyer.pk != attribution.person.pk:
        event_id = _log_purchase(
            caller=caller, conversion=conversion, buyer=buyer, target=attribution.person
        )
        if event_id:
            conversion.interaction_event_id = event_id
            conversion.save(update_fields=["interaction_event_id"])
    return ConversionResult(conversion, created=True)


@transaction.atomic
def conversions_erase_buyer(*, brand_id: int, customer_id: int) -> int:
    """Erasure: the customer's orders keep amount, attribution and buyer (now a pseudonym) for
    the reports, and lose the buyer's external id."""
    return (
        Conversion.objects.filter(brand_id=brand_id, buyer_id=customer_id)
        .exclude(buyer_external_id="")
        .update(buyer_external_id="")
    )
