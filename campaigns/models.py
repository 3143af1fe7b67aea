"""Moments posts, their per-friend deliveries and the stored publish decisions; campaigns,
enrollments with referral codes and free samples, and attributed conversions."""

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Now

from customers.models import Advocate, Customer, Tier
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
    ``campaign`` links the post to a campaign: such a post is commercial and carries the
    campaign's disclosure label (see ``campaigns.services.posts``).
    """

    author = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="posts")
    text = models.TextField(blank=True)
    media = models.JSONField(default=list, blank=True)
    commercial = models.BooleanField(default=False)
    campaign = models.ForeignKey(
        "Campaign", null=True, blank=True, on_delete=models.PROTECT, related_name="posts"
    )
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


# --- Campaigns -------------------------------------------------------------------------------

CURRENCY_REGEX = r"^[A-Z]{3}$"


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    ENDED = "ended", "Ended"


class Campaign(BrandScopedModel):
    """A brand's campaign: what it is for, when, with what money, products and brief.

    Status goes draft → active → ended only (``campaigns.services.campaigns`` enforces it and
    which fields lock once active). ``disclosure_label`` (blank: the brand's) is carried by
    every post linked to the campaign. ``advocate_fee`` is the default fee of an enrollment.
    """

    name = models.CharField(max_length=120)
    goal = models.CharField(max_length=255, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    budget = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    currency = models.CharField(max_length=3, default="CNY")
    products = models.JSONField(default=list, blank=True, help_text="SKUs or product names.")
    brief = models.TextField(blank=True)
    disclosure_label = models.CharField(max_length=40, blank=True)
    advocate_fee = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    status = models.CharField(
        max_length=8, choices=CampaignStatus.choices, default=CampaignStatus.DRAFT
    )
    activated_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=models.F("starts_at")), name="campaign_dates_ordered"
            ),
            models.CheckConstraint(condition=Q(budget__gte=0), name="campaign_budget_nonneg"),
            models.CheckConstraint(condition=Q(advocate_fee__gte=0), name="campaign_fee_nonneg"),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_REGEX), name="campaign_currency_iso"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CampaignStatus.values), name="campaign_status_valid"
            ),
        ]
        indexes = [models.Index(fields=["brand", "status", "-starts_at"])]

    def __str__(self) -> str:
        return self.name


class Enrollment(BrandScopedModel):
    """An advocate in a campaign, with a campaign referral code and the fee agreed.

    ``tier`` is the advocate's tier when they enrolled: reports group by it, so a campaign's
    tier breakdown does not move when friend counts change afterwards.
    """

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="enrollments")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="enrollments")
    code = models.CharField(max_length=32, unique=True)
    fee = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, validators=[MinValueValidator(0)]
    )
    tier = models.CharField(max_length=8, choices=Tier.choices)
    enrolled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "advocate"], name="enrollment_campaign_advocate"
            ),
            models.CheckConstraint(condition=Q(fee__gte=0), name="enrollment_fee_nonneg"),
        ]

    def __str__(self) -> str:
        return f"{self.advocate_id} in {self.campaign_id} ({self.code})"


class SampleShipment(BrandScopedModel):
    """A free product sent to an enrolled advocate for an honest post: shipped → received →
    reviewed (the review post), with what it cost the brand."""

    enrollment = models.ForeignKey(Enrollment, on_delete=models.CASCADE, related_name="samples")
    product = models.CharField(max_length=120)
    cost = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    shipped_at = models.DateTimeField(null=True, blank=True)
    received_at = models.DateTimeField(null=True, blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(cost__gte=0), name="sample_cost_nonneg"),
            models.CheckConstraint(
                condition=Q(received_at__isnull=True)
                | (Q(shipped_at__isnull=False) & Q(received_at__gte=models.F("shipped_at"))),
                name="sample_received_after_shipped",
            ),
            models.CheckConstraint(
                condition=Q(reviewed_at__isnull=True)
                | (Q(received_at__isnull=False) & Q(reviewed_at__gte=models.F("received_at"))),
                name="sample_reviewed_after_received",
            ),
        ]

    def __str__(self) -> str:
        return f"sample {self.product} for enrollment {self.enrollment_id}"


class ConversionSource(models.TextChoices):
    REFERRAL_CODE = "referral_code", "Referral code (advocate or enrollment)"
    SHARE_LINK = "share_link", "Signed share link of a post"
    STORE_COUPON = "store_coupon", "Coupon code entered in store"
    NONE = "none", "Unattributed"


class Conversion(BrandScopedModel):
    """An order, idempotent on ``(brand, order_id)``, attributed to advocate, campaign, post.

    ``source`` says how the order came (a code, a share link, a coupon at the till, nothing);
    when the credit is refused (self-referral, the advocate's own account) the attribution
    columns stay empty and ``uncredited_reason`` says why. ``tie_strength_at_purchase`` is
    the buyer–advocate (or buyer–author) strength when the order was recorded.
    """

    order_id = models.CharField(max_length=64)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    discount = models.DecimalField(
        max_digits=12, decimal_places=2, default=0, help_text="Coupon discount granted."
    )
    buyer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    buyer_external_id = models.CharField(max_length=128, blank=True)
    source = models.CharField(max_length=16, choices=ConversionSource.choices)
    code = models.CharField(max_length=32, blank=True, help_text="Referral or coupon code used.")
    sharer = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    advocate = models.ForeignKey(
        Advocate, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversions"
    )
    campaign = models.ForeignKey(
        Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="conversions"
    )
    enrollment = models.ForeignKey(
        Enrollment, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversions"
    )
    post = models.ForeignKey(
        Post, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversions"
    )
    tie_strength_at_purchase = models.FloatField(null=True, blank=True)
    uncredited_reason = models.CharField(max_length=32, blank=True)
    flagged_for_review = models.BooleanField(default=False)
    flag_reason = models.CharField(max_length=255, blank=True)
    interaction_event_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["brand", "order_id"], name="conversion_brand_order"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="conversion_amount_positive"),
            models.CheckConstraint(condition=Q(discount__gte=0), name="conversion_discount_nonneg"),
            models.CheckConstraint(
                condition=Q(currency__regex=CURRENCY_REGEX), name="conversion_currency_iso"
            ),
            models.CheckConstraint(
                condition=Q(source__in=ConversionSource.values), name="conversion_source_valid"
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "occurred_at"], name="conversion_campaign_time"),
            models.Index(fields=["brand", "buyer", "occurred_at"], name="conversion_buyer_time"),
            models.Index(
                fields=["brand", "buyer_external_id", "occurred_at"],
                name="conversion_buyer_ext_time",
            ),
            models.Index(fields=["brand", "-id"]),
        ]

    def __str__(self) -> str:
        return f"order {self.order_id} ({self.amount} {self.currency})"


# --- Fatigue policy ------------------------------------------------------------------------


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
