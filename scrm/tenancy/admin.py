"""Admin for brands, memberships, staff tokens and app keys, scoped to the user's brands."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Q

from . import services
from .admin_scoping import BrandScopedAdminMixin, ScopedBrandFilter, brand_ids_with_role
from .models import AppKey, Brand, Membership, Role, StaffToken


def copy_into(target, source) -> None:
    """Make the admin's unsaved ``target`` mirror a row a service created."""
    for field in source._meta.concrete_fields:
        setattr(target, field.attname, getattr(source, field.attname))
    target._state.adding = False
    target._state.db = source._state.db


class BrandForm(forms.ModelForm):
    class Meta:
        model = Brand
        fields = ["name", "slug", "time_zone", "disclosure_label", "is_active"]

    def clean_time_zone(self):
        try:
            return services.time_zone_validate(self.cleaned_data["time_zone"])
        except ValidationError as error:
            raise ValidationError(error.message_dict["time_zone"]) from None


@admin.register(Brand)
class BrandAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    brand_field = "pk"
    view_role = Role.ANALYST
    add_role = None  # superusers only
    change_role = Role.OWNER
    delete_role = None

    form = BrandForm
    list_display = ["name", "slug", "time_zone", "disclosure_label", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["slug", "is_active"]  # sign-in names and activation stay with admins
        return fields


class MembershipForm(forms.ModelForm):
    class Meta:
        model = Membership
        fields = ["user", "brand", "role"]


@admin.register(Membership)
class MembershipAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    view_role = Role.MANAGER
    add_role = Role.OWNER
    change_role = Role.OWNER
    delete_role = Role.OWNER

    form = MembershipForm
    list_display = ["user", "brand", "role", "created_at"]
    list_filter = ["role", ScopedBrandFilter]
    list_select_related = ["user", "brand"]
    search_fields = ["user__username", "user__email"]
    ordering = ["brand__name", "user__username"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None:
            fields.append("user")  # change the role; add or remove a membership otherwise
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            # Owners pick among staff already in one of their brands; new staff users are
            # created with `manage.py create_staff` (or by a superuser).
            kwargs["queryset"] = (
                get_user_model()
                .objects.filter(
                    is_active=True,
                    memberships__brand_id__in=brand_ids_with_role(request, Role.OWNER),
                )
                .distinct()
                .order_by("username")
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(StaffToken)
class StaffTokenAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Tokens are issued by ``auth/token/``; here they are listed and revoked."""

    view_role = Role.ANALYST
    add_role = None
    change_role = None
    delete_role = None

    list_display = ["user", "brand", "created_at", "expires_at", "revoked_at", "state"]
    list_filter = [ScopedBrandFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["user", "brand"]
    search_fields = ["user__username"]
    ordering = ["-created_at"]
    fields = ["user", "brand", "created_at", "expires_at", "revoked_at"]
    readonly_fields = fields
    actions = ["revoke_tokens"]

    def get_queryset(self, request):
        queryset = admin.ModelAdmin.get_queryset(self, request)
        if request.user.is_superuser:
            return queryset
        owned = brand_ids_with_role(request, Role.OWNER)
        member = brand_ids_with_role(request, Role.ANALYST)
        # Owners see every token of their brands; other staff only their own.
        return queryset.filter(Q(brand_id__in=owned) | Q(brand_id__in=member, user=request.user))

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request, *args) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_revoke_permission(self, request) -> bool:
        return request.user.is_superuser or bool(brand_ids_with_role(request, Role.ANALYST))

    @admin.display(description="state")
    def state(self, token: StaffToken) -> str:
        from django.utils import timezone

        if token.revoked_at:
            return "revoked"
        return "expired" if token.expires_at <= timezone.now() else "active"

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_tokens(self, request, queryset):
        # ``queryset`` is already limited to tokens this user may see: own, or owned brands.
        count = services.staff_tokens_revoke(token_ids=queryset.values_list("pk", flat=True))
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)


class AppKeyForm(forms.ModelForm):
    class Meta:
        model = AppKey
        fields = ["brand", "name"]


@admin.register(AppKey)
class AppKeyAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """App keys: created here (the raw key is shown once, only its hash is kept), revoked."""

    view_role = Role.MANAGER
    add_role = Role.OWNER
    change_role = Role.OWNER
    delete_role = None  # revoke instead: the row stays for the audit trail

    form = AppKeyForm
    list_display = [
        "name",
        "prefix",
        "brand",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
        "is_active",
    ]
    list_filter = [ScopedBrandFilter, ("revoked_at", admin.EmptyFieldListFilter)]
    list_select_related = ["brand", "created_by"]
    search_fields = ["name", "prefix"]
    actions = ["revoke_keys"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["brand", "name"]
        return [
            "brand",
            "name",
            "prefix",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return []
        return ["brand", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=["name"])
            return
        issued = services.app_key_create(
            brand=form.cleaned_data["brand"],
            name=form.cleaned_data["name"],
            created_by=request.user,
        )
        copy_into(obj, issued.app_key)
        messages.warning(
            request,
            f"New app key for {issued.app_key.brand}: {issued.raw_key} — copy it now, "
            "it is stored only as a hash and will not be shown again.",
        )

    @admin.action(description="Revoke selected app keys", permissions=["change"])
    def revoke_keys(self, request, queryset):
        revoked = 0
        for app_key in self.scope_queryset(request, queryset, self.change_role).filter(
            revoked_at__isnull=True
        ):
            services.app_key_revoke(app_key=app_key)
            revoked += 1
        self.message_user(request, f"Revoked {revoked} app key(s).", messages.SUCCESS)
