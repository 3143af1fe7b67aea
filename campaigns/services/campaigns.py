"""Writes to campaigns and enrollments: create, edit (with the locks of an active campaign),
status transitions, enrolling advocates with a campaign referral code and free samples.

Once a campaign is **active**: ``starts_at``, ``currency``, ``products``, ``brief``,
``disclosure_label`` and ``advocate_fee`` are locked (posts and enrollments already rely on
them); ``budget`` may only go up; ``ends_at`` may move but not into the past; ``name`` and
``goal`` stay editable. An **ended** campaign is read-only.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from customers.models import Advocate, AdvocateStatus, Customer, CustomerKind, tier_for
from customers.services import REFERRAL_ALPHABET
from scrm.api.errors import Conflict
from scrm.tenancy.models import Brand

from ..models import (
    CURRENCY_REGEX,
    Campaign,
    CampaignStatus,
    Enrollment,
    SampleShipment,
)

TRANSITIONS: dict[str, set[str]] = {
    CampaignStatus.DRAFT: {CampaignStatus.ACTIVE},
    CampaignStatus.ACTIVE: {CampaignStatus.ENDED},
    CampaignStatus.ENDED: set(),
}
EDITABLE_FIELDS = {
    "name",
    "goal",
    "starts_at",
    "ends_at",
    "budget",
    "currency",
    "products",
    "brief",
    "disclosure_label",
    "advocate_fee",
}
LOCKED_WHEN_ACTIVE = (
    "starts_at",
    "currency",
    "products",
    "brief",
    "disclosure_label",
    "advocate_fee",
)
SAMPLE_FIELDS = {"product", "cost", "shipped_at", "received_at", "reviewed_at"}
PRODUCTS_MAX = 100
PRODUCT_MAX_CHARS = 120


def currency_clean(value: Any, field: str = "currency") -> str:
    """ISO 4217 alphabetic code: three letters, stored upper case."""
    if not isinstance(value, str) or not re.fullmatch(CURRENCY_REGEX, value.strip().upper()):
        raise ValidationError({field: ["An ISO 4217 currency code of three letters, e.g. CNY."]})
    return value.strip().upper()


def products_clean(products: Any) -> list[str]:
    if products is None:
        return []
    if not isinstance(products, list) or len(products) > PRODUCTS_MAX:
        raise ValidationError({"products": [f"A list of at most {PRODUCTS_MAX} SKUs or names."]})
    cleaned = []
    for index, item in enumerate(products):
        if not isinstance(item, str) or not item.strip() or len(item) > PRODUCT_MAX_CHARS:
            raise ValidationError(
                {"products": [f"products[{index}]: a SKU or name of 1 to 120 characters."]}
            )
        cleaned.append(item.strip())
    return cleaned


def _money_nonneg(value: Any, field: str) -> Decimal:
    if value is None or Decimal(value) < 0:
        raise ValidationError({field: ["Must be zero or more."]})
    return Decimal(value)


def _dates_check(starts_at: datetime, ends_at: datetime) -> None:
    if ends_at <= starts_at:
        raise ValidationError({"ends_at": ["Must be after starts_at."]})


@transaction.atomic
def campaign_create(
    *,
    brand_id: int,
    name: str,
    starts_at: datetime,
    ends_at: datetime,
    goal: str = "",
    budget: Decimal = Decimal(0),
    currency: str = "CNY",
    products: list | None = None,
    brief: str = "",
    disclosure_label: str = "",
    advocate_fee: Decimal = Decimal(0),
) -> Campaign:
    """A new campaign, always a draft."""
    _dates_check(starts_at, ends_at)
    return Campaign.objects.create(
        brand_id=brand_id,
        name=name,
        goal=goal,
        starts_at=starts_at,
        ends_at=ends_at,
        budget=_money_nonneg(budget, "budget"),
        currency=currency_clean(currency),
        products=products_clean(products),
        brief=brief,
        disclosure_label=disclosure_label,
        advocate_fee=_money_nonneg(advocate_fee, "advocate_fee"),
    )


def _transition(campaign: Campaign, status: str, now: datetime) -> None:
    if status == campaign.status:
        return
    if status not in TRANSITIONS.get(campaign.status, set()):
        raise Conflict(
            f"A {campaign.status} campaign cannot become {status} (draft → active → ended only)."
        )
    if status == CampaignStatus.ACTIVE:
        if campaign.ends_at <= now:
            raise Conflict("The campaign's ends_at has passed; move it before activating.")
        campaign.activated_at = now
    elif status == CampaignStatus.ENDED:
        campaign.ended_at = now
    campaign.status = status


@transaction.atomic
def campaign_update(*, campaign: Campaign, **fields: Any) -> Campaign:
    """Edit fields and/or move the status (``status=...``), under the locks of the status.

    Locked fields may be sent again with their current value (a no-op), so clients can PATCH
    whole objects.
    """
    unknown = set(fields) - EDITABLE_FIELDS - {"status"}
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    now = timezone.now()
    if campaign.status == CampaignStatus.ENDED:
        raise Conflict("An ended campaign cannot be changed.")
    if "currency" in fields:
        fields["currency"] = currency_clean(fields["currency"])
    if "products" in fields:
        fields["products"] = products_clean(fields["products"])
    for money in ("budget", "advocate_fee"):
        if money in fields:
            fields[money] = _money_nonneg(fields[money], money)
    changed = {
        name: value
        for name, value in fields.items()
        if name != "status" and getattr(campaign, name) != value
    }
    if campaign.status == CampaignStatus.ACTIVE:
        for name in LOCKED_WHEN_ACTIVE:
            if name in changed:
                raise Conflict(f"{name} is locked once the campaign is active.")
        if "budget" in changed and changed["budget"] < campaign.budget:
            raise Conflict("The budget of an active campaign can only go up.")
        if "ends_at" in changed and changed["ends_at"] <= now:
            raise Conflict("ends_at of an active campaign cannot move into the past.")
    for name, value in changed.items():
        setattr(campaign, name, value)
    _dates_check(campaign.starts_at, campaign.ends_at)
    if "status" in fields:
        _transition(campaign, fields["status"], now)
    campaign.save()
    return campaign


# --- Enrollments -------------------------------------------------------------------------------


def enrollment_code_generate() -> str:
    """A campaign referral code: ``ENROLLMENT_CODE_LENGTH`` characters of an alphabet without
    look-alikes (no 0/O, 1/I/L), drawn with ``secrets`` (31^12 ≈ 7.9·10^17 codes)."""
    length = settings.SCRM["ENROLLMENT_CODE_LENGTH"]
    return "".join(secrets.choice(REFERRAL_ALPHABET) for _ in range(length))


def _sample_rows(*, brand_id: int, enrollment: Enrollment, samples: list[dict]) -> None:
    rows = []
    for index, sample in enumerate(samples):
        unknown = set(sample) - SAMPLE_FIELDS
        if unknown or not sample.get("product"):
            raise ValidationError({f"samples[{index}]": ["A product and known fields only."]})
        _money_nonneg(sample.get("cost", 0), f"samples[{index}].cost")
        rows.append(SampleShipment(brand_id=brand_id, enrollment=enrollment, **sample))
    SampleShipment.objects.bulk_create(rows)


def sample_dates_check(sample: dict, index: int | None = None) -> None:
    """shipped ≤ received ≤ reviewed; a later step needs the earlier one."""
    where = "samples" if index is None else f"samples[{index}]"
    shipped, received, reviewed = (
        sample.get("shipped_at"),
        sample.get("received_at"),
        sample.get("reviewed_at"),
    )
    if received is not None and (shipped is None or received < shipped):
        raise ValidationError({where: ["received_at needs shipped_at and cannot precede it."]})
    if reviewed is not None and (received is None or reviewed < received):
        raise ValidationError({where: ["reviewed_at needs received_at and cannot precede it."]})


@transaction.atomic
def enrollment_create(
    *,
    campaign: Campaign,
    advocate_id: int,
    fee: Decimal | None = None,
    samples: list[dict] | None = None,
) -> Enrollment:
    """Enroll an active advocate of the campaign's brand, with a fresh campaign code.

    Paused, retired or candidate advocates are refused (409, naming the status and its
    reason); so is an ended campaign and a second enrollment of the same advocate.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status == CampaignStatus.ENDED:
        raise Conflict("An ended campaign takes no new enrollments.")
    advocate = (
        Advocate.objects.select_related("customer")
        .filter(brand_id=campaign.brand_id, pk=advocate_id)
        .first()
    )
    if advocate is None:
        raise ValidationError({"advocate": [f"No advocate {advocate_id} in this brand."]})
    if advocate.status != AdvocateStatus.ACTIVE:
        why = f": {advocate.status_reason}" if advocate.status_reason else ""
        raise Conflict(
            f"Advocate {advocate.pk} is {advocate.status}{why}; only active advocates enroll."
        )
    existing = Enrollment.objects.filter(campaign=campaign, advocate=advocate).first()
    if existing is not None:
        raise Conflict(f"Advocate {advocate.pk} is already enrolled (enrollment {existing.pk}).")
    for index, sample in enumerate(samples or []):
        sample_dates_check(sample, index)
    for _ in range(5):
        try:
            with transaction.atomic():
                enrollment = Enrollment.objects.create(
                    brand_id=campaign.brand_id,
                    campaign=campaign,
                    advocate=advocate,
                    code=enrollment_code_generate(),
                    fee=_money_nonneg(campaign.advocate_fee if fee is None else fee, "fee"),
                    tier=tier_for(advocate.customer.friend_count),
                )
            break
        except IntegrityError as exc:
            if "enrollment_campaign_advocate" in str(exc):
                raise Conflict(f"Advocate {advocate.pk} is already enrolled.") from None
            continue  # code collision: draw again
    else:
        raise Conflict("Could not allocate a unique referral code; try again.")
    _sample_rows(brand_id=campaign.brand_id, enrollment=enrollment, samples=samples or [])
    return enrollment


