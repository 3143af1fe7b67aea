"""WeCom's callback cryptography: Tencent's published sample vector and our own round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wecom import crypto
from wecom.crypto import WeComCryptoError

# Tencent's sample (WXBizMsgCrypt, "验证URL有效性" example).
V_TOKEN = "QDG6eK"
V_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
V_CORP = "wx5823bf96d3bd56c7"
V_SIGNATURE = "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3"
V_TIMESTAMP = "1409659589"
V_NONCE = "263014780"
V_ECHOSTR = (
    "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="
)
V_PLAIN = b"1616140317555161061"


def test_official_vector_signature():
    assert crypto.signature(V_TOKEN, V_TIMESTAMP, V_NONCE, V_ECHOSTR) == V_SIGNATURE
    crypto.signature_verify(
        token=V_TOKEN,
        timestamp=V_TIMESTAMP,
        nonce=V_NONCE,
        encrypted=V_ECHOSTR,
        msg_signature=V_SIGNATURE,
    )


def test_official_vector_decrypts_to_the_published_plaintext_for_the_corp():
    assert crypto.decrypt(V_KEY, V_ECHOSTR) == (V_PLAIN, V_CORP)


def test_official_vector_with_one_changed_signature_character_is_refused():
    with pytest.raises(WeComCryptoError) as refused:
        crypto.signature_verify(
            token=V_TOKEN,
            timestamp=V_TIMESTAMP,
            nonce=V_NONCE,
            encrypted=V_ECHOSTR,
            msg_signature=V_SIGNATURE[:-1] + "0",
        )
    assert refused.value.code == crypto.VALIDATE_SIGNATURE_ERROR


def test_our_encryption_of_the_vector_plaintext_with_its_random_reproduces_the_vector():
    # the first block of the decrypted plaintext is the sender's 16 random bytes
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = crypto.aes_key(V_KEY)
    raw = __import__("base64").b64decode(V_ECHOSTR)
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    random = (decryptor.update(raw) + decryptor.finalize())[:16]
    assert crypto.encrypt(V_KEY, V_PLAIN, V_CORP, random=random) == V_ECHOSTR


@given(message=st.binary(max_size=2000), receive_id=st.text(min_size=1, max_size=40))
def test_round_trip_of_our_own_encryption(message, receive_id):
    key = crypto.encoding_aes_key_generate()
    assert len(key) == 43
    encrypted = crypto.encrypt(key, message, receive_id)
    assert len(__import__("base64").b64decode(encrypted)) % 32 == 0  # PKCS#7 to 32 bytes
    assert crypto.decrypt(key, encrypted) == (message, receive_id)


def test_another_key_does_not_decrypt():
    encrypted = crypto.encrypt(V_KEY, b"hello", V_CORP)
    other = crypto.encoding_aes_key_generate()
    with pytest.raises(WeComCryptoError):
        message, receive_id = crypto.decrypt(other, encrypted)
        # a wrong key may by chance unpad: then the receiveid cannot be the corp's
        crypto.receive_id_verify(receive_id, {V_CORP})


@pytest.mark.parametrize("key", ["", "short", V_KEY + "A", "!" * 43])
def test_a_bad_encoding_aes_key_is_refused(key):
    with pytest.raises(WeComCryptoError) as refused:
        crypto.aes_key(key)
    assert refused.value.code == crypto.ILLEGAL_AES_KEY


@pytest.mark.parametrize("ciphertext", ["", "not base64!", "AAAA", "QUJD" * 3])
def test_bad_ciphertext_is_a_decrypt_error(ciphertext):
    with pytest.raises(WeComCryptoError) as refused:
        crypto.decrypt(V_KEY, ciphertext)
    assert refused.value.code in {crypto.DECRYPT_AES_ERROR, crypto.ILLEGAL_BUFFER}


def test_receive_id_of_another_corp_is_refused_with_40005():
    with pytest.raises(WeComCryptoError) as refused:
        crypto.receive_id_verify("wwOTHER", {V_CORP})
    assert refused.value.code == crypto.VALIDATE_CORPID_ERROR


def test_xml_round_trip_and_nested_lists():
    fields = {"ToUserName": "ww1", "CreateTime": 1700000000, "State": "a]]>b"}
    assert crypto.xml_parse(crypto.xml_build(fields)) == {
        "ToUserName": "ww1",
        "CreateTime": "1700000000",
        "State": "a]]>b",
    }
    nested = b"<xml><L><Item><U>a</U></Item><Item><U>b</U></Item></L></xml>"
    assert crypto.xml_parse(nested) == {"L": [{"U": "a"}, {"U": "b"}]}


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<xml><a></xml>",
        b"<notxml/>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><A>&a;</A></xml>',
        b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>',
        "<xml><A>\u00e9</A>".encode(),
        b"<xml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</xml>",
    ],
)
def test_bad_or_dangerous_xml_is_a_parse_error(body):
    with pytest.raises(WeComCryptoError) as refused:
        crypto.xml_parse(body)
    assert refused.value.code == crypto.PARSE_XML_ERROR
