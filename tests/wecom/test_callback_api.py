"""The callback endpoint: URL check, accepted events stored once, every refusal writes nothing."""

from __future__ import annotations

import time

import pytest
import time_machine
from django.test import override_settings

from customers.models import Customer
from tests.factories import BrandFactory
from wecom import crypto
from wecom.models import CallbackEvent, CallbackStatus
from wecom.services.config import wecom_config_update
from wecom.tasks import apply_callback

from .helpers import (
    AES_KEY,
    CORP_ID,
    TOKEN,
    callback_url,
    configure,
    contact_event,
    post_event,
    signed_body,
)
from .test_crypto import (
    V_CORP,
    V_ECHOSTR,
    V_KEY,
    V_NONCE,
    V_PLAIN,
    V_SIGNATURE,
    V_TIMESTAMP,
    V_TOKEN,
)

pytestmark = pytest.mark.django_db


def _error(response, status: int) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    return body["error"]


def _nothing_written(brand) -> dict:
    return {
        "callbacks": CallbackEvent.objects.filter(brand=brand).count(),
        "customers": Customer.objects.filter(brand=brand).count(),
    }


# --- GET: URL verification -----------------------------------------------------------------


def test_url_check_with_tencents_official_vector_answers_the_bare_plaintext(anon_client, brand):
    # given the brand configured with the sample's token, key and corp, at the sample's time
    wecom_config_update(brand_id=brand.pk, corp_id=V_CORP, token=V_TOKEN, encoding_aes_key=V_KEY)
    query = (
        f"msg_signature={V_SIGNATURE}&timestamp={V_TIMESTAMP}&nonce={V_NONCE}"
        f"&echostr={V_ECHOSTR.replace('+', '%2B').replace('/', '%2F').replace('=', '%3D')}"
    )
    with time_machine.travel(int(V_TIMESTAMP) + 10, tick=False):
        response = anon_client.get(f"{callback_url(brand)}?{query}")
    assert response.status_code == 200
    assert response.content == V_PLAIN
    assert response["Content-Type"].startswith("text/plain")


def test_url_check_of_our_own_echostr(anon_client, brand):
    configure(brand)
    timestamp, nonce = str(int(time.time())), "12345"
    echostr = crypto.encrypt(AES_KEY, b"echo-42", CORP_ID)
    signature = crypto.signature(TOKEN, timestamp, nonce, echostr)
    response = anon_client.get(
        callback_url(brand),
        {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce, "echostr": echostr},
    )
    assert response.status_code == 200 and response.content == b"echo-42"


def test_url_check_with_a_wrong_signature_is_401_with_40001(anon_client, brand):
    configure(brand)
    timestamp = str(int(time.time()))
    echostr = crypto.encrypt(AES_KEY, b"echo", CORP_ID)
    response = anon_client.get(
        callback_url(brand),
        {"msg_signature": "0" * 40, "timestamp": timestamp, "nonce": "1", "echostr": echostr},
    )
    assert _error(response, 401)["details"]["wecom_code"] == -40001


def test_url_check_without_parameters_is_400_naming_them(anon_client, brand):
    configure(brand)
    error = _error(anon_client.get(callback_url(brand)), 400)
    assert {"msg_signature", "timestamp", "nonce", "echostr"} <= set(error["details"])


def test_unknown_slug_or_unconfigured_brand_is_404(anon_client, brand):
    query, _ = signed_body(contact_event("add_external_contact"))
    assert _error(anon_client.get(f"/api/v1/wecom/callback/nobody/?{query}&echostr=x"), 404)
    assert _error(anon_client.get(f"{callback_url(brand)}?{query}&echostr=x"), 404)


# --- POST: events ---------------------------------------------------------------------------


def test_an_event_is_acknowledged_stored_and_pending(anon_client, brand):
    configure(brand)
    response = post_event(anon_client, brand, contact_event("add_external_contact"))
    assert response.status_code == 200
    assert response.content == b"success"
    event = CallbackEvent.objects.get(brand=brand)
    assert event.status == CallbackStatus.PENDING
    assert (event.change_type, event.user_id, event.external_user_id) == (
        "add_external_contact",
        "zhangsan",
        "wmEXT001",
    )


