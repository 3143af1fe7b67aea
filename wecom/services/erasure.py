"""Erasure, the WeCom connector's part: the stored callbacks of an erased customer keep what
counts (event, change type, times, status, outcome) and lose what identifies them."""

from __future__ import annotations

from django.db.models import Q
from django.utils import timezone

from ..models import CallbackEvent, CallbackStatus, ChurnRecord

# Decrypted callback fields kept in an erased customer's payload: the event's kind, times
# and the brand's own identifiers (corp, staff UserID, channel code, WeCom's source and
# failure reason codes). ExternalUserID becomes the pseudonym; every other field is dropped.
KEPT_PAYLOAD_FIELDS = frozenset(
    {
        "ToUserName",
        "FromUserName",
        "CreateTime",
        "MsgType",
        "Event",
        "ChangeType",
        "UserID",
        "State",
        "Source",
        "FailReason",
    }
)
ERASED_SKIP = "customer erased before the callback was applied"


def _pseudonymised(value, old: str, pseudonym: str):
    if isinstance(value, str):
        return value.replace(old, pseudonym) if old else value
    if isinstance(value, dict):
        return {k: _pseudonymised(v, old, pseudonym) for k, v in value.items()}
    if isinstance(value, list):
        return [_pseudonymised(v, old, pseudonym) for v in value]
    return value


def callbacks_erase_customer(
    *, brand_id: int, customer_id: int, external_id: str, pseudonym: str
) -> dict[str, int]:
    """Pseudonymise the stored callbacks of a customer: those naming their ExternalUserID
    (``external_id``, the customer's external id before erasure), those whose outcome names
    the customer, and those behind their churn records. The external user id becomes the
    customer's pseudonym, the payload keeps only ``KEPT_PAYLOAD_FIELDS`` and the outcome and
    error name the pseudonym. A callback still pending is not applied any more (it would
    bring the person back): it is marked recorded, with the reason. The dedupe key (a
    one-way hash) stays, so WeCom's re-deliveries of these callbacks are still counted,
    never applied. Runs inside the erasure's transaction."""
    match = Q(result__customer=customer_id) | Q(
        pk__in=ChurnRecord.objects.filter(customer_id=customer_id, callback__isnull=False).values(
            "callback_id"
        )
    )
    if external_id:
        match |= Q(external_user_id=external_id)
    rows = list(
        CallbackEvent.objects.select_for_update().filter(match, brand_id=brand_id).order_by("pk")
    )
    now = timezone.now()
    skipped = 0
    for row in rows:
        payload = {k: v for k, v in row.payload.items() if k in KEPT_PAYLOAD_FIELDS}
        if "ExternalUserID" in row.payload:
            payload["ExternalUserID"] = pseudonym
        payload["erased"] = True
        row.payload = payload
        row.external_user_id = pseudonym
        row.result = _pseudonymised(row.result, external_id, pseudonym)
        row.error = _pseudonymised(row.error, external_id, pseudonym)
        if row.status == CallbackStatus.PENDING:
            row.status = CallbackStatus.RECORDED
            row.applied_at = now
            row.result = {"customer": customer_id, "skipped": ERASED_SKIP}
            skipped += 1
    CallbackEvent.objects.bulk_update(
        rows, ["payload", "external_user_id", "result", "error", "status", "applied_at"]
    )
    return {"callbacks": len(rows), "pending_not_applied": skipped}
