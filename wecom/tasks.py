"""Celery tasks of the WeCom connector (``default`` queue)."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .services.events import callback_apply, callbacks_apply_pending


@shared_task(
    name="wecom.apply_callback",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=2,
    retry_backoff_max=60,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=30,
    time_limit=60,
)
def apply_callback(callback_id: int) -> str | None:
    """Apply one stored callback (idempotent: a re-delivered task finds it applied)."""
    event = callback_apply(callback_id=callback_id)
    return event.status if event is not None else None


@shared_task(
    name="wecom.apply_pending",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
)
def apply_pending(older_than_seconds: int | None = None) -> int:
    """Sweeper (beat): apply callbacks whose task was lost (broker down at commit, …)."""
    older = older_than_seconds
    if older is None:
        older = settings.SCRM["WECOM_SWEEP_AFTER_SECONDS"]
    return callbacks_apply_pending(older_than_seconds=older)