def test_weCom_retries_are_stored_once_and_applied_once(anon_client, brand):
    configure(brand)
    fields = contact_event("add_external_contact", external="wmRETRY")
    # WeCom retries with a new timestamp and nonce: the same event, signed anew
    for _ in range(4):
        assert post_event(anon_client, brand, fields).status_code == 200
    event = CallbackEvent.objects.get(brand=brand)
    assert event.deliveries == 4

    assert apply_callback(event.pk) == CallbackStatus.APPLIED
    assert apply_callback(event.pk) == CallbackStatus.APPLIED  # a re-delivered task
    assert Customer.objects.filter(brand=brand, external_id="wmRETRY").count() == 1
    assert post_event(anon_client, brand, fields).status_code == 200  # a late retry
    event.refresh_from_db()
    assert (event.status, event.deliveries) == (CallbackStatus.APPLIED, 5)


def test_the_ack_is_fast(anon_client, brand):
    configure(brand)
    started = time.perf_counter()
    response = post_event(anon_client, brand, contact_event("add_external_contact"))
    assert response.status_code == 200
    assert time.perf_counter() - started < 1.0


# --- refusals write nothing --------------------------------------------------------------


def test_wrong_signature_is_401_with_40001_and_writes_nothing(anon_client, brand):
    configure(brand)
    before = _nothing_written(brand)
    response = post_event(
        anon_client, brand, contact_event("add_external_contact"), token="WrongToken"
    )
    error = _error(response, 401)
    assert error["code"] == "authentication_failed"
    assert error["details"]["wecom_code"] == -40001
    assert _nothing_written(brand) == before


def test_bad_xml_is_400_with_40002_and_writes_nothing(anon_client, brand):
    configure(brand)
    before = _nothing_written(brand)
    response = anon_client.generic(
        "POST",
        f"{callback_url(brand)}?msg_signature=x&timestamp={int(time.time())}&nonce=1",
        b"<xml><Encrypt>",
        content_type="text/xml",
    )
    assert _error(response, 400)["details"]["wecom_code"] == -40002
    assert _nothing_written(brand) == before


def test_bad_inner_xml_is_400_with_40002_and_writes_nothing(anon_client, brand):
    configure(brand)
    timestamp, nonce = str(int(time.time())), "7"
    encrypted = crypto.encrypt(AES_KEY, b"<xml><Broken>", CORP_ID)
    body = crypto.xml_build({"ToUserName": CORP_ID, "Encrypt": encrypted})
    signature = crypto.signature(TOKEN, timestamp, nonce, encrypted)
    response = anon_client.generic(
        "POST",
        f"{callback_url(brand)}?msg_signature={signature}&timestamp={timestamp}&nonce={nonce}",
        body,
        content_type="text/xml",
    )
    assert _error(response, 400)["details"]["wecom_code"] == -40002
    assert CallbackEvent.objects.count() == 0


def test_wrong_receiveid_is_401_with_40005_and_writes_nothing(anon_client, brand):
    configure(brand)
    response = post_event(
        anon_client, brand, contact_event("add_external_contact"), receive_id="wwSOMEONEELSE"
    )
    assert _error(response, 401)["details"]["wecom_code"] == -40005
    assert CallbackEvent.objects.count() == 0


def test_the_suite_id_is_accepted_as_receiveid(anon_client, brand):
    wecom_config_update(
        brand_id=brand.pk,
        corp_id=CORP_ID,
        token=TOKEN,
        encoding_aes_key=AES_KEY,
        suite_id="wwsuite01",
    )
    response = post_event(
        anon_client, brand, contact_event("add_external_contact"), receive_id="wwsuite01"
    )
    assert response.status_code == 200


@pytest.mark.parametrize("age", [301, 3600, -301])
def test_a_replayed_or_future_timestamp_is_401_and_writes_nothing(anon_client, brand, age):
    configure(brand)
    response = post_event(
        anon_client,
        brand,
        contact_event("add_external_contact"),
        timestamp=int(time.time()) - age,
    )
    error = _error(response, 401)
    assert "timestamp" in error["details"]
    assert CallbackEvent.objects.count() == 0


