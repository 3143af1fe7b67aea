"""Brands, staff memberships and the credentials of the three API caller kinds."""

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower


class Brand(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=60, unique=True)
    time_zone = models.CharField(max_length=64, default="Asia/Shanghai")
    disclosure_label = models.CharField(
        max_length=40,
        default="#ad",
        help_text="Label every commercial post must carry (for example #ad or 广告).",
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="brand_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class BrandScopedModel(models.Model):
    """Base for every domain row: it belongs to exactly one brand."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="+")

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    MANAGER = "manager", "Manager"
    OPERATOR = "operator", "Operator"
    ANALYST = "analyst", "Analyst (read only)"


ROLE_RANK = {Role.ANALYST: 0, Role.OPERATOR: 1, Role.MANAGER: 2, Role.OWNER: 3}


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.OPERATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "brand"], name="membership_user_brand_unique")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.brand} ({self.role})"


class StaffToken(models.Model):
    """Bearer token for a staff member acting in one brand. Only the SHA-256 is stored."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff_tokens"
    )
    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="staff_tokens")
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"token of {self.user} @ {self.brand}"


class AppKey(models.Model):
    """A brand's server credential (the mini-program back end). Shown once, stored hashed."""

    brand = models.ForeignKey(Brand, on_delete=models.CASCADE, related_name="app_keys")
    name = models.CharField(max_length=80)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, for lookup.")
    key_hash = models.CharField(max_length=64)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
