"""Brand scoping for the Django admin.

A non-superuser staff member sees and changes only rows of the brands they are a member of,
with what their Membership role allows; superusers see everything. Roles map to admin
permissions per model admin through the ``*_role`` attributes (``None`` means superusers only),
so no Django groups or model permissions have to be granted by hand:

================  ======  =========  ========  =====================
model             view    add        change    delete
================  ======  =========  ========  =====================
Customer          analyst operator   operator  manager
Friendship        analyst operator   operator  nobody (end instead)
Advocate          analyst manager    manager   nobody (retire instead)
Brand             analyst superuser  owner     superuser
Membership        manager owner      owner     owner
AppKey            manager owner      owner     superuser (revoke instead)
StaffToken        analyst* nobody    nobody    nobody (revoke instead)
================  ======  =========  ========  =====================

(*) staff below owner see only their own tokens.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet

from .models import ROLE_RANK, Brand, BrandScopedModel, Membership, Role

_ROLES_ATTR = "_scrm_brand_roles"


def brand_roles(request) -> dict[int, str]:
    """``{brand_id: role}`` of the signed-in user's active brands (cached on the request)."""
    roles = getattr(request, _ROLES_ATTR, None)
    if roles is None:
        user = request.user
        if not user.is_authenticated or not user.is_active or not user.is_staff:
            roles = {}
        else:
            roles = dict(
                Membership.objects.filter(user=user, brand__is_active=True).values_list(
                    "brand_id", "role"
                )
            )
        setattr(request, _ROLES_ATTR, roles)
    return roles


def brand_ids_with_role(request, minimum: str | None) -> set[int]:
    """Brands where the user's role is at least ``minimum`` (``None``: no brand)."""
    if minimum is None:
        return set()
    needed = ROLE_RANK[Role(minimum)]
    return {
        brand_id
        for brand_id, role in brand_roles(request).items()
        if ROLE_RANK[Role(role)] >= needed
    }


class BrandScopedAdminMixin:
    """Mix into a ``ModelAdmin`` whose model has a brand (``brand_field`` names the path).

    - querysets (changelist, change views, actions, autocomplete, export) hold only rows of
      the user's brands, so another brand's object URL redirects as "does not exist";
    - permissions come from the Membership role in the row's brand (see the module table);
    - foreign keys to Brand and to brand-scoped models offer only the brands the user may
      write to; a single brand is preselected; the brand of an existing row is read-only.
    """

    brand_field = "brand"
    view_role: str | None = Role.ANALYST
    add_role: str | None = Role.OPERATOR
    change_role: str | None = Role.OPERATOR
    delete_role: str | None = Role.MANAGER

    # --- helpers ----------------------------------------------------------------------------

    def brand_ids(self, request, minimum: str | None) -> set[int]:
        return brand_ids_with_role(request, minimum)

    def brand_id_of(self, obj) -> int | None:
        if self.brand_field == "pk":
            return obj.pk
        return getattr(obj, f"{self.brand_field}_id", None)

    def _brand_lookup(self) -> str:
        return "pk__in" if self.brand_field == "pk" else f"{self.brand_field}__in"

    def scope_queryset(self, request, queryset: QuerySet, minimum: str | None) -> QuerySet:
        """Only rows of brands where the user has at least ``minimum`` (all for superusers)."""
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{self._brand_lookup(): self.brand_ids(request, minimum)})

    def _allowed(self, request, minimum: str | None, obj=None) -> bool:
        if obj is None:
            return bool(self.brand_ids(request, minimum))
        return self.brand_id_of(obj) in self.brand_ids(request, minimum)

    def writable_brand_ids(self, request) -> set[int]:
        return self.brand_ids(request, self.add_role) | self.brand_ids(request, self.change_role)

    # --- ModelAdmin hooks ---------------------------------------------------------------------

    def get_queryset(self, request):
        return self.scope_queryset(request, super().get_queryset(request), self.view_role)

    def has_module_permission(self, request) -> bool:
        if request.user.is_superuser:
            return super().has_module_permission(request)
        return self.has_view_permission(request)

    def has_view_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return super().has_view_permission(request, obj)
        return self._allowed(request, self.view_role, obj) or self.has_change_permission(
            request, obj
        )

    def has_add_permission(self, request, *args) -> bool:
        if request.user.is_superuser:
            return super().has_add_permission(request, *args)
        return self._allowed(request, self.add_role)

    def has_change_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return super().has_change_permission(request, obj)
        return self._allowed(request, self.change_role, obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if request.user.is_superuser:
            return super().has_delete_permission(request, obj)
        return self._allowed(request, self.delete_role, obj)

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        if obj is not None and self.brand_field != "pk" and self.brand_field not in fields:
            fields.append(self.brand_field)  # rows never move between brands
        return fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        related = db_field.related_model
        if not request.user.is_superuser:
            brand_ids = self.writable_brand_ids(request)
            if related is Brand:
                kwargs["queryset"] = Brand.objects.filter(pk__in=brand_ids)
                if len(brand_ids) == 1:
                    kwargs.setdefault("initial", next(iter(brand_ids)))
            elif isinstance(related, type) and issubclass(related, BrandScopedModel):
                kwargs["queryset"] = self.limit_related_queryset(
                    db_field, request, related._default_manager.filter(brand_id__in=brand_ids)
                )
        elif isinstance(related, type) and issubclass(related, BrandScopedModel):
            kwargs.setdefault(
                "queryset",
                self.limit_related_queryset(db_field, request, related._default_manager.all()),
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def limit_related_queryset(self, db_field, request, queryset: QuerySet) -> QuerySet:
        """Hook to narrow a brand-scoped FK's choices further (e.g. consumers only)."""
        return queryset


class ScopedBrandFilter(admin.SimpleListFilter):
    """Brand list filter offering only the user's brands (never other brands' names)."""

    title = "brand"
    parameter_name = "brand"

    def __init__(self, request, params, model, model_admin):
        self.brand_field = getattr(model_admin, "brand_field", "brand")
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        brands = Brand.objects.order_by("name")
        if not request.user.is_superuser:
            brands = brands.filter(pk__in=brand_roles(request))
        return [(str(brand.pk), brand.name) for brand in brands]

    def queryset(self, request, queryset):
        value = self.value()
        if not value or not value.isdigit():
            return queryset
        field = "pk" if self.brand_field == "pk" else f"{self.brand_field}_id"
        return queryset.filter(**{field: int(value)})