def test_the_replay_window_is_a_setting(anon_client, brand):
    configure(brand)
    with override_settings(SCRM={**__import__("django.conf").conf.settings.SCRM,
                                 "WECOM_MAX_CLOCK_SKEW_SECONDS": 7200}):  # fmt: skip
        response = post_event(
            anon_client, brand, contact_event("add_external_contact"),
            timestamp=int(time.time()) - 3600,
        )  # fmt: skip
    assert response.status_code == 200


def test_an_oversize_body_is_413_and_writes_nothing(anon_client, brand):
    configure(brand)
    fields = contact_event("add_external_contact", Padding="x" * 70_000)
    response = post_event(anon_client, brand, fields)
    assert _error(response, 413)["code"] == "payload_too_large"
    assert CallbackEvent.objects.count() == 0


def test_another_brands_slug_with_this_brands_key_is_401_and_writes_nothing(anon_client, brand):
    # given two configured brands (another corp, token and key for the other)
    configure(brand)
    other = BrandFactory(slug="rival")
    configure(
        other,
        corp_id="wwRIVAL",
        token="RivalToken",
        key=crypto.encoding_aes_key_generate(),
    )
    # when an event signed and encrypted with brand's credentials is sent to the other's URL
    query, body = signed_body(contact_event("add_external_contact"))
    response = anon_client.generic(
        "POST", f"{callback_url(other)}?{query}", body, content_type="text/xml"
    )
    # then it is refused and nothing is written in either brand
    assert _error(response, 401)["details"]["wecom_code"] == -40001
    assert CallbackEvent.objects.count() == 0


def test_another_brands_slug_sharing_the_token_is_refused_by_receiveid(anon_client, brand):
    configure(brand)
    other = BrandFactory(slug="rival")
    configure(other, corp_id="wwRIVAL")  # same token and key, another corp
    response = post_event(anon_client, other, contact_event("add_external_contact"))
    assert _error(response, 401)["details"]["wecom_code"] == -40005
    assert CallbackEvent.objects.count() == 0


def test_an_inactive_configuration_refuses_callbacks(anon_client, brand):
    configure(brand)
    wecom_config_update(brand_id=brand.pk, corp_id=CORP_ID, is_active=False)
    response = post_event(anon_client, brand, contact_event("add_external_contact"))
    _error(response, 404)
    assert CallbackEvent.objects.count() == 0


def test_missing_encrypt_element_is_400(anon_client, brand):
    configure(brand)
    response = anon_client.generic(
        "POST",
        f"{callback_url(brand)}?msg_signature=x&timestamp={int(time.time())}&nonce=1",
        b"<xml><ToUserName>x</ToUserName></xml>",
        content_type="text/xml",
    )
    assert _error(response, 400)["details"]["wecom_code"] == -40002


@pytest.mark.parametrize("timestamp", ["abc", "-5", "1" * 20])
def test_a_bad_timestamp_parameter_is_400(anon_client, brand, timestamp):
    configure(brand)
    response = anon_client.generic(
        "POST",
        f"{callback_url(brand)}?msg_signature=x&timestamp={timestamp}&nonce=1",
        b"<xml/>",
        content_type="text/xml",
    )
    assert "timestamp" in _error(response, 400)["details"]


def test_unknown_events_are_stored_and_acknowledged(anon_client, brand):
    configure(brand)
    fields = {"ToUserName": CORP_ID, "CreateTime": 1, "MsgType": "event", "Event": "brand_new"}
    assert post_event(anon_client, brand, fields).status_code == 200
    event = CallbackEvent.objects.get(brand=brand)
    assert apply_callback(event.pk) == CallbackStatus.RECORDED
    event.refresh_from_db()
    assert event.payload["Event"] == "brand_new"


def test_the_sweeper_applies_callbacks_whose_task_was_lost(anon_client, brand):
    from datetime import timedelta

    from django.utils import timezone

    from wecom.tasks import apply_pending

    configure(brand)
    post_event(anon_client, brand, contact_event("add_external_contact", external="wmLOSTTASK"))
    assert apply_pending() == 0  # too recent: its task may still run
    CallbackEvent.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    assert apply_pending() == 1
    assert CallbackEvent.objects.get().status == CallbackStatus.APPLIED
    assert apply_pending() == 0


def test_install_wecom_schedule_is_idempotent():
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("install_wecom_schedule")
    call_command("install_wecom_schedule")
    assert PeriodicTask.objects.filter(task="wecom.apply_pending").count() == 1
