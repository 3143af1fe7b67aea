"""Encryption at rest of a brand's WeCom secrets (callback token, EncodingAESKey).

Fernet (AES-128-CBC + HMAC-SHA256, from ``cryptography``) with a key derived by HKDF-SHA256
from ``SCRM_WECOM_SECRETS_KEY``, or from ``SECRET_KEY`` when that is empty. Rotating the source
key makes stored secrets unreadable: re-enter them (admin or ``PUT wecom/config/``).
"""

from __future__ import annotations

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings


class SecretUnreadable(Exception):
    """The stored secret was encrypted with another key (the settings key changed)."""


@cache
def _fernet(source: str) -> Fernet:
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"scrm.wecom", info=b"wecom config secrets"
    ).derive(source.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def _current() -> Fernet:
    return _fernet(settings.SCRM["WECOM_SECRETS_KEY"] or settings.SECRET_KEY)


def secret_encrypt(value: str) -> str:
    return _current().encrypt(value.encode()).decode()


def secret_decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except (InvalidToken, ValueError):
        raise SecretUnreadable("The stored WeCom secret cannot be decrypted.") from None


def secret_hint(value: str) -> str:
    """What may be shown back: the last four characters."""
    return f"…{value[-4:]}" if len(value) > 4 else "…"
