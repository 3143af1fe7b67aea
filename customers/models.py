"""Brand-scoped people, the friendship graph and KOC advocates."""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Q

from scrm.tenancy.models import BrandScopedModel


class CustomerKind(models.TextChoices):
    CONSUMER = "consumer", "Consumer"
    BRAND_ACCOUNT = "brand_account", "Brand account"


class LifecycleStage(models.TextChoices):
    LEAD = "lead", "Lead"
    PROSPECT = "prospect", "Prospect"
    CUSTOMER = "customer", "Customer"
    REPEAT = "repeat", "Repeat customer"
    CHURNED = "churned", "Churned"


class SourceChannel(models.TextChoices):
    WECOM = "wecom", "WeCom contact"
    WECHAT = "wechat", "WeChat friend"
    MINI_PROGRAM = "mini_program", "Mini-program"
    GROUP = "group", "Group chat"
    STORE = "store", "Offline store"
    REFERRAL = "referral", "Referral"
    IMPORT = "import", "Import"
    OTHER = "other", "Other"


class Customer(BrandScopedModel):
    external_id = models.CharField(max_length=128, help_text="unionid/openid; unique per brand.")
    display_name = models.CharField(max_length=120, blank=True)
    kind = models.CharField(max_length=16, choices=CustomerKind.choices, default="consumer")
    phone = models.CharField(max_length=20, blank=True, help_text="E.164, normalised on write.")
    tags = ArrayField(models.CharField(max_length=40), default=list, blank=True)
    lifecycle_stage = models.CharField(
        max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.LEAD
    )
    source_channel = models.CharField(
        max_length=16, choices=SourceChannel.choices, default=SourceChannel.OTHER
    )
    # Consent per purpose (current state; history in ConsentRecord). ``marketing_consent``
    # is the purpose "commercial posts from advocates" (the field predates the split; its
    # name is kept for API clients). Defaults: granted (opt-out), as before the split.
    marketing_consent = models.BooleanField(
        default=True, help_text="Consent to commercial posts (advocates' and brand accounts')."
    )
    consent_mass_messages = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Consent to the brand's mass messages (brand accounts' posts).",
    )
    consent_profiling = models.BooleanField(
        default=True,
        db_default=True,
        help_text="Consent to profiling: tie strength is computed for this person.",
    )
    consent_updated_at = models.DateTimeField(null=True, blank=True)
    erased_at = models.DateTimeField(
        null=True, blank=True, help_text="Personal data erased (the row is a pseudonym)."
    )
    friend_count = models.PositiveIntegerField(
        default=0, help_text="Current (not ended) friendships; kept by the friendship services."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["brand", "external_id"], name="customer_brand_external_id_unique"
            ),
            # Target of the tie table's (brand, source) and (brand, target) foreign keys: a
            # tie's customers belong to the tie's brand (interactions migration 0009).
            models.UniqueConstraint(fields=["brand", "id"], name="customer_brand_id_unique"),
        ]
        indexes = [
            models.Index(fields=["brand", "kind", "lifecycle_stage"]),
            models.Index(fields=["brand", "-friend_count"]),
            GinIndex(fields=["tags"], name="customer_tags_gin"),
            # The few people who withheld profiling: the recompute's anti joins read this
            # index instead of scanning every customer.
            models.Index(
                fields=["id"],
                condition=Q(consent_profiling=False),
                name="customer_profiling_withheld",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.external_id

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone)


def mask_phone(phone: str) -> str:
    """+8613812345678 → +86138****5678; short numbers keep only their last two digits."""
    if not phone:
        return ""
    if len(phone) <= 6:
        return "*" * (len(phone) - 2) + phone[-2:]
    return phone[: len(phone) - 8] + "****" + phone[-4:]


class ConsentPurpose(models.TextChoices):
    COMMERCIAL_POSTS = "commercial_posts", "Commercial posts from advocates"
    MASS_MESSAGES = "mass_messages", "Brand mass messages"
    PROFILING = "profiling", "Profiling for tie strength"


# Purpose → the Customer column holding its current state.
CONSENT_FIELDS: dict[str, str] = {
    ConsentPurpose.COMMERCIAL_POSTS: "marketing_consent",
    ConsentPurpose.MASS_MESSAGES: "consent_mass_messages",
    ConsentPurpose.PROFILING: "consent_profiling",
}


class ConsentSource(models.TextChoices):
    MINI_PROGRAM = "mini_program", "Mini-program"
    WECOM = "wecom", "WeCom"
    STORE = "store", "Offline store"
    STAFF = "staff", "Staff (admin or API)"
    IMPORT = "import", "Import"
    API = "api", "API (legacy marketing_consent field)"
    CUSTOMER = "customer", "The customer (self-service)"
    ERASURE = "erasure", "Erasure"
    OTHER = "other", "Other"


class ConsentRecord(BrandScopedModel):
    """One grant or withdrawal of consent to one purpose: append-only history.

    The latest record of a purpose is the customer's current state (mirrored on the customer
    row, which every delivery and scoring query reads)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(max_length=24, choices=ConsentPurpose.choices)
    granted = models.BooleanField()
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    text_version = models.CharField(
        max_length=64, blank=True, help_text="Version of the consent text shown to the person."
    )
    recorded_at = models.DateTimeField(help_text="When the person gave or withdrew consent.")
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    recorded_by_label = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(purpose__in=ConsentPurpose.values), name="consent_purpose_valid"
            ),
        ]
        indexes = [models.Index(fields=["customer", "purpose", "-recorded_at"])]

    def __str__(self) -> str:
        verb = "granted" if self.granted else "withdrew"
        return f"{self.customer_id} {verb} {self.purpose}"


def profiling_withheld_sql(*customer_id_columns: str) -> str:
    """SQL condition, true when one of these customers (id columns or expressions) withheld
    consent to profiling (or was erased): the tie scoring skips their pairs."""
    ids = ", ".join(customer_id_columns)
    sql = "EXISTS (SELECT 1 FROM customers_customer pw WHERE pw.id IN ({}) AND NOT {})"
    return sql.format(ids, "pw.consent_profiling")


def profiling_granted_sql(customer_id_column: str) -> str:
    """SQL condition, true unless this customer withheld consent to profiling (or was
    erased). An equality per column, so a query over many rows can hash-anti-join the few
    who withheld (`profiling_withheld_sql` probes the customer table per row)."""
    sql = "NOT EXISTS (SELECT 1 FROM customers_customer pw WHERE pw.id = {} AND NOT {})"
    return sql.format(customer_id_column, "pw.consent_profiling")


class FriendshipSource(models.TextChoices):
    WECOM = "wecom", "WeCom"
    WECHAT = "wechat", "WeChat"
    GROUP = "group", "Group chat"
    REFERRAL = "referral", "Referral"
    IMPORT = "import", "Import"
    API = "api", "API"


class Friendship(BrandScopedModel):
    """An undirected edge, stored once with ``customer_low.id < customer_high.id``.

    Ending a friendship (unfriend, or a customer deleting a brand account) sets ``ended_at``;
    rows are never erased, so churn stays visible. At most one current edge per pair.
    """

    customer_low = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    customer_high = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    since = models.DateTimeField()
    source = models.CharField(
        max_length=16, choices=FriendshipSource.choices, default=FriendshipSource.API
    )
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.ForeignKey(
        Customer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    end_reason = models.CharField(max_length=40, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(customer_low__lt=F("customer_high")),
                name="friendship_ordered_no_self",
            ),
            models.UniqueConstraint(
                fields=["customer_low", "customer_high"],
                condition=Q(ended_at__isnull=True),
                name="friendship_one_current_edge",
            ),
        ]
        indexes = [
            models.Index(fields=["customer_high", "customer_low"]),
            models.Index(fields=["brand", "-since"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_low_id}–{self.customer_high_id}"

    @property
    def is_current(self) -> bool:
        return self.ended_at is None


class AdvocateStatus(models.TextChoices):
    CANDIDATE = "candidate", "Candidate"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    RETIRED = "retired", "Retired"


class Tier(models.TextChoices):
    NANO = "nano", "Nano"
    MICRO = "micro", "Micro"
    MACRO = "macro", "Macro"


def tier_for(friend_count: int) -> str:
    if friend_count >= settings.SCRM["TIER_MACRO_MIN_FRIENDS"]:
        return Tier.MACRO
    if friend_count >= settings.SCRM["TIER_MICRO_MIN_FRIENDS"]:
        return Tier.MICRO
    return Tier.NANO


class Advocate(BrandScopedModel):
    """A KOC: a consumer who recommends the brand's products to their friends."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="advocate")
    status = models.CharField(
        max_length=16, choices=AdvocateStatus.choices, default=AdvocateStatus.ACTIVE
    )
    status_reason = models.CharField(max_length=255, blank=True)
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.NANO)
    referral_code = models.CharField(max_length=16, unique=True)
    influence_score = models.FloatField(default=0.0)
    promoted_at = models.DateTimeField(auto_now_add=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    notes = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["brand", "status", "tier"])]

    def __str__(self) -> str:
        return f"advocate {self.referral_code}"
