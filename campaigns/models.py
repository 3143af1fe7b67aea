"""Moments posts, their per-friend deliveries and the stored publish decisions."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from customers.models import Customer
from scrm.tenancy.models import BrandScopedModel


class PostStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"
    DEFERRED = "deferred", "Deferred"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Post(BrandScopedModel):
    """A moments-style post by a customer (an advocate, a brand account or any consumer).

    ``media`` is a list of ``{"type": "image"|"video"|"link", "url": ...}`` items: up to 9
    images, or one video, or one link (validated by ``campaigns.services.posts``).
    ``campaign_id`` is a plain nullable integer until campaigns exist; it will become a
    foreign key then.
    """

    author = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="posts")
    text = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True)
    commercial = models.BooleanField(default=False)
    campaign_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=PostStatus.choices, default=PostStatus.DRAFT)
    deferred_until = models.DateTimeField(null=True, blank=True)
    rejection_reasons = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    withdrawn_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=PostStatus.values), name="post_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="published") | Q(published_at__isnull=False),
                name="post_published_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="deferred") | Q(deferred_until__isnull=False),
                name="post_deferred_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["brand", "status", "-created_at"]),
            models.Index(fields=["author", "-created_at"]),
        ]

    def __str__(self) -> str:
        return f"post {self.pk} by {self.author_id} ({self.status})"


class DeliveryStatus(models.TextChoices):
    DELIVERED = "delivered", "Delivered"
    SUPPRESSED = "suppressed", "Suppressed"


class Delivery(BrandScopedModel):
    """A published post reaching one friend's feed, or suppressed for them with a reason."""

    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="deliveries")
    recipient = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=12, choices=DeliveryStatus.choices)
    reason = models.CharField(max_length=32, blank=True)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(fields=["post", "recipient"], name="delivery_post_recipient"),
            models.CheckConstraint(
                condition=(Q(status="delivered") & Q(reason=""))
                | (Q(status="suppressed") & ~Q(reason="")),
                name="delivery_reason_iff_suppressed",
            ),
        ]
        indexes = [
            # The feed: a recipient's delivered rows, newest first.
            models.Index(
                fields=["recipient", "-id"],
                condition=Q(status="delivered"),
                name="delivery_feed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.post_id}→{self.recipient_id} {self.status}"


class PublishDecision(models.Model):
    """The durable ledger of publish verdicts (previews are not stored)."""

    brand = models.ForeignKey("tenancy.Brand", on_delete=models.CASCADE, related_name="+")
    post = models.ForeignKey(Post, on_delete=models.CASCADE, related_name="decisions")
    decision = models.CharField(max_length=16)
    reasons = models.JSONField(
        default=list, blank=True, help_text="The answer's reasons: [{code, message, data}]."
    )
    rules = models.JSONField(
        default=list,
        blank=True,
        help_text="Every rule that fired, post-wide and per recipient, with its numbers.",
    )
    delivered = models.PositiveIntegerField(default=0)
    suppressed = models.JSONField(default=dict, blank=True)
    deferred_until = models.DateTimeField(null=True, blank=True)
    decided_by = models.CharField(max_length=64, blank=True, help_text="Caller kind and id.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["post", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.decision} for post {self.post_id}"


class FatiguePolicyRecord(models.Model):
    """One brand's fatigue policy (``campaigns.fatigue.rules.FatiguePolicy.as_dict`` shape).

    Created lazily from ``settings.SCRM_FATIGUE`` and the brand's time zone; every change goes
    through ``campaigns.services.fatigue_policy`` and leaves a `FatiguePolicyChange`.
    """

    brand = models.OneToOneField(
        "tenancy.Brand", on_delete=models.CASCADE, related_name="fatigue_policy"
    )
    policy = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fatigue policy"
        verbose_name_plural = "fatigue policies"

    def __str__(self) -> str:
        return f"fatigue policy of brand {self.brand_id}"


class FatiguePolicyChange(models.Model):
    """Audit row: who changed a brand's fatigue policy, when, and each field old → new."""

    brand = models.ForeignKey("tenancy.Brand", on_delete=models.CASCADE, related_name="+")
    policy = models.ForeignKey(
        FatiguePolicyRecord, on_delete=models.CASCADE, related_name="changes"
    )
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_by_label = models.CharField(max_length=64, blank=True, help_text="Caller kind and id.")
    changes = models.JSONField(help_text='{"field": {"old": …, "new": …}}')
    old = models.JSONField()
    new = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "-created_at"])]

    def __str__(self) -> str:
        return f"fatigue policy change {self.pk} of brand {self.brand_id}"
