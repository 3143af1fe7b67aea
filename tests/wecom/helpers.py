"""WeCom test helpers: a configured brand and correctly encrypted, signed callbacks."""

from __future__ import annotations

import itertools
import secrets
import time

from wecom import crypto
from wecom.models import WeComConfig
from wecom.services.config import wecom_config_update

CORP_ID = "ww1234567890abcdef"
TOKEN = "T0kenForTests"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
_counter = itertools.count()


def create_time() -> int:
    """A distinct CreateTime within the past hour (distinct events never share a key)."""
    return int(time.time()) - 3600 + next(_counter) % 3000


def configure(brand, *, corp_id: str = CORP_ID, token: str = TOKEN, key: str = AES_KEY):
    return wecom_config_update(
        brand_id=brand.pk, corp_id=corp_id, token=token, encoding_aes_key=key
    )


def callback_url(brand) -> str:
    return f"/api/v1/wecom/callback/{brand.slug}/"


def contact_event(change_type: str, *, user_id="zhangsan", external="wmEXT001", **extra) -> dict:
    """The fields of a change_external_contact event (CreateTime unique per call)."""
    fields = {
        "ToUserName": extra.pop("to", CORP_ID),
        "FromUserName": "sys",
        "CreateTime": extra.pop("create_time", None) or create_time(),
        "MsgType": "event",
        "Event": extra.pop("event", "change_external_contact"),
        "ChangeType": change_type,
        "UserID": user_id,
        "ExternalUserID": external,
    }
    fields.update(extra)
    return {k: v for k, v in fields.items() if v is not None}


def signed_body(
    fields: dict,
    *,
    token: str = TOKEN,
    key: str = AES_KEY,
    receive_id: str = CORP_ID,
    timestamp: int | None = None,
) -> tuple[str, bytes]:
    """``(query string, body)`` of a POST as WeCom sends it."""
    timestamp = str(timestamp if timestamp is not None else int(time.time()))
    nonce = str(secrets.randbelow(10**9))
    body, signature = crypto.envelope(
        token=token,
        encoding_aes_key=key,
        receive_id=receive_id,
        message=crypto.xml_build(fields),
        timestamp=timestamp,
        nonce=nonce,
    )
    return f"msg_signature={signature}&timestamp={timestamp}&nonce={nonce}", body.encode()


def post_event(client, brand, fields: dict, **kwargs):
    query, body = signed_body(fields, **kwargs)
    return client.generic("POST", f"{callback_url(brand)}?{query}", body, content_type="text/xml")


def config_of(brand) -> WeComConfig:
    return WeComConfig.objects.get(brand=brand)


def store_and_apply(brand, fields: dict):
    """Store an accepted event and apply it, as the endpoint and the worker do."""
    from wecom.services.callbacks import callback_store
    from wecom.services.events import callback_apply

    received = callback_store(brand_id=brand.pk, fields=fields)
    return callback_apply(callback_id=received.callback_id)


def wecom_populate(brand) -> None:
    """A WeCom config, a staff mapping, a channel code, contacts, a churn and a record-only
    callback in ``brand`` (admin and tenancy tests)."""
    from wecom.models import ContactChannel

    configure(brand, corp_id=f"ww{brand.slug}")
    ContactChannel.objects.create(brand=brand, state=f"qr-{brand.slug}", name="Store QR")
    to = f"ww{brand.slug}"
    ext = f"wm-{brand.slug}-1"
    store_and_apply(brand, contact_event("add_external_contact", external=ext, to=to,
                                         State=f"qr-{brand.slug}"))  # fmt: skip
    store_and_apply(brand, contact_event("del_follow_user", external=ext, to=to))
    store_and_apply(
        brand, contact_event("update", event="change_external_tag", to=to, Id="et1",
                             TagType="tag", user_id=None, external=None)
    )  # fmt: skip
