"""Every write to customers, friendships and advocates."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from privacy.audit import Actor, AuditAction, audit_record, audit_record_many
from scrm.api.errors import Conflict

from .models import (
    CONSENT_FIELDS,
    Advocate,
    AdvocateStatus,
    ConsentPurpose,
    ConsentRecord,
    ConsentSource,
    Customer,
    CustomerKind,
    Friendship,
    FriendshipSource,
    tier_for,
)

CUSTOMER_FIELDS = (
    "external_id",
    "display_name",
    "kind",
    "phone",
    "tags",
    "lifecycle_stage",
    "source_channel",
    "marketing_consent",
)
# Unambiguous upper-case alphabet for referral codes (no 0/O, 1/I/L).
REFERRAL_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
REFERRAL_CODE_LENGTH = 10


def phone_normalize(raw: str) -> str:
    """Return E.164 (``+8613812345678``) or raise ValidationError naming the phone."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        number = phonenumbers.parse(raw, settings.SCRM["PHONE_DEFAULT_REGION"])
    except phonenumbers.NumberParseException:
        raise ValidationError({"phone": [f"{raw!r} is not a phone number."]}) from None
    if not phonenumbers.is_possible_number(number):
        raise ValidationError({"phone": [f"{raw!r} is not a possible phone number."]})
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def tags_normalize(tags: Iterable[str]) -> list[str]:
    """Trimmed, de-duplicated, order kept."""
    seen: dict[str, None] = {}
    for tag in tags or []:
        tag = str(tag).strip()
        if tag:
            seen.setdefault(tag[:40], None)
    return list(seen)


@transaction.atomic
def customer_create(
    *,
    brand_id: int,
    external_id: str,
    actor: Actor | None = None,
    consent_source: str = ConsentSource.API,
    **fields,
) -> Customer:
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    if "phone" in fields:
        fields["phone"] = phone_normalize(fields["phone"])
    if "tags" in fields:
        fields["tags"] = tags_normalize(fields["tags"])
    if "marketing_consent" in fields:
        fields["consent_updated_at"] = timezone.now()
    try:
        with transaction.atomic():
            customer = Customer.objects.create(brand_id=brand_id, external_id=external_id, **fields)
    except IntegrityError:
        message = f"A customer with external_id {external_id!r} already exists in this brand."
        raise Conflict(message, details={"external_id": [message]}) from None
    if "marketing_consent" in fields:
        _consent_history_add(
            customer=customer,
            purpose=ConsentPurpose.COMMERCIAL_POSTS,
            granted=fields["marketing_consent"],
            source=consent_source,
            actor=actor,
        )
    return customer


@transaction.atomic
def customer_update(
    *,
    customer: Customer,
    actor: Actor | None = None,
    consent_source: str = ConsentSource.API,
    **fields,
) -> Customer:
    unknown = set(fields) - set(CUSTOMER_FIELDS)
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    if "phone" in fields:
        fields["phone"] = phone_normalize(fields["phone"])
    if "tags" in fields:
        fields["tags"] = tags_normalize(fields["tags"])
    if "kind" in fields and fields["kind"] != customer.kind and hasattr(customer, "advocate"):
        raise ValidationError({"kind": ["An advocate must stay a consumer."]})
    if customer.erased_at is not None:
        raise Conflict("This customer's personal data was erased; the record cannot change.")
    consent = fields.pop("marketing_consent", None)
    for name, value in fields.items():
        setattr(customer, name, value)
    try:
        with transaction.atomic():
            customer.save()
    except IntegrityError:
        message = (
            f"A customer with external_id {customer.external_id!r} already exists in this brand."
        )
        raise Conflict(message, details={"external_id": [message]}) from None
    if consent is not None and consent != customer.marketing_consent:
        customer_consent_set(
            customer=customer,
            purpose=ConsentPurpose.COMMERCIAL_POSTS,
            granted=consent,
            source=consent_source,
            actor=actor,
        )
        customer.refresh_from_db()
    return customer


# --- Consent per purpose ---------------------------------------------------------------------


def _consent_history_add(
    *,
    customer: Customer,
    purpose: str,
    granted: bool,
    source: str,
    actor: Actor | None,
    text_version: str = "",
    at: datetime | None = None,
) -> ConsentRecord:
    actor = actor or Actor.system()
    record = ConsentRecord.objects.create(
        brand_id=customer.brand_id,
        customer=customer,
        purpose=purpose,
        granted=granted,
        source=source,
        text_version=text_version,
        recorded_at=at or timezone.now(),
        recorded_by_id=actor.user_id,
        recorded_by_label=actor.label,
    )
    audit_record(
        brand_id=customer.brand_id,
        action=AuditAction.CONSENT_CHANGE,
        customer_id=customer.pk,
        actor=actor,
        details={
            "purpose": purpose,
            "granted": granted,
            "source": source,
            "text_version": text_version,
            "record": record.pk,
        },
    )
    return record


