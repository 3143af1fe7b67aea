"""What each stored WeCom callback does to customers, friendships, the log and churn.

``callback_apply`` runs in the ``wecom.apply_callback`` task; it locks the stored callback and
applies it only while it is pending, so a re-delivered task changes nothing the second time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import APIException

from campaigns.models import Enrollment
from customers import services as customer_services
from customers.models import (
    Advocate,
    Customer,
    CustomerKind,
    Friendship,
    FriendshipSource,
    LifecycleStage,
    SourceChannel,
)
from customers.selectors import friendship_current
from interactions.services import interactions_ingest
from scrm.api.errors import Conflict
from scrm.tenancy.services import Caller, CallerKind

from ..models import (
    CallbackEvent,
    CallbackStatus,
    ChurnRecord,
    ContactChannel,
    ContactEndReason,
    WeComContact,
    WeComStaff,
)

logger = logging.getLogger(__name__)

CONTACT = "change_external_contact"
STAFF_EXTERNAL_ID_PREFIX = "wecom-staff:"
TRANSFER_SOURCE = "DELETE_BY_TRANSFER"


def _when(event: CallbackEvent) -> datetime:
    """The event's time (CreateTime), never later than now."""
    now = timezone.now()
    return min(event.created_at_wecom or event.received_at or now, now)


def _need(event: CallbackEvent, *names: str) -> None:
    missing = [name for name in names if not getattr(event, name)]
    if missing:
        raise ValidationError({name: ["Missing from the callback."] for name in missing})


def staff_account(*, brand_id: int, user_id: str) -> Customer:
    """The brand account of a WeCom UserID. An unmapped UserID gets a new brand account
    (``wecom-staff:<UserID>``) and a mapping, so no event of a new staff member is lost;
    staff may map it to another account later."""
    mapped = (
        WeComStaff.objects.filter(brand_id=brand_id, user_id=user_id)
        .select_related("brand_account")
        .first()
    )
    if mapped is not None:
        return mapped.brand_account
    external_id = f"{STAFF_EXTERNAL_ID_PREFIX}{user_id}"
    account, _ = _customer_get_or_create(
        brand_id=brand_id,
        external_id=external_id,
        display_name=user_id,
        kind=CustomerKind.BRAND_ACCOUNT,
        source_channel=SourceChannel.WECOM,
    )
    WeComStaff.objects.bulk_create(
        [WeComStaff(brand_id=brand_id, user_id=user_id, brand_account=account)],
        ignore_conflicts=True,
    )
    return WeComStaff.objects.get(brand_id=brand_id, user_id=user_id).brand_account


def customer_upsert(*, brand_id: int, external_user_id: str) -> tuple[Customer, bool]:
    """The consumer of a WeCom ExternalUserID, created (source channel wecom) if new."""
    return _customer_get_or_create(
        brand_id=brand_id,
        external_id=external_user_id,
        kind=CustomerKind.CONSUMER,
        source_channel=SourceChannel.WECOM,
    )


def _customer_get_or_create(*, brand_id: int, external_id: str, **fields) -> tuple[Customer, bool]:
    """Through ``customer_create``; a concurrent worker creating the same customer (one
    person adding two staff members at once) makes this one find it instead of failing."""
    customer = Customer.objects.filter(brand_id=brand_id, external_id=external_id).first()
    if customer is not None:
        return customer, False
    try:
        return customer_services.customer_create(
            brand_id=brand_id, external_id=external_id, **fields
        ), True
    except Conflict:  # created meanwhile (the insert waited for the other commit)
        return Customer.objects.get(brand_id=brand_id, external_id=external_id), False


