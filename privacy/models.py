"""Personal-information rights: the audit trail and erasure requests.

Export and erasure span every app (customers, interactions, campaigns), so they live here;
consent per purpose is part of the customer (``customers.ConsentRecord``).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from customers.models import Customer
from scrm.tenancy.models import BrandScopedModel


class AuditAction(models.TextChoices):
    PHONE_READ = "phone_read", "Read the unmasked phone"
    EXPORT = "export", "Exported the customer's data"
    ERASURE_REQUESTED = "erasure_requested", "Requested erasure"
    ERASURE_DONE = "erasure_done", "Erased the customer's personal data"
    CONSENT_CHANGE = "consent_change", "Changed consent"


class AuditEntry(BrandScopedModel):
    """Append-only: who did what to which customer's personal data, when.

    ``customer_id`` is a plain column, not a foreign key: the trail outlives the customer row
    and nothing cascades into it. Rows are never updated (a trigger refuses it, migration
    0001) and the admin shows them read-only.
    """

    id = models.BigAutoField(primary_key=True)
    action = models.CharField(max_length=24, choices=AuditAction.choices)
    customer_id = models.BigIntegerField(null=True, blank=True, db_index=False)
    actor_kind = models.CharField(max_length=16, help_text="staff, app, customer or system.")
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True)
    details = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["brand", "-id"], name="audit_brand_id"),
            models.Index(fields=["brand", "customer_id", "-id"], name="audit_brand_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label or self.actor_kind} {self.action}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("Audit entries are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit entries are append-only.")


class ErasureStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


OPEN_ERASURE = (ErasureStatus.QUEUED, ErasureStatus.RUNNING)


class ErasureRequest(BrandScopedModel):
    """One request to erase a customer's personal data, carried out by a Celery task.

    ``progress`` says what the task is doing (``waiting_for_lock``, ``erasing``) and, when
    done, what each step changed. At most one open request per customer.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(
        max_length=16, choices=ErasureStatus.choices, default=ErasureStatus.QUEUED
    )
    requested_by_kind = models.CharField(max_length=16)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=Q(status__in=OPEN_ERASURE),
                name="erasure_one_open_per_customer",
            ),
        ]
        indexes = [models.Index(fields=["brand", "-id"], name="erasure_brand_id")]

    def __str__(self) -> str:
        return f"erasure {self.pk} of customer {self.customer_id} ({self.status})"


# --- Retention ------------------------------------------------------------------------------


class RetentionPolicy(models.Model):
    """A brand's retention period for raw interactions (``None``: keep them all).

    A periodic task folds older events into `FoldedPair` aggregates, which the full
    recompute reads alongside the log, and deletes them (`privacy.retention`)."""

    brand = models.OneToOneField(
        "tenancy.Brand", on_delete=models.CASCADE, related_name="retention_policy"
    )
    raw_interaction_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Raw interactions older than this many days are folded into per-pair "
        "aggregates and deleted. Empty: keep every raw interaction.",
    )
    updated_at = models.DateTimeField(auto_now=True)
    last_folded_at = models.DateTimeField(null=True, blank=True)
    last_fold = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        days = self.raw_interaction_days
        return f"retention of brand {self.brand_id}: {'keep' if days is None else f'{days} d'}"


# The interaction types whose decayed sums a FoldedPair keeps (the weighted ones: every type
# but the negative signals, whose flags live on the tie rows).
FOLDED_TYPES = (
    "view",
    "click",
    "like",
    "unlike",
    "comment",
    "reply",
    "forward",
    "message",
    "purchase",
)


class FoldedPair(BrandScopedModel):
    """Folded raw interactions of one directed pair ``source → target``: per type the sum of
    2^((t − ref_at)/H) over the folded events (t: occurred_at; an unlike: the like it takes
    back), so that weights apply at recompute time; ``last_at`` is their latest time."""

    id = models.BigAutoField(primary_key=True)
    source = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    target = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    ref_at = models.DateTimeField()
    last_at = models.DateTimeField(null=True, blank=True)
    events = models.BigIntegerField(default=0, help_text="Raw events folded in (all types).")
    d_view = models.FloatField(default=0.0)
    d_click = models.FloatField(default=0.0)
    d_like = models.FloatField(default=0.0)
    d_unlike = models.FloatField(default=0.0)
    d_comment = models.FloatField(default=0.0)
    d_reply = models.FloatField(default=0.0)
    d_forward = models.FloatField(default=0.0)
    d_message = models.FloatField(default=0.0)
    d_purchase = models.FloatField(default=0.0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "target"], name="folded_source_target"),
        ]
        indexes = [models.Index(fields=["brand", "source"], name="folded_brand_source")]

    def __str__(self) -> str:
        return f"folded {self.source_id}→{self.target_id} ({self.events} events)"