@transaction.atomic
def consents_record_imported(*, brand_id: int, changes: dict[str, bool], actor: Actor) -> int:
    """CSV import: the commercial-posts consent of these customers (by external id) changed;
    one history row and one audit entry each, written in bulk."""
    ids = dict(
        Customer.objects.filter(brand_id=brand_id, external_id__in=list(changes)).values_list(
            "external_id", "pk"
        )
    )
    now = timezone.now()
    records = ConsentRecord.objects.bulk_create(
        ConsentRecord(
            brand_id=brand_id,
            customer_id=ids[external_id],
            purpose=ConsentPurpose.COMMERCIAL_POSTS,
            granted=granted,
            source=ConsentSource.IMPORT,
            recorded_at=now,
            recorded_by_id=actor.user_id,
            recorded_by_label=actor.label,
        )
        for external_id, granted in changes.items()
        if external_id in ids
    )
    audit_record_many(
        brand_id=brand_id,
        action=AuditAction.CONSENT_CHANGE,
        actor=actor,
        entries=[
            (
                record.customer_id,
                {
                    "purpose": record.purpose,
                    "granted": record.granted,
                    "source": record.source,
                    "record": record.pk,
                },
            )
            for record in records
        ],
    )
    return len(records)


@transaction.atomic
def customer_consent_set(
    *,
    customer: Customer,
    purpose: str,
    granted: bool,
    source: str,
    text_version: str = "",
    at: datetime | None = None,
    actor: Actor | None = None,
) -> ConsentRecord:
    """Record a grant or withdrawal of one purpose (history + current state + audit).

    Withdrawing profiling also removes the customer's tie scores (under the brand's scoring
    lock, so no scoring batch writes them back) and the scoring skips their pairs from now on.
    """
    if purpose not in CONSENT_FIELDS:
        raise ValidationError({"purpose": [f"Must be one of: {', '.join(CONSENT_FIELDS)}."]})
    if source not in ConsentSource.values:
        raise ValidationError({"source": [f"Must be one of: {', '.join(ConsentSource.values)}."]})
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.erased_at is not None and source != ConsentSource.ERASURE:
        raise Conflict("This customer's personal data was erased; consent cannot change.")
    now = timezone.now()
    if at is not None and at > now + timedelta(minutes=5):
        raise ValidationError({"recorded_at": ["Cannot lie in the future."]})
    column = CONSENT_FIELDS[purpose]
    Customer.objects.filter(pk=customer.pk).update(**{column: granted, "consent_updated_at": now})
    record = _consent_history_add(
        customer=customer,
        purpose=purpose,
        granted=granted,
        source=source,
        actor=actor,
        text_version=text_version,
        at=at,
    )
    if purpose == ConsentPurpose.PROFILING and not granted:
        from interactions.services import ties_forget

        ties_forget(brand_id=customer.brand_id, customer_ids=[customer.pk])
    return record


@transaction.atomic
def customer_delete(*, customer: Customer) -> None:
    """Erase a customer (personal-data removal). Friends' counts drop with the edges."""
    neighbours = list(
        Friendship.objects.filter(customer_low=customer, ended_at__isnull=True).values_list(
            "customer_high_id", flat=True
        )
    ) + list(
        Friendship.objects.filter(customer_high=customer, ended_at__isnull=True).values_list(
            "customer_low_id", flat=True
        )
    )
    Customer.objects.filter(pk__in=neighbours).update(friend_count=F("friend_count") - 1)
    customer.delete()


# --- Friendships -----------------------------------------------------------------------------


def _ordered(a: int, b: int) -> tuple[int, int]:
    return (a, b) if a < b else (b, a)


def _lock_customers(brand_id: int, ids: Iterable[int]) -> dict[int, Customer]:
    """Lock the rows in a fixed order (by pk) so concurrent edge writes cannot deadlock."""
    rows = (
        Customer.objects.select_for_update()
        .filter(brand_id=brand_id, pk__in=set(ids))
        .order_by("pk")
    )
    return {row.pk: row for row in rows}


