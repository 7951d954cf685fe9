"""Bearer tokens of the simulated Collect! authorization server.

The docs show tokens shaped like JWTs ("ABC213.ABC213.ABC213-ABC213") and say nothing of their claims, so
these are HS256 JWTs (stdlib only) carrying the operator and the database they were issued for. Every
token is remembered so tests can expire them all at once, as the Scollect simulator's registry does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

_HEADER: Final = {"alg": "HS256", "typ": "JWT"}


class TokenRejected(Exception):
    """A bearer token the API turns away (missing, malformed, forged, expired, other database)."""


@dataclass(frozen=True)
class Session:
    """Who a valid access token speaks for."""

    op_id: str
    database: str


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenRegistry:
    def __init__(self, *, ttl_seconds: float, clock: Callable[[], float]) -> None:
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        # A fresh secret per simulator: a token from an earlier run fails like one from another server.
        self._secret = secrets.token_bytes(32)
        self._serial_by_jti: dict[str, int] = {}
        self._expired_up_to = 0

    @property
    def issued(self) -> int:
        return len(self._serial_by_jti)

    def expire_all(self) -> None:
        """Every token issued so far is refused from now on; new logins work."""
        self._expired_up_to = len(self._serial_by_jti)

    def issue(self, op_id: str, database: str, kind: str = "access") -> str:
        now = self._clock()
        jti = str(uuid.uuid4())
        claims = {
            "sub": op_id,
            "db": database,
            "type": kind,
            "jti": jti,
            "iat": int(now),
            "exp": now + self.ttl_seconds,
        }
        signing_input = f"{self._segment(_HEADER)}.{self._segment(claims)}"
        self._serial_by_jti[jti] = len(self._serial_by_jti) + 1
        return f"{signing_input}.{_b64encode(self._sign(signing_input))}"

    def authenticate(self, authorization: str | None, database: str) -> Session:
        """The session of an `Authorization: Bearer <token>` header, for a request on `database`."""
        if not authorization:
            raise TokenRejected("Missing Authorization header")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise TokenRejected("Authorization header must be 'Bearer <access_token>'")
        claims = self._verify(token.strip())
        if claims.get("type") != "access":
            raise TokenRejected("Not an access token")
        if claims.get("db") != database:
            raise TokenRejected(f"Token was not issued for database {database}")
        return Session(op_id=str(claims.get("sub")), database=database)

    def _verify(self, token: str) -> dict[str, Any]:
        try:
            signing_input, signature = token.rsplit(".", 1)
            _, payload = signing_input.split(".", 1)
            given = _b64decode(signature)
            claims = json.loads(_b64decode(payload))
        except (ValueError, UnicodeDecodeError):
            raise TokenRejected("Malformed token") from None
        if not hmac.compare_digest(given, self._sign(signing_input)) or not isinstance(claims, dict):
            raise TokenRejected("Invalid token")
        serial = self._serial_by_jti.get(str(claims.get("jti")))
        expires = claims.get("exp")
        if serial is None:
            raise TokenRejected("Invalid token")
        if serial <= self._expired_up_to or not isinstance(expires, int | float) or expires <= self._clock():
            raise TokenRejected("Token has expired")
        return claims

    def _segment(self, value: dict[str, Any]) -> str:
        return _b64encode(json.dumps(value, separators=(",", ":")).encode())

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()
