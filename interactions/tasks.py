"""Celery tasks of the interactions app (routed to the ``scoring`` queue)."""

from celery import shared_task
from django.db import DatabaseError

from . import services


@shared_task(
    name="interactions.score_batch",
    acks_late=True,
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    max_retries=5,
)
def score_batch(interaction_ids: list[int]) -> dict:
    """Receive a batch of new interaction ids for scoring (receipt only for now)."""
    return services.scoring_batch_receive(interaction_ids=interaction_ids)
