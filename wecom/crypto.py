"""WeCom's callback cryptography (企业微信 "加解密方案"), pure functions with no ORM.

- signature: SHA-1 of the lexicographically sorted ``[token, timestamp, nonce, encrypted]``
  joined without separator, hex; compared in constant time;
- message: AES-256-CBC with key = base64(EncodingAESKey + "="), IV = key[:16], PKCS#7
  padding to 32-byte blocks; plaintext = 16 random bytes ‖ 4-byte big-endian length of msg ‖
  msg ‖ receiveid (the corp id, or the suite id of a third-party app).

AES and the padding come from ``cryptography``; XML is parsed by ``defusedxml`` (no entities,
no external references). Errors carry WeCom's own error codes (-40001 …).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from xml.etree.ElementTree import Element

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from defusedxml import ElementTree as SafeET
from defusedxml.common import DefusedXmlException

# WeCom's error codes (WXBizMsgCrypt).
VALIDATE_SIGNATURE_ERROR = -40001
PARSE_XML_ERROR = -40002
ILLEGAL_AES_KEY = -40004
VALIDATE_CORPID_ERROR = -40005
ENCRYPT_AES_ERROR = -40006
DECRYPT_AES_ERROR = -40007
ILLEGAL_BUFFER = -40008

BLOCK_BITS = 256  # PKCS#7 to 32 bytes, as WeCom pads
ENCODING_AES_KEY_LENGTH = 43


class WeComCryptoError(Exception):
    """A refused callback: ``code`` is WeCom's error code."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey."""
    if not isinstance(encoding_aes_key, str) or len(encoding_aes_key) != ENCODING_AES_KEY_LENGTH:
        raise WeComCryptoError(ILLEGAL_AES_KEY, "EncodingAESKey must be 43 characters.")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError):
        raise WeComCryptoError(ILLEGAL_AES_KEY, "EncodingAESKey is not base64.") from None
    if len(key) != 32:
        raise WeComCryptoError(ILLEGAL_AES_KEY, "EncodingAESKey does not decode to 32 bytes.")
    return key


def encoding_aes_key_generate() -> str:
    """A fresh random EncodingAESKey (43 base64 characters), as WeCom's console makes one."""
    return base64.b64encode(os.urandom(32)).decode()[:-1]


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    parts = sorted([token, str(timestamp), str(nonce), encrypted])
    return hashlib.sha1("".join(parts).encode(), usedforsecurity=True).hexdigest()  # noqa: S324


def signature_verify(
    *, token: str, timestamp: str, nonce: str, encrypted: str, msg_signature: str
) -> None:
    expected = signature(token, timestamp, nonce, encrypted)
    if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
        raise WeComCryptoError(VALIDATE_SIGNATURE_ERROR, "The msg_signature does not match.")


def encrypt(encoding_aes_key: str, message: bytes, receive_id: str, *, random: bytes = b"") -> str:
    """Base64 ciphertext of ``message`` for ``receive_id`` (the corp id)."""
    key = aes_key(encoding_aes_key)
    random = random or os.urandom(16)
    if len(random) != 16:
        raise WeComCryptoError(ENCRYPT_AES_ERROR, "The random prefix must be 16 bytes.")
    plain = random + struct.pack(">I", len(message)) + message + receive_id.encode()
    padder = padding.PKCS7(BLOCK_BITS).padder()
    padded = padder.update(plain) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def decrypt(encoding_aes_key: str, encrypted: str) -> tuple[bytes, str]:
    """``(message, receive_id)`` of a base64 ciphertext."""
    key = aes_key(encoding_aes_key)
    try:
        cipher_bytes = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError):
        raise WeComCryptoError(DECRYPT_AES_ERROR, "The ciphertext is not base64.") from None
    if not cipher_bytes or len(cipher_bytes) % 16:
        raise WeComCryptoError(DECRYPT_AES_ERROR, "The ciphertext is not whole AES blocks.")
    decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    padded = decryptor.update(cipher_bytes) + decryptor.finalize()
    try:
        unpadder = padding.PKCS7(BLOCK_BITS).unpadder()
        plain = unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise WeComCryptoError(DECRYPT_AES_ERROR, "The plaintext padding is invalid.") from None
    if len(plain) < 20:
        raise WeComCryptoError(ILLEGAL_BUFFER, "The plaintext is too short.")
    (length,) = struct.unpack(">I", plain[16:20])
    if 20 + length > len(plain):
        raise WeComCryptoError(ILLEGAL_BUFFER, "The plaintext length is out of range.")
    message = plain[20 : 20 + length]
    try:
        receive_id = plain[20 + length :].decode()
    except UnicodeDecodeError:
        raise WeComCryptoError(ILLEGAL_BUFFER, "The receiveid is not text.") from None
    return message, receive_id


def receive_id_verify(receive_id: str, allowed: set[str]) -> None:
    if receive_id not in allowed:
        raise WeComCryptoError(
            VALIDATE_CORPID_ERROR, "The message was encrypted for another corp (receiveid)."
        )


# --- XML -------------------------------------------------------------------------------------


MAX_XML_DEPTH = 16  # WeCom's documents nest three levels deep


def _value(element: Element, depth: int = 0):
    if depth > MAX_XML_DEPTH:
        raise WeComCryptoError(PARSE_XML_ERROR, "The XML is nested too deeply.")
    children = list(element)
    if not children:
        return (element.text or "").strip()
    if all(child.tag == children[0].tag for child in children) and len(children) > 1:
        return [_value(child, depth + 1) for child in children]
    return {child.tag: _value(child, depth + 1) for child in children}


def xml_parse(body: bytes | str) -> dict:
    """A WeCom ``<xml>…</xml>`` document as a dict of its fields (nested lists and dicts)."""
    try:
        root = SafeET.fromstring(body, forbid_dtd=True)
    except (SafeET.ParseError, DefusedXmlException, ValueError, TypeError):
        raise WeComCryptoError(PARSE_XML_ERROR, "The body is not well-formed XML.") from None
    if root.tag != "xml":
        raise WeComCryptoError(PARSE_XML_ERROR, "The document's root must be <xml>.")
    value = _value(root)
    return value if isinstance(value, dict) else {}


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def xml_build(fields: dict) -> str:
    """``<xml>`` with one CDATA element per field (numbers bare), as WeCom sends them."""
    parts = []
    for name, value in fields.items():
        text = str(value) if isinstance(value, int) else _cdata(str(value))
        parts.append(f"<{name}>{text}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def envelope(
    *, token: str, encoding_aes_key: str, receive_id: str, message: str, timestamp: str, nonce: str
) -> tuple[str, str]:
    """An encrypted POST body and its msg_signature: what WeCom sends for ``message``."""
    encrypted = encrypt(encoding_aes_key, message.encode(), receive_id)
    body = xml_build({"ToUserName": receive_id, "Encrypt": encrypted, "AgentID": ""})
    return body, signature(token, timestamp, nonce, encrypted)