def attribution_for(*, brand_id: int, state: str) -> dict:
    """What a contact's ``State`` credits: a contact-me channel code (and its campaign and
    advocate), else a campaign enrollment code (advocate + campaign), else an advocate's
    referral code. Empty when it matches nothing."""
    if not state:
        return {}
    channel = ContactChannel.objects.filter(brand_id=brand_id, state=state, is_active=True).first()
    if channel is not None:
        return {
            "channel": channel,
            "campaign_id": channel.campaign_id,
            "advocate_id": channel.advocate_id,
        }
    enrollment = Enrollment.objects.filter(brand_id=brand_id, code=state).first()
    if enrollment is not None:
        return {"campaign_id": enrollment.campaign_id, "advocate_id": enrollment.advocate_id}
    advocate = Advocate.objects.filter(brand_id=brand_id, referral_code=state).first()
    if advocate is not None:
        return {"advocate_id": advocate.pk}
    return {}


def _current_contact(account: Customer, customer: Customer) -> WeComContact | None:
    return (
        WeComContact.objects.select_for_update()
        .filter(brand_account=account, customer=customer, ended_at__isnull=True)
        .first()
    )


def _contact_add(event: CallbackEvent, *, half: bool) -> tuple[str, dict]:
    _need(event, "user_id", "external_user_id")
    brand_id, when = event.brand_id, _when(event)
    account = staff_account(brand_id=brand_id, user_id=event.user_id)
    customer, created = customer_upsert(brand_id=brand_id, external_user_id=event.external_user_id)
    if customer.kind != CustomerKind.CONSUMER:
        raise ValidationError({"ExternalUserID": ["Names a brand account, not a consumer."]})
    ended_since = (
        WeComContact.objects.filter(brand_account=account, customer=customer, ended_at__gte=when)
        .order_by("-ended_at")
        .first()
    )
    if ended_since is not None and _current_contact(account, customer) is None:
        # Out of order: the pair was ended at or after this add's time (WeCom's CreateTime has
        # one-second resolution, and workers apply events concurrently). Recorded only.
        return CallbackStatus.RECORDED, {
            "customer": customer.pk,
            "brand_account": account.pk,
            "superseded_by_end": ended_since.pk,
        }
    if customer.lifecycle_stage == LifecycleStage.CHURNED:  # came back
        customer_services.customer_update(
            customer=customer, lifecycle_stage=LifecycleStage.PROSPECT
        )
    friendship, befriended = customer_services.friendship_create(
        brand_id=brand_id,
        customer_id=customer.pk,
        friend_id=account.pk,
        since=when,
        source=FriendshipSource.WECOM,
    )
    contact = _current_contact(account, customer)
    credit = attribution_for(brand_id=brand_id, state=event.state)
    if contact is None:
        contact = WeComContact.objects.create(
            brand_id=brand_id,
            user_id=event.user_id,
            brand_account=account,
            customer=customer,
            half=half,
            state=event.state,
            added_at=when,
            **credit,
        )
    elif contact.half and not half:
        contact.half = False
        contact.save(update_fields=["half"])
    result = {
        "customer": customer.pk,
        "customer_created": created,
        "brand_account": account.pk,
        "friendship": friendship.pk,
        "friendship_created": befriended,
        "contact": contact.pk,
        "half": contact.half,
    }
    if credit:
        result["attribution"] = {
            "state": event.state,
            "channel": getattr(credit.get("channel"), "pk", None),
            "campaign": credit.get("campaign_id"),
            "advocate": credit.get("advocate_id"),
        }
    elif event.state:
        result["attribution"] = {"state": event.state, "matched": False}
    return CallbackStatus.APPLIED, result


def _contact_end(
    event: CallbackEvent, account: Customer, customer: Customer, reason: str, when: datetime
) -> int | None:
    contact = _current_contact(account, customer)
    if contact is None:
        # Its add is not known (yet): keep the end, so an add stamped before it that arrives
        # late is recognised as superseded instead of restoring the contact.
        contact = WeComContact.objects.create(
            brand_id=event.brand_id,
            user_id=event.user_id,
            brand_account=account,
            customer=customer,
            added_at=when,
            ended_at=when,
            end_reason=reason,
        )
        return contact.pk
    contact.ended_at, contact.end_reason = when, reason
    contact.save(update_fields=["ended_at", "end_reason"])
    return contact.pk