@transaction.atomic
def friendship_create(
    *,
    brand_id: int,
    customer_id: int,
    friend_id: int,
    since: datetime | None = None,
    source: str = FriendshipSource.API,
) -> tuple[Friendship, bool]:
    """Befriend two customers of one brand. Idempotent: A–B equals B–A.

    Returns ``(friendship, created)``; an existing current edge is returned unchanged.
    """
    if customer_id == friend_id:
        raise ValidationError({"friend": ["A customer cannot befriend themselves."]})
    locked = _lock_customers(brand_id, (customer_id, friend_id))
    for field, pk in (("customer", customer_id), ("friend", friend_id)):
        if pk not in locked:
            raise ValidationError({field: [f"No customer {pk} in this brand."]})
    low, high = _ordered(customer_id, friend_id)
    existing = Friendship.objects.filter(
        customer_low_id=low, customer_high_id=high, ended_at__isnull=True
    ).first()
    if existing:
        return existing, False
    friendship = Friendship.objects.create(
        brand_id=brand_id,
        customer_low_id=low,
        customer_high_id=high,
        since=since or timezone.now(),
        source=source,
    )
    Customer.objects.filter(pk__in=(low, high)).update(friend_count=F("friend_count") + 1)
    _advocate_tiers_follow({pk: row.friend_count + 1 for pk, row in locked.items()})
    return friendship, True


@transaction.atomic
def friendship_end(
    *,
    friendship: Friendship,
    ended_by_id: int | None = None,
    reason: str = "unfriend",
    at: datetime | None = None,
) -> Friendship:
    """Record the end of a friendship (never erase it). Ending twice changes nothing."""
    locked = _lock_customers(
        friendship.brand_id, (friendship.customer_low_id, friendship.customer_high_id)
    )
    friendship = Friendship.objects.select_for_update().get(pk=friendship.pk)
    if friendship.ended_at is not None:
        return friendship
    if ended_by_id is not None and ended_by_id not in locked:
        raise ValidationError({"ended_by": ["Must be one of the two friends."]})
    friendship.ended_at = at or timezone.now()
    friendship.ended_by_id = ended_by_id
    friendship.end_reason = reason
    friendship.save(update_fields=["ended_at", "ended_by", "end_reason"])
    Customer.objects.filter(pk__in=locked).update(friend_count=F("friend_count") - 1)
    _advocate_tiers_follow({pk: row.friend_count - 1 for pk, row in locked.items()})
    return friendship


def _advocate_tiers_follow(friend_counts: dict[int, int]) -> None:
    """Re-tier the advocates among these customers from their new (locked) friend counts.

    One UPDATE per distinct tier, touching only rows whose tier changes; non-advocates match
    nothing.
    """
    by_tier: dict[str, list[int]] = {}
    for customer_id, count in friend_counts.items():
        by_tier.setdefault(tier_for(count), []).append(customer_id)
    for tier, customer_ids in by_tier.items():
        Advocate.objects.filter(customer_id__in=customer_ids).exclude(tier=tier).update(tier=tier)


def customers_recount_friends(*, brand_id: int) -> int:
    """Recompute every ``friend_count`` of a brand in one statement (after bulk loads)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            UPDATE customers_customer AS c
               SET friend_count = COALESCE(n.cnt, 0)
              FROM customers_customer AS c2
              LEFT JOIN (
                    SELECT id, COUNT(*) AS cnt FROM (
                        SELECT customer_low_id AS id FROM customers_friendship
                         WHERE brand_id = %(brand)s AND ended_at IS NULL
                        UNION ALL
                        SELECT customer_high_id FROM customers_friendship
                         WHERE brand_id = %(brand)s AND ended_at IS NULL
                    ) AS ends GROUP BY id
              ) AS n ON n.id = c2.id
             WHERE c.id = c2.id AND c.brand_id = %(brand)s
               AND c.friend_count IS DISTINCT FROM COALESCE(n.cnt, 0)
            """,
            {"brand": brand_id},
        )
        return cursor.rowcount


# --- Advocates -------------------------------------------------------------------------------


def referral_code_generate() -> str:
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(REFERRAL_CODE_LENGTH))


@transaction.atomic
def advocate_promote(*, brand_id: int, customer_id: int, notes: str = "") -> Advocate:
    """Make a consumer an active KOC with a tier from their friend count and a unique code."""
    customer = (
        Customer.objects.select_for_update().filter(brand_id=brand_id, pk=customer_id).first()
    )
    if customer is None:
        raise ValidationError({"customer": [f"No customer {customer_id} in this brand."]})
    if customer.kind != CustomerKind.CONSUMER:
        raise ValidationError({"customer": ["Only consumers can become advocates."]})
    existing = Advocate.objects.filter(customer=customer).first()
    if existing is not None:
        if existing.status == AdvocateStatus.RETIRED:
            raise Conflict("This customer is a retired advocate; reactivate them instead.")
        raise Conflict(f"Customer {customer_id} is already an advocate (id {existing.pk}).")
    for _ in range(5):
        try:
            with transaction.atomic():
                return Advocate.objects.create(
                    brand_id=brand_id,
                    customer=customer,
                    status=AdvocateStatus.ACTIVE,
                    tier=tier_for(customer.friend_count),
                    referral_code=referral_code_generate(),
                    status_changed_at=timezone.now(),
                    notes=notes,
                )
        except IntegrityError:
            continue  # referral code collision (31^10 space): draw again
    raise Conflict("Could not allocate a unique referral code; try again.")


