"""Requests between replicas are signed with a key derived from the shared secret (COLLECTIONS_MCP_SECRET_KEYS).

A replica hands another a round of a conversation over plain HTTP on the internal network; the receiving replica
must know it came from a replica of the same deployment. Each request carries `X-Collections-Mcp-Signature:
t=<unix seconds>,v1=<hex>`: an HMAC-SHA256 over the time, the method, the path and the body, under a key derived
from the first shared secret (never the secret itself, which also seals `request_state`). Every listed secret
verifies, so the keys rotate the way request_state keys do. A signature older or newer than `MAX_SKEW_SECONDS`
is refused (a captured request cannot be replayed later); a replayed round within that window does nothing new
(a round answers only the question that is pending).
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence

SIGNATURE_HEADER = "X-Collections-Mcp-Signature"
MAX_SKEW_SECONDS = 60.0
_DERIVATION_LABEL = b"collections-mcp/replica-requests/v1"


def _derive(secret: bytes) -> bytes:
    # HMAC as a keyed PRF: a key of its own for signing, unrelated to the SDK's request_state key (HKDF of the same
    # secret under another label).
    return hmac.new(secret, _DERIVATION_LABEL, hashlib.sha256).digest()


class Signer:
    """Signs with the first shared secret's derived key; verifies with any."""

    def __init__(self, secrets: Sequence[bytes], *, clock: Callable[[], float] = time.time) -> None:
        if not secrets:
            raise ValueError("signing needs at least one shared secret")
        self._keys = [_derive(secret) for secret in secrets]
        self._clock = clock

    @staticmethod
    def _mac(key: bytes, stamp: str, method: str, path: str, body: bytes) -> str:
        message = f"{stamp}\n{method.upper()}\n{path}\n".encode() + body
        return hmac.new(key, message, hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, body: bytes) -> str:
        stamp = str(int(self._clock()))
        return f"t={stamp},v1={self._mac(self._keys[0], stamp, method, path, body)}"

    def verify(self, method: str, path: str, body: bytes, header: str | None) -> bool:
        if not header:
            return False
        fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
        stamp, given = fields.get("t", ""), fields.get("v1", "")
        if not stamp.isdigit() or abs(self._clock() - int(stamp)) > MAX_SKEW_SECONDS:
            return False
        return any(hmac.compare_digest(self._mac(key, stamp, method, path, body), given) for key in self._keys)
