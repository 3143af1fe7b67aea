"""WeCom (企业微信) connector: a brand's corp, its staff accounts, contact-me channel codes,
the stored callbacks (the dedupe ledger) and the churn they reveal."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from scrm.tenancy.models import BrandScopedModel


class WeComConfig(BrandScopedModel):
    """One per brand. The callback token and EncodingAESKey are stored encrypted (Fernet, with
    a key derived from settings; see ``wecom.secrets``) and shown back only as a hint."""

    corp_id = models.CharField(max_length=64, help_text="The corp id (ww…/wx…), the receiveid.")
    token_encrypted = models.TextField(help_text="The callback Token, encrypted at rest.")
    token_hint = models.CharField(max_length=16, blank=True)
    aes_key_encrypted = models.TextField(help_text="The EncodingAESKey, encrypted at rest.")
    aes_key_hint = models.CharField(max_length=16, blank=True)
    agent_id = models.CharField(max_length=32, blank=True, help_text="Optional app AgentId.")
    suite_id = models.CharField(
        max_length=64, blank=True, help_text="Third-party suite id, also accepted as receiveid."
    )
    is_active = models.BooleanField(default=True, help_text="Inactive: callbacks are refused.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "WeCom configuration"
        constraints = [models.UniqueConstraint(fields=["brand"], name="wecom_config_one_per_brand")]

    def __str__(self) -> str:
        return f"WeCom {self.corp_id}"


class WeComStaff(BrandScopedModel):
    """A staff member's WeCom ``UserID`` → the brand account (a customer of kind brand_account)
    that stands for them in the graph."""

    user_id = models.CharField(max_length=64, help_text="The WeCom UserID of the staff member.")
    brand_account = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "WeCom staff account"
        constraints = [
            models.UniqueConstraint(fields=["brand", "user_id"], name="wecom_staff_user_unique")
        ]

    def __str__(self) -> str:
        return self.user_id


class ContactChannel(BrandScopedModel):
    """A "contact-me" (联系我) channel code: WeCom echoes its ``state`` (≤ 30 characters) in
    the add-contact callback, which credits the channel and its campaign and advocate."""

    state = models.CharField(max_length=30, help_text="The state parameter of the contact-me QR.")
    name = models.CharField(max_length=120)
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    advocate = models.ForeignKey(
        "customers.Advocate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "contact-me channel code"
        constraints = [
            models.UniqueConstraint(fields=["brand", "state"], name="wecom_channel_state_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.state})"


class CallbackStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPLIED = "applied", "Applied"
    RECORDED = "recorded", "Recorded only"
    FAILED = "failed", "Failed"


class CallbackEvent(BrandScopedModel):
    """One accepted callback, stored before it is acknowledged. ``dedupe_key`` is unique per
    brand, so WeCom's retries of the same event are stored (and applied) once."""

    dedupe_key = models.CharField(max_length=64)
    event = models.CharField(max_length=64, blank=True)
    change_type = models.CharField(max_length=64, blank=True)
    user_id = models.CharField(max_length=64, blank=True)
    external_user_id = models.CharField(max_length=128, blank=True)
    chat_id = models.CharField(max_length=128, blank=True)
    state = models.CharField(max_length=64, blank=True)
    source = models.CharField(max_length=64, blank=True)
    created_at_wecom = models.DateTimeField(null=True, blank=True, help_text="CreateTime.")
    payload = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    deliveries = models.PositiveIntegerField(default=1, help_text="Times WeCom sent it.")
    status = models.CharField(
        max_length=12, choices=CallbackStatus.choices, default=CallbackStatus.PENDING
    )
    applied_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name = "WeCom callback"
        constraints = [
            models.UniqueConstraint(fields=["brand", "dedupe_key"], name="wecom_callback_dedupe")
        ]
        indexes = [
            models.Index(fields=["brand", "-received_at"]),
            models.Index(
                fields=["received_at"],
                condition=Q(status="pending"),
                name="wecom_callback_pending",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.change_type or self.event or 'callback'} #{self.pk}"


class ContactEndReason(models.TextChoices):
    CHURN = "churn", "Customer deleted the staff account"
    DELETED_BY_STAFF = "deleted_by_staff", "Staff deleted the customer"
    TRANSFER = "transfer", "Transferred to another staff member"


class WeComContact(BrandScopedModel):
    """A customer on a staff member's WeCom contact list, with how they came (``state``:
    channel code, referral code) and how it ended. At most one current row per pair."""

    user_id = models.CharField(max_length=64)
    brand_account = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    half = models.BooleanField(
        default=False, help_text="Added without the staff member's confirmation yet."
    )
    state = models.CharField(max_length=64, blank=True)
    channel = models.ForeignKey(
        ContactChannel, null=True, blank=True, on_delete=models.SET_NULL, related_name="contacts"
    )
    advocate = models.ForeignKey(
        "customers.Advocate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    campaign = models.ForeignKey(
        "campaigns.Campaign", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    added_at = models.DateTimeField()
    last_edited_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, choices=ContactEndReason.choices, blank=True)

    class Meta:
        verbose_name = "WeCom contact"
        constraints = [
            models.UniqueConstraint(
                fields=["brand_account", "customer"],
                condition=Q(ended_at__isnull=True),
                name="wecom_contact_one_current",
            )
        ]
        indexes = [models.Index(fields=["brand", "-added_at"])]

    def __str__(self) -> str:
        return f"{self.customer_id} @ {self.user_id}"


class ChurnRecord(BrandScopedModel):
    """A customer deleted a brand account (WeCom ``del_follow_user``): the churn to prevent."""

    customer = models.ForeignKey("customers.Customer", on_delete=models.CASCADE, related_name="+")
    brand_account = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="+"
    )
    user_id = models.CharField(max_length=64)
    occurred_at = models.DateTimeField()
    callback = models.OneToOneField(
        CallbackEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="churn"
    )
    interaction_event_id = models.CharField(max_length=64, blank=True)
    friends_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="How long they had been friends, in days."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "churn alert"
        indexes = [
            models.Index(fields=["brand", "-occurred_at", "-id"]),
            models.Index(fields=["customer"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} left {self.user_id}"
