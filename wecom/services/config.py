"""A brand's WeCom configuration and its staff UserID → brand account mapping."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from customers.models import Customer, CustomerKind

from ..crypto import WeComCryptoError, aes_key
from ..models import WeComConfig, WeComStaff
from ..secrets import SecretUnreadable, secret_decrypt, secret_encrypt, secret_hint

TOKEN_MAX = 32  # WeCom's console: English letters and digits, at most 32


@dataclass(frozen=True, slots=True)
class CallbackKeys:
    """What verifying and decrypting one brand's callbacks needs (decrypted secrets)."""

    brand_id: int
    corp_id: str
    suite_id: str
    token: str
    encoding_aes_key: str

    @property
    def receive_ids(self) -> set[str]:
        return {value for value in (self.corp_id, self.suite_id) if value}


def callback_keys(config: WeComConfig) -> CallbackKeys:
    return CallbackKeys(
        brand_id=config.brand_id,
        corp_id=config.corp_id,
        suite_id=config.suite_id,
        token=secret_decrypt(config.token_encrypted),
        encoding_aes_key=secret_decrypt(config.aes_key_encrypted),
    )


def token_validate(token: str) -> str:
    token = (token or "").strip()
    if not token or len(token) > TOKEN_MAX or not token.isascii() or not token.isalnum():
        raise ValidationError({"token": [f"1 to {TOKEN_MAX} English letters and digits."]})
    return token


def encoding_aes_key_validate(key: str) -> str:
    key = (key or "").strip()
    try:
        aes_key(key)
    except WeComCryptoError:
        raise ValidationError(
            {"encoding_aes_key": ["43 characters of base64 (letters, digits, + and /)."]}
        ) from None
    return key


def _staff_mapping_validate(*, brand_id: int, staff: list[dict]) -> list[tuple[str, int]]:
    pairs: list[tuple[str, int]] = []
    seen: set[str] = set()
    ids = {row["brand_account"] for row in staff}
    accounts = dict(
        Customer.objects.filter(brand_id=brand_id, pk__in=ids).values_list("pk", "kind")
    )
    errors: dict[str, list[str]] = {}
    for index, row in enumerate(staff):
        user_id, account = row["user_id"], row["brand_account"]
        if user_id in seen:
            errors[f"staff[{index}].user_id"] = [f"{user_id!r} is listed twice."]
        elif account not in accounts:
            errors[f"staff[{index}].brand_account"] = [f"No customer {account} in this brand."]
        elif accounts[account] != CustomerKind.BRAND_ACCOUNT:
            errors[f"staff[{index}].brand_account"] = [
                f"Customer {account} is not a brand account."
            ]
        seen.add(user_id)
        pairs.append((user_id, account))
    if errors:
        raise ValidationError(errors)
    return pairs


@transaction.atomic
def wecom_config_update(
    *,
    brand_id: int,
    corp_id: str,
    token: str | None = None,
    encoding_aes_key: str | None = None,
    agent_id: str = "",
    suite_id: str = "",
    is_active: bool = True,
    staff: list[dict] | None = None,
    user_id: int | None = None,
) -> WeComConfig:
    """Create or replace the brand's WeCom configuration.

    ``token`` and ``encoding_aes_key`` are required the first time; left out (``None``) later,
    the stored ones are kept. ``staff`` (a list of ``{"user_id", "brand_account"}``), when
    given, replaces the UserID → brand account mapping.
    """
    config = WeComConfig.objects.select_for_update().filter(brand_id=brand_id).first()
    errors: dict[str, list[str]] = {}
    corp_id = (corp_id or "").strip()
    if not corp_id:
        errors["corp_id"] = ["Required."]
    if config is None:
        for name, value in (("token", token), ("encoding_aes_key", encoding_aes_key)):
            if value is None:
                errors[name] = ["Required when WeCom is first configured."]
    if errors:
        raise ValidationError(errors)
    if config is None:
        config = WeComConfig(brand_id=brand_id)
    if token is not None:
        token = token_validate(token)
        config.token_encrypted, config.token_hint = secret_encrypt(token), secret_hint(token)
    if encoding_aes_key is not None:
        key = encoding_aes_key_validate(encoding_aes_key)
        config.aes_key_encrypted, config.aes_key_hint = secret_encrypt(key), secret_hint(key)
    if not config.token_encrypted or not config.aes_key_encrypted:
        raise ValidationError({"encoding_aes_key": ["Required."]})
    try:
        callback_keys(config) if config.pk else None
    except SecretUnreadable:
        missing = {
            name: ["The stored value cannot be read (the settings key changed); enter it again."]
            for name, value in (("token", token), ("encoding_aes_key", encoding_aes_key))
            if value is None
        }
        if missing:
            raise ValidationError(missing) from None
    config.corp_id = corp_id
    config.agent_id = (agent_id or "").strip()
    config.suite_id = (suite_id or "").strip()
    config.is_active = is_active
    config.updated_by_id = user_id
    config.save()
    if staff is not None:
        pairs = _staff_mapping_validate(brand_id=brand_id, staff=staff)
        WeComStaff.objects.filter(brand_id=brand_id).exclude(
            user_id__in=[u for u, _ in pairs]
        ).delete()
        for wecom_user, account in pairs:
            WeComStaff.objects.update_or_create(
                brand_id=brand_id, user_id=wecom_user, defaults={"brand_account_id": account}
            )
    return config


@transaction.atomic
def wecom_staff_map(*, brand_id: int, user_id: str, brand_account_id: int) -> WeComStaff:
    """Map one WeCom UserID to a brand account (replacing its previous account)."""
    _staff_mapping_validate(
        brand_id=brand_id, staff=[{"user_id": user_id, "brand_account": brand_account_id}]
    )
    staff, _ = WeComStaff.objects.update_or_create(
        brand_id=brand_id, user_id=user_id, defaults={"brand_account_id": brand_account_id}
    )
    return staff
