"""Admin for posts, deliveries and publish decisions, scoped to the staff user's brands."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from rest_framework.exceptions import APIException

from scrm.tenancy.models import Membership, Role
from scrm.tenancy.services import Caller, CallerKind

from . import selectors
from .models import Delivery, Post, PostStatus, PublishDecision
from .services.posts import post_withdraw


class BrandScopedAdmin(admin.ModelAdmin):
    """Rows of the user's brands only (superusers see all); read-only for other brands.

    A minimal local version until a shared brand-scoping admin mixin exists.
    """

    def brand_ids(self, request) -> list[int]:
        return list(
            Membership.objects.filter(user=request.user, brand__is_active=True).values_list(
                "brand_id", flat=True
            )
        )

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(brand_id__in=self.brand_ids(request))

    def has_add_permission(self, request) -> bool:
        return False  # rows are made through the services (API), not typed in


def _caller_for(request, brand_id: int) -> Caller:
    membership = Membership.objects.filter(user=request.user, brand_id=brand_id).first()
    return Caller(
        kind=CallerKind.STAFF,
        brand_id=brand_id,
        user_id=request.user.pk,
        role=membership.role if membership else Role.OWNER,
        is_superuser=request.user.is_superuser,
    )


@admin.register(Post)
class PostAdmin(BrandScopedAdmin):
    list_display = ["id", "author", "status", "commercial", "published_at", "created_at"]
    list_filter = ["status", "commercial"]
    search_fields = ["text", "author__display_name", "author__external_id"]
    list_select_related = ["author"]
    raw_id_fields = ["author", "campaign"]
    readonly_fields = [
        "brand",
        "author",
        "status",
        "deferred_until",
        "rejection_reasons",
        "published_at",
        "withdrawn_at",
        "created_at",
        "updated_at",
        "stats",
    ]
    fields = ["brand", "author", "text", "media", "commercial", "campaign", *readonly_fields[2:]]
    actions = ["withdraw"]

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None or obj.status == PostStatus.DRAFT

    @admin.display(description="Stats")
    def stats(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        stats = selectors.post_stats(post=obj)
        return ", ".join(f"{key}: {value}" for key, value in stats.items())

    @admin.action(description="Withdraw selected posts")
    def withdraw(self, request, queryset):
        done = 0
        for post in queryset.select_related("author"):
            try:
                post_withdraw(caller=_caller_for(request, post.brand_id), post=post)
                done += 1
            except (APIException, ValidationError) as exc:
                self.message_user(request, f"Post {post.pk}: {exc}", messages.WARNING)
        self.message_user(request, f"Withdrew {done} post(s).")


@admin.register(Delivery)
class DeliveryAdmin(BrandScopedAdmin):
    list_display = ["id", "post", "recipient", "status", "reason", "created_at"]
    list_filter = ["status", "reason"]
    raw_id_fields = ["post", "recipient"]
    list_select_related = ["recipient"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(PublishDecision)
class PublishDecisionAdmin(BrandScopedAdmin):
    list_display = ["id", "post", "decision", "delivered", "suppressed", "decided_by", "created_at"]
    list_filter = ["decision"]
    raw_id_fields = ["post"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False


from . import campaign_admin  # noqa: E402, F401  (campaign, enrollment and conversion admin)
