"""Writes and credential checks for brands, staff and the three API caller kinds."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.text import slugify

from .models import ROLE_RANK, AppKey, Brand, Membership, Role, StaffToken

User = get_user_model()

APP_KEY_PREFIX = "sk_"
CUSTOMER_TOKEN_PREFIX = "ct_"  # noqa: S105
STAFF_TOKEN_PREFIX = "st_"  # noqa: S105
_CUSTOMER_TOKEN_SALT = "scrm.customer-token"  # noqa: S105


class CallerKind(StrEnum):
    STAFF = "staff"
    APP = "app"
    CUSTOMER = "customer"


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, for which brand. Set as ``request.auth`` by the authenticators."""

    kind: CallerKind
    brand_id: int
    user_id: int | None = None
    role: str | None = None
    customer_id: int | None = None
    app_key_id: int | None = None
    is_superuser: bool = False

    @property
    def is_staff(self) -> bool:
        return self.kind is CallerKind.STAFF

    @property
    def is_customer(self) -> bool:
        return self.kind is CallerKind.CUSTOMER

    @property
    def is_app(self) -> bool:
        return self.kind is CallerKind.APP

    def has_role(self, minimum: str) -> bool:
        """Staff role at least ``minimum``; app keys count as operators."""
        if self.is_superuser:
            return True
        if self.is_app:
            return ROLE_RANK[Role(minimum)] <= ROLE_RANK[Role.OPERATOR]
        if self.role is None:
            return False
        return ROLE_RANK[Role(self.role)] >= ROLE_RANK[Role(minimum)]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- Brands and staff ---------------------------------------------------------------------


