"""Accepting WeCom's callbacks: verify, decrypt, store once, acknowledge; apply later.

Nothing is written for a refused callback: every check (signature, timestamp, decryption,
receiveid, XML) runs before the one INSERT of the accepted event.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .. import crypto
from ..crypto import WeComCryptoError
from ..models import CallbackEvent, CallbackStatus
from .config import CallbackKeys

# Fields of the dedupe key: the (ToUserName, CreateTime, ChangeType, UserID,
# ExternalUserID / ChatId), plus Event and the tag Id so that a tag event and a contact event
# of the same second never collide.
DEDUPE_FIELDS = (
    "ToUserName",
    "CreateTime",
    "Event",
    "ChangeType",
    "UserID",
    "ExternalUserID",
    "ChatId",
    "Id",
)


class StaleTimestamp(Exception):
    def __init__(self, age: int):
        super().__init__(f"The timestamp is {age} s away from now.")
        self.age = age


@dataclass(frozen=True, slots=True)
class Received:
    callback_id: int
    created: bool
    status: str


def timestamp_check(timestamp: str, *, now: float | None = None) -> None:
    """Refuse a timestamp further than ``WECOM_MAX_CLOCK_SKEW_SECONDS`` from now (replays)."""
    now = time.time() if now is None else now
    age = int(now) - int(timestamp)
    if abs(age) > settings.SCRM["WECOM_MAX_CLOCK_SKEW_SECONDS"]:
        raise StaleTimestamp(age)


def url_verify(
    *, keys: CallbackKeys, msg_signature: str, timestamp: str, nonce: str, echostr: str
) -> str:
    """WeCom's URL check (GET): the decrypted echostr, to be answered bare."""
    message = _verified_plaintext(
        keys=keys, msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, encrypted=echostr
    )
    try:
        return message.decode()
    except UnicodeDecodeError:
        raise WeComCryptoError(crypto.ILLEGAL_BUFFER, "The echostr is not text.") from None


def message_open(
    *, keys: CallbackKeys, msg_signature: str, timestamp: str, nonce: str, body: bytes
) -> dict:
    """Verify and decrypt a POSTed ``<xml><Encrypt>…`` body into the event's fields."""
    outer = crypto.xml_parse(body)
    encrypted = outer.get("Encrypt")
    if not isinstance(encrypted, str) or not encrypted:
        raise WeComCryptoError(crypto.PARSE_XML_ERROR, "The body has no <Encrypt> element.")
    message = _verified_plaintext(
        keys=keys,
        msg_signature=msg_signature,
        timestamp=timestamp,
        nonce=nonce,
        encrypted=encrypted,
    )
    return crypto.xml_parse(message)


def _verified_plaintext(
    *, keys: CallbackKeys, msg_signature: str, timestamp: str, nonce: str, encrypted: str
) -> bytes:
    """Signature, timestamp, decryption and receiveid, in that order: the plaintext."""
    crypto.signature_verify(
        token=keys.token,
        timestamp=timestamp,
        nonce=nonce,
        encrypted=encrypted,
        msg_signature=msg_signature,
    )
    timestamp_check(timestamp)
    message, receive_id = crypto.decrypt(keys.encoding_aes_key, encrypted)
    crypto.receive_id_verify(receive_id, keys.receive_ids)
    return message


def dedupe_key(fields: dict) -> str:
    parts = [str(fields.get(name, "")) for name in DEDUPE_FIELDS]
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _text(fields: dict, name: str, limit: int) -> str:
    value = fields.get(name, "")
    return value[:limit] if isinstance(value, str) else ""


def _create_time(fields: dict) -> datetime | None:
    raw = str(fields.get("CreateTime", ""))
    if raw.isdigit() and len(raw) <= 12:
        return datetime.fromtimestamp(int(raw), tz=UTC)
    return None


@transaction.atomic
def callback_store(*, brand_id: int, fields: dict) -> Received:
    """Store an accepted event once (``ON CONFLICT`` on the brand's dedupe key) and queue its
    application after commit. A retry of a stored event only counts the delivery; it is
    queued again while still pending (a lost task), never applied twice."""
    table = CallbackEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} AS c (brand_id, dedupe_key, event, change_type, user_id,
                external_user_id, chat_id, state, source, created_at_wecom, payload,
                received_at, deliveries, status, result, error)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, 1, %s, '{{}}', '')
            ON CONFLICT (brand_id, dedupe_key)
              DO UPDATE SET deliveries = c.deliveries + 1
            RETURNING id, (xmax = 0) AS inserted, status
            """,  # noqa: S608
            [
                brand_id,
                dedupe_key(fields),
                _text(fields, "Event", 64),
                _text(fields, "ChangeType", 64),
                _text(fields, "UserID", 64),
                _text(fields, "ExternalUserID", 128),
                _text(fields, "ChatId", 128),
                _text(fields, "State", 64),
                _text(fields, "Source", 64),
                _create_time(fields),
                orjson.dumps(fields).decode(),
                timezone.now(),
                CallbackStatus.PENDING,
            ],
        )
        callback_id, inserted, status = cursor.fetchone()
    if status == CallbackStatus.PENDING:
        queued_id = callback_id

        def queue() -> None:  # named: a failure (broker down) is logged by name
            _queue(queued_id)

        transaction.on_commit(queue, robust=True)
    return Received(callback_id=callback_id, created=bool(inserted), status=status)


def _queue(callback_id: int) -> None:
    from ..tasks import apply_callback

    apply_callback.delay(callback_id)
