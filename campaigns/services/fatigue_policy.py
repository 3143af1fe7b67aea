"""A brand's fatigue policy: read it (defaults until staff change it), change it (audited).

The stored JSON is the whole policy in ``FatiguePolicy.as_dict`` shape. A brand without a
row uses ``settings.SCRM_FATIGUE`` with the brand's own time zone; the row is created the
first time the policy is read through the API or changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from scrm.tenancy.models import Brand
from scrm.tenancy.services import Caller

from ..fatigue.rules import FatiguePolicy, PolicyError
from ..models import FatiguePolicyChange, FatiguePolicyRecord

# Keys the API answers beside the policy; ignored when a client sends them back.
READ_ONLY_KEYS = frozenset({"updated_at", "is_default"})


def policy_defaults(*, brand_id: int) -> FatiguePolicy:
    """Settings defaults, in the brand's time zone."""
    zone = Brand.objects.values_list("time_zone", flat=True).get(pk=brand_id)
    return FatiguePolicy.from_settings(time_zone=zone)


def _parse(data: Mapping[str, Any], *, base: FatiguePolicy) -> FatiguePolicy:
    try:
        return FatiguePolicy.from_dict(
            {k: v for k, v in data.items() if k not in READ_ONLY_KEYS}, base=base
        )
    except PolicyError as exc:
        raise ValidationError({name: [message] for name, message in exc.errors.items()}) from None


def fatigue_policy_for(*, brand_id: int) -> FatiguePolicy:
    """The brand's policy, in one query and without writing anything."""
    zone, stored = Brand.objects.values_list("time_zone", "fatigue_policy__policy").get(pk=brand_id)
    return policy_from_stored(time_zone=zone, stored=stored)


def policy_from_stored(*, time_zone: str, stored: Mapping[str, Any] | None) -> FatiguePolicy:
    """The policy a brand's stored row describes (the defaults in ``time_zone`` without one).

    Not validated again: every stored policy went through `fatigue_policy_update`, which
    validates it. A row that no longer parses (a field renamed in code) falls back to the
    defaults rather than publish without rules.
    """
    defaults = FatiguePolicy.from_settings(time_zone=time_zone)
    if stored is None:
        return defaults
    try:
        return FatiguePolicy.from_stored(stored, base=defaults)
    except PolicyError:
        return defaults


def fatigue_policy_of(*, brand: Brand) -> FatiguePolicy:
    """The policy of a loaded brand: no query when its row came with
    ``select_related("brand__fatigue_policy")``."""
    try:
        record = brand.fatigue_policy
    except FatiguePolicyRecord.DoesNotExist:
        record = None
    return policy_from_stored(
        time_zone=brand.time_zone, stored=record.policy if record is not None else None
    )


@transaction.atomic
def fatigue_policy_get_or_create(*, brand_id: int) -> FatiguePolicyRecord:
    record = FatiguePolicyRecord.objects.filter(brand_id=brand_id).first()
    if record is not None:
        return record
    policy = policy_defaults(brand_id=brand_id)
    record, _ = FatiguePolicyRecord.objects.get_or_create(
        brand_id=brand_id, defaults={"policy": policy.as_dict()}
    )
    return record


def _diff(old: dict[str, Any], new: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        key: {"old": old.get(key), "new": new.get(key)}
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    }


def caller_label(caller: Caller | None, user=None) -> str:
    if caller is None:
        return f"admin:{user.pk}" if user is not None else "system"
    if caller.is_customer:
        return f"customer:{caller.customer_id}"
    if caller.is_app:
        return f"app:{caller.app_key_id}"
    return f"staff:{caller.user_id}"


@transaction.atomic
def fatigue_policy_update(
    *,
    brand_id: int,
    data: Mapping[str, Any],
    partial: bool,
    caller: Caller | None = None,
    user=None,
) -> FatiguePolicyRecord:
    """Replace (``partial=False``: missing fields take the defaults) or patch the policy.

    Validates every field (400 naming each bad one), writes an audit row when anything
    changed, and rebuilds the brand's Redis counters for a changed window before it commits
    (`_counters_follow_window`).
    """
    if not isinstance(data, Mapping):
        raise ValidationError({"non_field_errors": ["Expected an object of policy fields."]})
    fatigue_policy_get_or_create(brand_id=brand_id)
    record = FatiguePolicyRecord.objects.select_for_update().get(brand_id=brand_id)
    defaults = policy_defaults(brand_id=brand_id)
    try:
        current = FatiguePolicy.from_dict(record.policy, base=defaults)
    except PolicyError:
        current = defaults
    new = _parse(data, base=current if partial else defaults)
    old_dict, new_dict = record.policy, new.as_dict()
    changes = _diff(old_dict, new_dict)
    if not changes:
        return record
    record.policy = new_dict
    record.save(update_fields=["policy", "updated_at"])
    user_id = (
        caller.user_id if caller is not None and caller.is_staff else getattr(user, "pk", None)
    )
    FatiguePolicyChange.objects.create(
        brand_id=brand_id,
        policy=record,
        changed_by_id=user_id,
        changed_by_label=caller_label(caller, user),
        changes=changes,
        old=old_dict,
        new=new_dict,
    )
    if "window_days" in changes:
        _counters_follow_window(brand_id=brand_id)
    return record


def _counters_follow_window(*, brand_id: int) -> None:
    """Rebuild the brand's Redis windows for the new window inside the policy's transaction,
    under the exclusive fatigue lock held to its commit: decisions wait for the new policy,
    and with Redis unreachable the change is refused whole (503, nothing saved) instead of
    saved with the counters still covering the old window. If another rebuild holds Redis's
    rebuild lock, the state is marked cold instead: the next decision rebuilds it."""
    from .fatigue_live import counters_for, counters_rebuild

    if counters_rebuild(brand_id=brand_id) is None:
        counters_for(brand_id=brand_id).invalidate()