def time_zone_validate(name: str) -> str:
    """Return ``name`` if it is an IANA time zone (``Asia/Shanghai``), else raise."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError({"time_zone": [f"{name!r} is not a known time zone."]}) from None
    return name


@transaction.atomic
def brand_create(*, name: str, slug: str | None = None, time_zone: str = "Asia/Shanghai") -> Brand:
    time_zone_validate(time_zone)
    return Brand.objects.create(name=name, slug=slug or slugify(name)[:60], time_zone=time_zone)


@transaction.atomic
def staff_member_create(
    *, brand: Brand, username: str, password: str | None, role: str = Role.OPERATOR, email: str = ""
) -> Membership:
    """Create (or reuse) a staff user and give them a role in ``brand``.

    Staff are Django staff users so they can sign in to the admin, where every page is
    scoped to their brands.
    """
    user, created = User.objects.get_or_create(
        username=username, defaults={"email": email, "is_staff": True}
    )
    if created or password:
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.is_staff = True
        user.save()
    membership, _ = Membership.objects.update_or_create(
        user=user, brand=brand, defaults={"role": Role(role)}
    )
    return membership


def brands_for_user(user) -> list[Membership]:
    return list(Membership.objects.filter(user=user, brand__is_active=True).select_related("brand"))


# --- Staff tokens --------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


@transaction.atomic
def staff_token_issue(*, user, brand: Brand) -> IssuedToken:
    raw = STAFF_TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(hours=settings.SCRM["STAFF_TOKEN_TTL_HOURS"])
    StaffToken.objects.create(user=user, brand=brand, key_hash=_digest(raw), expires_at=expires_at)
    return IssuedToken(token=raw, expires_at=expires_at)


def _staff_token_sql() -> tuple[str, list[str]]:
    """The token lookup as one statement (built once: the ORM would compile it per request):
    the live token joined with its active user and active brand, and the user's role in that
    brand (NULL: no membership)."""
    q = connection.ops.quote_name
    user_fields = [field.attname for field in User._meta.concrete_fields]
    columns = ", ".join(f"u.{q(field.column)}" for field in User._meta.concrete_fields)
    # Table and column names come from the models; the values are parameters.
    sql = (
        f"SELECT t.brand_id, (SELECT m.role FROM {q(Membership._meta.db_table)} m "  # noqa: S608
        "WHERE m.user_id = t.user_id AND m.brand_id = t.brand_id), "
        f"{columns} FROM {q(StaffToken._meta.db_table)} t "
        f"JOIN {q(User._meta.db_table)} u ON u.{q(User._meta.pk.column)} = t.user_id "
        f"JOIN {q(Brand._meta.db_table)} b ON b.id = t.brand_id "
        "WHERE t.key_hash = %s AND t.revoked_at IS NULL AND t.expires_at > %s "
        "AND u.is_active AND b.is_active"
    )
    return sql, user_fields


def staff_token_authenticate(raw: str) -> tuple[object, Caller] | None:
    """The token's user and Caller, in one query. No cache: a revoked or expired token, a
    deactivated user or brand, a removed membership stop working on the next request."""
    if not raw.startswith(STAFF_TOKEN_PREFIX):
        return None
    global _STAFF_TOKEN_SQL
    if _STAFF_TOKEN_SQL is None:
        _STAFF_TOKEN_SQL = _staff_token_sql()
    sql, user_fields = _STAFF_TOKEN_SQL
    with connection.cursor() as cursor:
        cursor.execute(sql, [_digest(raw), timezone.now()])
        row = cursor.fetchone()
    if row is None:
        return None
    brand_id, role, *values = row
    user = User.from_db(connection.alias, user_fields, values)
    if role is None and not user.is_superuser:
        return None  # membership removed after the token was issued
    return user, Caller(
        kind=CallerKind.STAFF,
        brand_id=brand_id,
        user_id=user.pk,
        role=role or Role.OWNER,
        is_superuser=user.is_superuser,
    )


_STAFF_TOKEN_SQL: tuple[str, list[str]] | None = None


@transaction.atomic
def staff_token_revoke(*, raw: str) -> bool:
    return bool(
        StaffToken.objects.filter(key_hash=_digest(raw), revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
    )


@transaction.atomic
def staff_tokens_revoke(*, token_ids: Iterable[int]) -> int:
    """Revoke the given staff tokens (already revoked ones are left alone); returns how many."""
    return StaffToken.objects.filter(pk__in=list(token_ids), revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )


# --- App keys --------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedAppKey:
    app_key: AppKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def app_key_create(*, brand: Brand, name: str, created_by=None) -> IssuedAppKey:
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    raw = f"{APP_KEY_PREFIX}{prefix}.{secret}"
    app_key = AppKey.objects.create(
        brand=brand, name=name, prefix=prefix, key_hash=_digest(raw), created_by=created_by
    )
    return IssuedAppKey(app_key=app_key, raw_key=raw)


@transaction.atomic
def app_key_revoke(*, app_key: AppKey) -> AppKey:
    if app_key.revoked_at is None:
        app_key.revoked_at = timezone.now()
        app_key.save(update_fields=["revoked_at"])
    return app_key


def app_key_authenticate(raw: str) -> Caller | None:
    if not raw.startswith(APP_KEY_PREFIX) or "." not in raw:
        return None
    prefix = raw[len(APP_KEY_PREFIX) :].split(".", 1)[0]
    app_key = (
        AppKey.objects.select_related("brand")
        .filter(prefix=prefix, revoked_at__isnull=True, brand__is_active=True)
        .first()
    )
    if app_key is None or not hmac.compare_digest(app_key.key_hash, _digest(raw)):
        return None
    now = timezone.now()
    if app_key.last_used_at is None or now - app_key.last_used_at > timedelta(minutes=5):
        AppKey.objects.filter(pk=app_key.pk).update(last_used_at=now)
    return Caller(kind=CallerKind.APP, brand_id=app_key.brand_id, app_key_id=app_key.pk)


# --- Customer tokens -------------------------------------------------------------------------


def customer_token_issue(*, brand_id: int, customer_id: int) -> IssuedToken:
    """A short-lived signed token that acts only as one customer of one brand.

    Stateless (HMAC-signed with SECRET_KEY), so the hot ingest path needs no lookup;
    its lifetime is SCRM["CUSTOMER_TOKEN_TTL_MINUTES"].
    """
    ttl = timedelta(minutes=settings.SCRM["CUSTOMER_TOKEN_TTL_MINUTES"])
    expires_at = timezone.now() + ttl
    payload = {"b": brand_id, "c": customer_id, "e": int(expires_at.timestamp())}
    raw = CUSTOMER_TOKEN_PREFIX + signing.dumps(payload, salt=_CUSTOMER_TOKEN_SALT, compress=True)
    return IssuedToken(token=raw, expires_at=expires_at)


def customer_token_authenticate(raw: str) -> Caller | None:
    if not raw.startswith(CUSTOMER_TOKEN_PREFIX):
        return None
    try:
        payload = signing.loads(raw[len(CUSTOMER_TOKEN_PREFIX) :], salt=_CUSTOMER_TOKEN_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("e", 0) < timezone.now().timestamp():
        return None
    return Caller(kind=CallerKind.CUSTOMER, brand_id=payload["b"], customer_id=payload["c"])


def customer_erased(*, brand_id: int, customer_id: int) -> bool:
    """Whether a customer token's customer has been erased: its tokens stop working at once
    (one primary-key lookup per request; the token itself stays stateless)."""
    from customers.models import Customer

    return Customer.objects.filter(
        pk=customer_id, brand_id=brand_id, erased_at__isnull=False
    ).exists()