ADVOCATE_TRANSITIONS: dict[str, set[str]] = {
    AdvocateStatus.CANDIDATE: {AdvocateStatus.ACTIVE, AdvocateStatus.RETIRED},
    AdvocateStatus.ACTIVE: {AdvocateStatus.PAUSED, AdvocateStatus.RETIRED},
    AdvocateStatus.PAUSED: {AdvocateStatus.ACTIVE, AdvocateStatus.RETIRED},
    AdvocateStatus.RETIRED: {AdvocateStatus.ACTIVE},
}


@transaction.atomic
def advocate_set_status(*, advocate: Advocate, status: str, reason: str = "") -> Advocate:
    """Pause, resume, retire or reactivate an advocate, keeping the reason staff will see."""
    advocate = Advocate.objects.select_for_update().get(pk=advocate.pk)
    if status == advocate.status:
        return advocate
    if status not in ADVOCATE_TRANSITIONS.get(advocate.status, set()):
        raise ValidationError(
            {"status": [f"An advocate cannot go from {advocate.status} to {status}."]}
        )
    advocate.status = status
    advocate.status_reason = reason
    advocate.status_changed_at = timezone.now()
    advocate.save(update_fields=["status", "status_reason", "status_changed_at"])
    return advocate


@transaction.atomic
def advocate_update_notes(*, advocate: Advocate, notes: str) -> Advocate:
    advocate.notes = notes
    advocate.save(update_fields=["notes"])
    return advocate


def advocates_refresh_tiers(*, brand_id: int) -> int:
    """Set every advocate's tier from the current friend count, in one statement per tier."""
    micro = settings.SCRM["TIER_MICRO_MIN_FRIENDS"]
    macro = settings.SCRM["TIER_MACRO_MIN_FRIENDS"]
    base = Advocate.objects.filter(brand_id=brand_id)
    changed = (
        base.filter(customer__friend_count__gte=macro).exclude(tier="macro").update(tier="macro")
    )
    changed += (
        base.filter(customer__friend_count__gte=micro, customer__friend_count__lt=macro)
        .exclude(tier="micro")
        .update(tier="micro")
    )
    changed += (
        base.filter(customer__friend_count__lt=micro).exclude(tier="nano").update(tier="nano")
    )
    return changed


# --- Erasure ---------------------------------------------------------------------------------


@transaction.atomic
def customer_erase_personal(*, customer: Customer, actor: Actor) -> dict[str, int]:
    """Erasure, the customer's part: the row stays as a pseudonym (other rows and the reports
    refer to it) with every personal field removed, every purpose withdrawn (recorded in the
    consent history), current friendships ended (reason ``erased``) and an advocate retired.
    Idempotent: an erased customer is left as it is."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.erased_at is not None:
        return {"already_erased": 1}
    now = timezone.now()
    ended = 0
    for friendship in Friendship.objects.filter(
        Q(customer_low=customer) | Q(customer_high=customer), ended_at__isnull=True
    ).order_by("pk"):
        friendship_end(friendship=friendship, reason="erased", at=now)
        ended += 1
    customer.refresh_from_db()
    withdrawn = 0
    for purpose, column in CONSENT_FIELDS.items():
        if getattr(customer, column):
            _consent_history_add(
                customer=customer,
                purpose=purpose,
                granted=False,
                source=ConsentSource.ERASURE,
                actor=actor,
                at=now,
            )
            withdrawn += 1
    Customer.objects.filter(pk=customer.pk).update(
        external_id=f"erased-{secrets.token_hex(12)}",
        display_name="",
        phone="",
        tags=[],
        source_channel="other",
        **dict.fromkeys(CONSENT_FIELDS.values(), False),
        consent_updated_at=now,
        erased_at=now,
        updated_at=now,
    )
    advocates = Advocate.objects.filter(customer=customer).update(
        status=AdvocateStatus.RETIRED, status_reason="erased", status_changed_at=now, notes=""
    )
    return {"friendships_ended": ended, "consents_withdrawn": withdrawn, "advocate": advocates}