@transaction.atomic
def sample_update(*, sample: SampleShipment, **fields: Any) -> SampleShipment:
    """Mark a free sample received or reviewed (or correct its cost/dates)."""
    unknown = set(fields) - SAMPLE_FIELDS
    if unknown:
        raise ValidationError({name: ["Unknown field."] for name in sorted(unknown)})
    sample = SampleShipment.objects.select_for_update().get(pk=sample.pk)
    for name, value in fields.items():
        setattr(sample, name, value)
    sample_dates_check(
        {
            "shipped_at": sample.shipped_at,
            "received_at": sample.received_at,
            "reviewed_at": sample.reviewed_at,
        }
    )
    _money_nonneg(sample.cost, "cost")
    sample.save()
    return sample


# --- Posts linked to campaigns --------------------------------------------------------------------


def campaign_for_post(*, brand_id: int, campaign_id: int, author: Customer) -> Campaign:
    """The campaign a post may link to: of the brand, not ended, and the author enrolled in
    it (brand accounts may post for any campaign of their brand)."""
    campaign = Campaign.objects.filter(brand_id=brand_id, pk=campaign_id).first()
    if campaign is None:
        raise ValidationError({"campaign": [f"No campaign {campaign_id} in this brand."]})
    if campaign.status == CampaignStatus.ENDED:
        raise ValidationError({"campaign": [f"Campaign {campaign_id} has ended."]})
    if author.kind != CustomerKind.BRAND_ACCOUNT:
        enrolled = Enrollment.objects.filter(
            campaign_id=campaign.pk, advocate__customer_id=author.pk
        ).exists()
        if not enrolled:
            raise ValidationError(
                {"campaign": [f"The author is not enrolled in campaign {campaign_id}."]}
            )
    return campaign


def disclosure_label_for(*, brand_id: int, campaign: Campaign | None) -> str:
    """The label a commercial post carries: its campaign's, else the brand's."""
    if campaign is not None and campaign.disclosure_label:
        return campaign.disclosure_label
    return Brand.objects.values_list("disclosure_label", flat=True).get(pk=brand_id)
