"""Bearer tokens as the vendor's flask-jwt-extended issues and checks them (HS256, stdlib only)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import uuid
from collections.abc import Callable
from typing import Any, Final

_HEADER: Final = {"alg": "HS256", "typ": "JWT"}
_UNAUTHORIZED: Final = 401
TOKEN_EXPIRED: Final = "Token has expired"


class TokenError(Exception):
    """A request that flask-jwt-extended would turn away: HTTP status plus its {"msg": ...} text."""

    def __init__(self, status: int, msg: str, *, expired: bool = False) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.expired = expired  # a genuine token whose lifetime is over (PyJWT's ExpiredSignatureError)


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_segment(value: dict[str, Any]) -> str:
    return _b64encode(json.dumps(value, separators=(",", ":")).encode())


class TokenRegistry:
    """Issues and verifies access tokens; remembers them so tests can expire every token at once."""

    def __init__(
        self,
        *,
        ttl_seconds: float,
        clock: Callable[[], float],
        invalid_token_status: int = _UNAUTHORIZED,
        secret: bytes | None = None,
    ) -> None:
        self.ttl_seconds = ttl_seconds
        self.invalid_token_status = invalid_token_status
        self._clock = clock
        # A fresh secret per simulator: tokens from an earlier run fail like tokens from another server.
        self._secret = secret if secret is not None else secrets.token_bytes(32)
        # jti -> (serial number, exact expiry); the exp claim is whole seconds, the expiry need not be.
        self._issued: dict[str, tuple[int, float]] = {}
        self._expired_up_to = 0

    @property
    def issued(self) -> int:
        return len(self._issued)

    def issue(self, sub: str, pin: str) -> str:
        """A token with the claims of the seed's example, in its order."""
        now = self._clock()
        jti = str(uuid.uuid4())
        claims = {
            "fresh": False,
            "iat": int(now),
            "jti": jti,
            "type": "access",
            "sub": sub,
            "nbf": int(now),
            "csrf": str(uuid.uuid4()),
            "exp": math.ceil(now + self.ttl_seconds),
            "pin": pin,
        }
        signing_input = f"{_json_segment(_HEADER)}.{_json_segment(claims)}"
        self._issued[jti] = (len(self._issued) + 1, now + self.ttl_seconds)
        return f"{signing_input}.{_b64encode(self._sign(signing_input))}"

    def expire_all(self) -> None:
        """Every token issued so far answers "Token has expired" from now on; new logins work."""
        self._expired_up_to = len(self._issued)

    def authenticate(self, authorization: str | None) -> dict[str, Any]:
        """Claims of the bearer token in an Authorization header, or TokenError with flask-jwt-extended's text."""
        if authorization is None:
            raise TokenError(_UNAUTHORIZED, "Missing Authorization Header")
        parts = authorization.split()
        if not parts or parts[0] != "Bearer":
            raise TokenError(
                _UNAUTHORIZED,
                "Missing 'Bearer' type in 'Authorization' header. Expected 'Authorization: Bearer <JWT>'",
            )
        if len(parts) != 2:
            raise TokenError(
                self.invalid_token_status, "Bad Authorization header. Expected 'Authorization: Bearer <JWT>'"
            )
        return self.verify(parts[1])

    def verify(self, token: str) -> dict[str, Any]:
        """Decode and check a token; messages are PyJWT's, as flask-jwt-extended passes them on."""
        try:
            signing_input, signature = token.rsplit(".", 1)
            header_segment, payload_segment = signing_input.split(".", 1)
        except ValueError:
            raise TokenError(self.invalid_token_status, "Not enough segments") from None
        header = self._decode_segment(header_segment, "header")
        if header.get("alg") != "HS256":
            raise TokenError(self.invalid_token_status, "The specified alg value is not allowed")
        try:
            given = _b64decode(signature)
        except ValueError:
            raise TokenError(self.invalid_token_status, "Invalid crypto padding") from None
        if not hmac.compare_digest(given, self._sign(signing_input)):
            raise TokenError(self.invalid_token_status, "Signature verification failed")
        claims = self._decode_segment(payload_segment, "payload")
        now = self._clock()
        issued = self._issued.get(str(claims.get("jti")))
        if issued is None:  # signed with our key but never issued: cannot happen short of a forged jti
            raise TokenError(self.invalid_token_status, "Signature verification failed")
        serial, expires_at = issued
        if now >= expires_at or serial <= self._expired_up_to:
            raise TokenError(_UNAUTHORIZED, TOKEN_EXPIRED, expired=True)
        if isinstance(claims.get("nbf"), int) and claims["nbf"] > now:
            raise TokenError(self.invalid_token_status, "The token is not yet valid (nbf)")
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(self._secret, signing_input.encode(), hashlib.sha256).digest()

    def _decode_segment(self, segment: str, name: str) -> dict[str, Any]:
        try:
            raw = _b64decode(segment)
        except ValueError:
            raise TokenError(self.invalid_token_status, f"Invalid {name} padding") from None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise TokenError(self.invalid_token_status, f"Invalid {name} string: {exc}") from None
        if not isinstance(value, dict):
            raise TokenError(self.invalid_token_status, f"Invalid {name} string: must be a json object")
        return value