def _follow_deleted(event: CallbackEvent) -> tuple[str, dict]:
    """``del_follow_user``: the customer deleted the staff account — churn."""
    _need(event, "user_id", "external_user_id")
    brand_id, when = event.brand_id, _when(event)
    account = staff_account(brand_id=brand_id, user_id=event.user_id)
    customer, _ = customer_upsert(brand_id=brand_id, external_user_id=event.external_user_id)
    friendship = friendship_current(brand_id=brand_id, a=customer.pk, b=account.pk)
    friends_days = None
    if friendship is not None:  # a churn never predates the friendship (events out of order)
        when = max(when, friendship.since)
        friends_days = (when - friendship.since).days
    event_id = f"wecom-{event.dedupe_key[:40]}"
    caller = Caller(kind=CallerKind.APP, brand_id=brand_id)
    [ingested] = interactions_ingest(
        caller=caller,
        events=[
            {
                "event_id": event_id,
                "type": "unfriend",
                "actor": customer.pk,
                "target": account.pk,
                "occurred_at": when.isoformat(),
                "payload": {"source": "wecom", "change_type": event.change_type},
            }
        ],
    )
    if ingested.status == "rejected":
        raise ValidationError({"unfriend": [str(ingested.error)]})
    contact = _contact_end(event, account, customer, ContactEndReason.CHURN, when)
    churn = ChurnRecord.objects.create(
        brand_id=brand_id,
        customer=customer,
        brand_account=account,
        user_id=event.user_id,
        occurred_at=when,
        callback=event,
        interaction_event_id=event_id,
        friends_days=friends_days,
    )
    still_friends = (
        Friendship.objects.filter(
            brand_id=brand_id,
            ended_at__isnull=True,
            customer_low__kind=CustomerKind.BRAND_ACCOUNT,
            customer_high=customer,
        ).exists()
        or Friendship.objects.filter(
            brand_id=brand_id,
            ended_at__isnull=True,
            customer_high__kind=CustomerKind.BRAND_ACCOUNT,
            customer_low=customer,
        ).exists()
    )
    if not still_friends and customer.lifecycle_stage != LifecycleStage.CHURNED:
        customer.refresh_from_db()
        customer_services.customer_update(customer=customer, lifecycle_stage=LifecycleStage.CHURNED)
    return CallbackStatus.APPLIED, {
        "customer": customer.pk,
        "brand_account": account.pk,
        "churn": churn.pk,
        "interaction": ingested.status,
        "contact": contact,
        "lifecycle_stage": LifecycleStage.CHURNED if not still_friends else None,
    }


def _contact_deleted_by_staff(event: CallbackEvent) -> tuple[str, dict]:
    """``del_external_contact``: staff removed the customer; a transfer is not churn."""
    _need(event, "user_id", "external_user_id")
    brand_id, when = event.brand_id, _when(event)
    account = staff_account(brand_id=brand_id, user_id=event.user_id)
    customer, _ = customer_upsert(brand_id=brand_id, external_user_id=event.external_user_id)
    transfer = event.source == TRANSFER_SOURCE
    reason = ContactEndReason.TRANSFER if transfer else ContactEndReason.DELETED_BY_STAFF
    friendship = friendship_current(brand_id=brand_id, a=customer.pk, b=account.pk)
    if friendship is not None:
        when = max(when, friendship.since)
        customer_services.friendship_end(
            friendship=friendship, ended_by_id=account.pk, reason=reason, at=when
        )
    contact = _contact_end(event, account, customer, reason, when)
    return CallbackStatus.APPLIED, {
        "customer": customer.pk,
        "brand_account": account.pk,
        "friendship_ended": friendship.pk if friendship is not None else None,
        "contact": contact,
        "reason": reason,
        "churn": False,
    }


