"""Signatures of webhook deliveries: HMAC-SHA256 over `timestamp.body`, so a receiver can
check both who sent a delivery and that it is not an old one replayed."""

from __future__ import annotations

import hashlib
import hmac

TIMESTAMP_HEADER = "X-Cordon-Timestamp"
SIGNATURE_HEADER = "X-Cordon-Signature"
EVENT_HEADER = "X-Cordon-Event"
DELIVERY_HEADER = "X-Cordon-Delivery"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
