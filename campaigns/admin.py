"""Admin for posts, deliveries and publish decisions, scoped to the staff user's brands."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from rest_framework.exceptions import APIException

from scrm.tenancy.admin_scoping import BrandScopedAdminMixin, ScopedBrandFilter
from scrm.tenancy.models import Membership, Role
from scrm.tenancy.services import Caller, CallerKind

from . import selectors
from .fatigue.rules import FatiguePolicy, PolicyError
from .models import (
    Delivery,
    FatiguePolicyChange,
    FatiguePolicyRecord,
    Post,
    PostStatus,
    PublishDecision,
)
from .services.fatigue_policy import fatigue_policy_update, policy_defaults
from .services.posts import post_withdraw


class BrandScopedAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Rows of the user's brands only (superusers see all), by Membership role (the shared
    mixin: querysets, permissions, and foreign-key choices limited to the user's brands).

    Rows are made through the services (API), not typed in; nobody but a superuser deletes.
    """

    add_role = None
    delete_role = None

    def has_add_permission(self, request, *args) -> bool:
        return False


class ReadOnlyScopedAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Ledger rows: analysts and up of the row's brand read them; nobody edits them."""

    view_role = Role.ANALYST
    add_role = None
    change_role = None
    delete_role = None


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
        """Drafts only, by operators and up of the post's brand."""
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or obj.status == PostStatus.DRAFT)

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
class DeliveryAdmin(ReadOnlyScopedAdmin):
    list_display = ["id", "post", "recipient", "status", "reason", "created_at"]
    list_filter = ["status", "reason"]
    raw_id_fields = ["post", "recipient"]
    list_select_related = ["recipient"]


def _reason_list(reasons) -> str:
    if not reasons:
        return "-"
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "",
            "<li><code>{}</code> {} <small>{}</small></li>",
            (
                (r.get("code", ""), r.get("message", ""), json.dumps(r.get("data", {})))
                for r in reasons
                if isinstance(r, dict)
            ),
        ),
    )


@admin.register(PublishDecision)
class PublishDecisionAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "id",
        "post",
        "decision",
        "delivered",
        "suppressed",
        "deferred_until",
        "decided_by",
        "created_at",
    ]
    list_filter = ["decision"]
    raw_id_fields = ["post"]
    readonly_fields = ["explanation", "rules_fired"]

    @admin.display(description="Reasons")
    def explanation(self, obj) -> str:
        return _reason_list(obj.reasons)

    @admin.display(description="Every rule that fired")
    def rules_fired(self, obj) -> str:
        return _reason_list(obj.rules)


# --- Fatigue policy ----------------------------------------------------------------------


class FatiguePolicyForm(forms.ModelForm):
    policy = forms.JSONField(
        help_text="Every rule's numbers; validated like the API (fatigue/policy/). Fields "
        "left out take the defaults.",
        widget=forms.Textarea(attrs={"rows": 28, "cols": 80}),
    )

    class Meta:
        model = FatiguePolicyRecord
        fields = ["brand", "policy"]

    def clean(self):
        cleaned = super().clean()
        policy, brand = (
            cleaned.get("policy"),
            cleaned.get("brand") or getattr(self.instance, "brand", None),
        )
        if policy is None or brand is None:
            return cleaned
        if not isinstance(policy, dict):
            raise ValidationError({"policy": "Expected an object of policy fields."})
        try:
            FatiguePolicy.from_dict(policy, base=policy_defaults(brand_id=brand.pk))
        except PolicyError as exc:
            raise ValidationError(
                {"policy": [f"{name}: {message}" for name, message in exc.errors.items()]}
            ) from None
        return cleaned


class FatiguePolicyChangeInline(admin.TabularInline):
    model = FatiguePolicyChange
    fk_name = "policy"
    extra = 0
    can_delete = False
    ordering = ["-created_at"]
    fields = ["created_at", "changed_by_label", "changed_by", "diff"]
    readonly_fields = fields

    def has_view_permission(self, request, obj=None) -> bool:
        return True  # the parent admin is brand-scoped

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Old → new")
    def diff(self, obj) -> str:
        return _diff_html(obj.changes)


def _diff_html(changes) -> str:
    return format_html(
        "<ul>{}</ul>",
        format_html_join(
            "",
            "<li><code>{}</code>: {} → {}</li>",
            (
                (name, json.dumps(values.get("old")), json.dumps(values.get("new")))
                for name, values in (changes or {}).items()
            ),
        ),
    )


@admin.register(FatiguePolicyRecord)
class FatiguePolicyAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """A brand's fatigue rules: managers edit them, every change is audited below."""

    view_role = Role.ANALYST
    add_role = Role.MANAGER
    change_role = Role.MANAGER
    delete_role = None  # a brand always has a policy (the defaults when no row)

    form = FatiguePolicyForm
    list_display = ["brand", "summary", "updated_at"]
    list_filter = [ScopedBrandFilter]
    list_select_related = ["brand"]
    inlines = [FatiguePolicyChangeInline]

    @admin.display(description="Rules")
    def summary(self, obj) -> str:
        p = obj.policy or {}
        return (
            f"sender {p.get('sender_daily_cap')}/day, {p.get('sender_weekly_cap')}/"
            f"{p.get('window_days')} d; recipient {p.get('recipient_daily_cap')}/day, "
            f"{p.get('recipient_weekly_cap')}/{p.get('window_days')} d; quiet "
            f"{p.get('quiet_hours_start')}–{p.get('quiet_hours_end')} {p.get('time_zone')}"
        )

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        initial.setdefault("policy", FatiguePolicy.from_settings().as_dict())
        return initial

    def save_model(self, request, obj, form, change) -> None:
        record = fatigue_policy_update(
            brand_id=obj.brand_id,
            data=form.cleaned_data["policy"],
            partial=False,
            user=request.user,
        )
        obj.pk, obj.policy = record.pk, record.policy
        obj.created_at, obj.updated_at = record.created_at, record.updated_at


@admin.register(FatiguePolicyChange)
class FatiguePolicyChangeAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """The audit log of fatigue policy changes (read only)."""

    view_role = Role.ANALYST
    add_role = None
    change_role = None
    delete_role = None

    list_display = ["created_at", "brand", "changed_by_label", "changed_by", "diff"]
    list_filter = [ScopedBrandFilter]
    list_select_related = ["brand", "changed_by"]
    readonly_fields = ["brand", "policy", "changed_by", "changed_by_label", "diff", "created_at"]
    fields = readonly_fields
    ordering = ["-created_at"]

    @admin.display(description="Old → new")
    def diff(self, obj) -> str:
        return _diff_html(obj.changes)


from . import campaign_admin  # noqa: E402, F401  (campaign, enrollment and conversion admin)
