"""DRF authenticators for the three caller kinds. Each sets ``request.auth`` to a Caller."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from scrm.tenancy import services as tenancy
from scrm.tenancy.models import Membership, Role


def _credentials(request, scheme: str) -> str | None:
    header = authentication.get_authorization_header(request).decode("latin-1")
    if not header:
        return None
    parts = header.split(None, 1)
    if len(parts) != 2 or parts[0].lower() != scheme.lower():
        return None
    return parts[1].strip()


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``: staff tokens (st_…) and customer tokens (ct_…)."""

    keyword = "Bearer"

    def authenticate(self, request):
        raw = _credentials(request, self.keyword)
        if raw is None:
            return None
        if raw.startswith(tenancy.STAFF_TOKEN_PREFIX):
            result = tenancy.staff_token_authenticate(raw)
            if result is None:
                raise exceptions.AuthenticationFailed("Staff token is invalid, expired or revoked.")
            return result
        if raw.startswith(tenancy.CUSTOMER_TOKEN_PREFIX):
            caller = tenancy.customer_token_authenticate(raw)
            if caller is None:
                raise exceptions.AuthenticationFailed("Customer token is invalid or expired.")
            if tenancy.customer_erased(brand_id=caller.brand_id, customer_id=caller.customer_id):
                raise exceptions.AuthenticationFailed(
                    f"Customer {caller.customer_id} was erased: its tokens no longer work.",
                    code="customer_erased",
                )
            return AnonymousUser(), caller
        raise exceptions.AuthenticationFailed("Unknown bearer token format.")

    def authenticate_header(self, request) -> str:
        return self.keyword


class AppKeyAuthentication(authentication.BaseAuthentication):
    """``Authorization: Api-Key <key>``: a brand's server credential."""

    keyword = "Api-Key"

    def authenticate(self, request):
        raw = _credentials(request, self.keyword)
        if raw is None:
            return None
        caller = tenancy.app_key_authenticate(raw)
        if caller is None:
            raise exceptions.AuthenticationFailed("App key is invalid or revoked.")
        return AnonymousUser(), caller

    def authenticate_header(self, request) -> str:
        return self.keyword


class BrandSessionAuthentication(authentication.SessionAuthentication):
    """Admin session (browsable API). The brand is the user's only one, or ``X-Brand: <slug>``."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        wanted = request.headers.get("X-Brand")
        memberships = Membership.objects.filter(user=user, brand__is_active=True).select_related(
            "brand"
        )
        if wanted:
            memberships = memberships.filter(brand__slug=wanted)
        choices = list(memberships[:2])
        if user.is_superuser and wanted and not choices:
            from scrm.tenancy.models import Brand

            brand = Brand.objects.filter(slug=wanted).first()
            if brand is None:
                raise exceptions.AuthenticationFailed(f"Unknown brand {wanted!r}.")
            return user, tenancy.Caller(
                kind=tenancy.CallerKind.STAFF,
                brand_id=brand.pk,
                user_id=user.pk,
                role=Role.OWNER,
                is_superuser=True,
            )
        if len(choices) != 1:
            raise exceptions.AuthenticationFailed(
                "Pick a brand with the X-Brand header (you belong to several, or to none)."
            )
        membership = choices[0]
        return user, tenancy.Caller(
            kind=tenancy.CallerKind.STAFF,
            brand_id=membership.brand_id,
            user_id=user.pk,
            role=membership.role,
            is_superuser=user.is_superuser,
        )


# OpenAPI: one security scheme per caller kind. Each operation lists exactly the kinds that
# may call it, from the view's declared callers and roles (scrm.api.permissions.callers_for).


def _kinds(auto_schema) -> frozenset:
    from scrm.api.permissions import callers_for

    return callers_for(auto_schema.view, auto_schema.method)


class BearerScheme(OpenApiAuthenticationExtension):
    """Staff tokens and customer tokens share the Bearer header; documented apart."""

    target_class = BearerTokenAuthentication
    name = ["staffTokenAuth", "customerTokenAuth"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Staff token (`st_…`) from `auth/token/`: a staff member of "
                "one brand, limited by role.",
            },
            {
                "type": "http",
                "scheme": "bearer",
                "description": "Customer token (`ct_…`) from `auth/customer-token/`: acts only "
                "as that customer.",
            },
        ]

    def get_security_requirement(self, auto_schema):
        kinds = _kinds(auto_schema)
        names = {"staffTokenAuth": tenancy.CallerKind.STAFF,
                 "customerTokenAuth": tenancy.CallerKind.CUSTOMER}  # fmt: skip
        return [{name: []} for name, kind in names.items() if kind in kinds]


class AppKeyScheme(OpenApiAuthenticationExtension):
    target_class = AppKeyAuthentication
    name = "appKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key sk_…`: a brand app key (created by staff, shown once).",
        }

    def get_security_requirement(self, auto_schema):
        return [{self.name: []}] if tenancy.CallerKind.APP in _kinds(auto_schema) else []


class BrandSessionScheme(OpenApiAuthenticationExtension):
    """The admin session of a staff member (browsable API)."""

    target_class = BrandSessionAuthentication
    name = "sessionAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}

    def get_security_requirement(self, auto_schema):
        return [{self.name: []}] if tenancy.CallerKind.STAFF in _kinds(auto_schema) else []