def _contact_edited(event: CallbackEvent) -> tuple[str, dict]:
    """``edit_external_contact``: the customer is refreshed (and their contact restored if
    the add was never received). Remarks and tags are not in the callback."""
    _need(event, "user_id", "external_user_id")
    when = _when(event)
    status, result = _contact_add(event, half=False)
    if "contact" not in result:  # superseded by a later end
        return status, result
    WeComContact.objects.filter(pk=result["contact"]).update(last_edited_at=when)
    customer = Customer.objects.get(pk=result["customer"])
    customer_services.customer_update(customer=customer)  # updated_at: refreshed now
    return status, {**result, "edited_at": when.isoformat()}


def _transfer_failed(event: CallbackEvent) -> tuple[str, dict]:
    fail_reason = event.payload.get("FailReason", "")
    return CallbackStatus.RECORDED, {
        "user_id": event.user_id,
        "external_user_id": event.external_user_id,
        "fail_reason": fail_reason if isinstance(fail_reason, str) else "",
    }


def _recorded(event: CallbackEvent) -> tuple[str, dict]:
    """Stored and visible (admin: WeCom callbacks); no effect on the graph."""
    keys = ("Id", "TagType", "ChatId", "UpdateDetail", "StrategyId")
    return CallbackStatus.RECORDED, {
        key: event.payload[key] for key in keys if key in event.payload
    }


HANDLERS: dict[tuple[str, str], Callable[[CallbackEvent], tuple[str, dict]]] = {
    (CONTACT, "add_external_contact"): lambda e: _contact_add(e, half=False),
    (CONTACT, "add_half_external_contact"): lambda e: _contact_add(e, half=True),
    (CONTACT, "del_follow_user"): _follow_deleted,
    (CONTACT, "del_external_contact"): _contact_deleted_by_staff,
    (CONTACT, "edit_external_contact"): _contact_edited,
    (CONTACT, "transfer_fail"): _transfer_failed,
}
RECORDED_EVENTS = frozenset({"change_external_tag", "change_external_chat", CONTACT})


@transaction.atomic
def callback_apply(*, callback_id: int) -> CallbackEvent | None:
    """Apply one stored callback once: pending → applied | recorded | failed."""
    event = CallbackEvent.objects.select_for_update().filter(pk=callback_id).first()
    if event is None or event.status != CallbackStatus.PENDING:
        return event
    handler = HANDLERS.get((event.event, event.change_type))
    try:
        with transaction.atomic():
            if handler is not None:
                status, result = handler(event)
            elif event.event in RECORDED_EVENTS:
                status, result = _recorded(event)
            else:
                status, result = CallbackStatus.RECORDED, {"note": "Unknown event; stored only."}
    except (ValidationError, APIException) as exc:  # bad content: keep it visible, do not retry
        messages = getattr(exc, "message_dict", None) or getattr(exc, "detail", None) or str(exc)
        logger.warning("wecom callback %s failed: %s", event.pk, messages)
        status, result, event.error = CallbackStatus.FAILED, {}, str(messages)[:2000]
    event.status, event.result, event.applied_at = status, result, timezone.now()
    event.save(update_fields=["status", "result", "applied_at", "error"])
    return event


def callbacks_pending_ids(*, older_than_seconds: int, limit: int) -> list[int]:
    """Callbacks still pending after ``older_than_seconds`` (a lost task), oldest first."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        CallbackEvent.objects.filter(status=CallbackStatus.PENDING, received_at__lt=cutoff)
        .order_by("received_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )


def callbacks_apply_pending(*, older_than_seconds: int, limit: int = 1000) -> int:
    """The sweeper: apply callbacks a lost or killed task left pending (each one atomic)."""
    applied = 0
    for callback_id in callbacks_pending_ids(older_than_seconds=older_than_seconds, limit=limit):
        callback_apply(callback_id=callback_id)
        applied += 1
    return applied
