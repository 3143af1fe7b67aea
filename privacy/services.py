"""Erasure: requested through the API (staff managers, or the customer), carried out by the
``privacy.erase_customer`` task in one transaction under the brand's scoring lock."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from campaigns.services.conversions import conversions_erase_buyer
from campaigns.services.fatigue_live import counters_forget
from campaigns.services.posts import posts_erase_author
from customers.models import Customer, CustomerKind
from customers.services import customer_erase_personal
from interactions.services import interactions_anonymise, scoring_lock_brand, ties_forget
from scrm.api.errors import Conflict
from wecom.services.erasure import callbacks_erase_customer

from .audit import Actor, audit_record
from .models import OPEN_ERASURE, AuditAction, ErasureRequest, ErasureStatus

logger = logging.getLogger(__name__)


@transaction.atomic
def erasure_request(
    *, customer: Customer, actor: Actor, reason: str = ""
) -> tuple[ErasureRequest, bool]:
    """Queue the erasure of a customer. Idempotent: an open request, or the one that already
    erased the customer, is answered instead of a new one. Returns ``(request, created)``."""
    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    if customer.kind == CustomerKind.BRAND_ACCOUNT:
        raise Conflict("A brand account is the brand's own account, not a person: not erased.")
    existing = (
        ErasureRequest.objects.filter(customer=customer, status__in=OPEN_ERASURE).first()
        if customer.erased_at is None
        else ErasureRequest.objects.filter(customer=customer, status=ErasureStatus.DONE)
        .order_by("-pk")
        .first()
    )
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            request = ErasureRequest.objects.create(
                brand_id=customer.brand_id,
                customer=customer,
                requested_by_kind=actor.kind,
                requested_by_id=actor.user_id,
                requested_by_label=actor.label,
                reason=reason,
                progress={"phase": "queued"},
            )
    except IntegrityError:  # a concurrent request won the race
        return ErasureRequest.objects.get(customer=customer, status__in=OPEN_ERASURE), False
    audit_record(
        brand_id=customer.brand_id,
        action=AuditAction.ERASURE_REQUESTED,
        customer_id=customer.pk,
        actor=actor,
        details={"request": request.pk, "reason": reason},
    )
    queued_id = request.pk

    def queue() -> None:  # named: a failure (broker down) is logged by name
        _queue(queued_id)

    transaction.on_commit(queue, robust=True)
    return request, True


def _queue(request_id: int) -> None:
    from .tasks import erase_customer

    erase_customer.delay(request_id)


def _progress(request: ErasureRequest, **fields) -> None:
    ErasureRequest.objects.filter(pk=request.pk).update(**fields)


def erasure_run(*, request_id: int) -> ErasureRequest:
    """Carry out one erasure request. Idempotent (a done request is left as it is).

    The data changes are one transaction that first takes the brand's scoring lock
    exclusively (as a full recompute does): it waits for running scoring batches and a
    recompute, or raises OperationalError after ``SCORING_LOCK_TIMEOUT_MS`` (the task retries),
    and nothing is half-erased — either every step is committed with the request marked done,
    or none. Steps: the customer's personal fields and consents, the WeCom callbacks that
    name them, posts, orders' buyer ids, event payloads, ties (flags included), then the
    Redis fatigue windows."""
    request = ErasureRequest.objects.select_related("customer").get(pk=request_id)
    if request.status == ErasureStatus.DONE:
        return request
    _progress(
        request,
        status=ErasureStatus.RUNNING,
        attempts=request.attempts + 1,
        started_at=request.started_at or timezone.now(),
        progress={"phase": "waiting_for_lock"},
        error="",
    )
    brand_id, customer_id = request.brand_id, request.customer_id
    actor = Actor(
        kind=request.requested_by_kind,
        label=request.requested_by_label,
        user_id=request.requested_by_id,
    )
    with transaction.atomic():
        scoring_lock_brand(brand_id=brand_id)
        request = ErasureRequest.objects.select_for_update().get(pk=request_id)
        if request.status == ErasureStatus.DONE:  # a concurrent run finished it
            return request
        steps: dict[str, object] = {}
        known_as = Customer.objects.values_list("external_id", flat=True).get(pk=customer_id)
        steps["customer"] = customer_erase_personal(customer=request.customer, actor=actor)
        pseudonym = Customer.objects.values_list("external_id", flat=True).get(pk=customer_id)
        steps["wecom"] = callbacks_erase_customer(
            brand_id=brand_id, customer_id=customer_id, external_id=known_as, pseudonym=pseudonym
        )
        steps["posts"] = posts_erase_author(brand_id=brand_id, author_id=customer_id)
        steps["conversions"] = conversions_erase_buyer(brand_id=brand_id, customer_id=customer_id)
        steps["interactions"] = interactions_anonymise(brand_id=brand_id, customer_id=customer_id)
        steps["ties"] = ties_forget(brand_id=brand_id, customer_ids=[customer_id], drop_flags=True)
        steps["fatigue_keys"] = counters_forget(brand_id=brand_id, customer_id=customer_id)
        now = timezone.now()
        _progress(
            request,
            status=ErasureStatus.DONE,
            finished_at=now,
            progress={"phase": "done", "steps": steps},
        )
        audit_record(
            brand_id=brand_id,
            action=AuditAction.ERASURE_DONE,
            customer_id=customer_id,
            actor=actor,
            details={"request": request.pk, "steps": steps},
        )
    request.refresh_from_db()
    return request


def erasures_requeue(*, older_than_minutes: int, limit: int = 500) -> dict[str, int]:
    """The sweeper: queue again the erasure requests still ``queued`` this long after they
    were made (their task was lost: the broker was down at commit, or the message was
    dropped). Running the task twice is harmless (a done request is left as it is); a broker
    still down is logged and the request waits for the next sweep."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    ids = list(
        ErasureRequest.objects.filter(status=ErasureStatus.QUEUED, created_at__lt=cutoff)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    queued = failed = 0
    for request_id in ids:
        try:
            _queue(request_id)
        except Exception:  # the broker: every other request fails alike; try them all anyway
            logger.exception("erasure request %s could not be queued again", request_id)
            failed += 1
            continue
        ErasureRequest.objects.filter(pk=request_id, status=ErasureStatus.QUEUED).update(
            progress={"phase": "queued", "requeued_at": timezone.now().isoformat()}
        )
        queued += 1
    return {"requeued": queued, "failed": failed}


def erasure_failed(*, request_id: int, error: str) -> None:
    """The task gave up: the request says so (nothing was changed: the run is atomic)."""
    ErasureRequest.objects.filter(pk=request_id).exclude(status=ErasureStatus.DONE).update(
        status=ErasureStatus.FAILED, error=error[:255], progress={"phase": "failed"}
    )


def erasure_waiting(*, request_id: int, error: str) -> None:
    """A run could not take the scoring lock (a recompute runs): it will be retried."""
    ErasureRequest.objects.filter(pk=request_id, status=ErasureStatus.RUNNING).update(
        progress={"phase": "retrying", "why": error[:200]}
    )
