"""Password hashing (argon2), signed tokens (JWT: access, merge) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import os
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from lakehouse.errors import AuthenticationError
from lakehouse.settings import Settings

ALGORITHM = "HS256"
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_refresh_token() -> str:
    return secrets.token_urlsafe(48)


def digest(token: str) -> str:
    """The stored form of a refresh token: its SHA-256 hex digest."""
    return hashlib.sha256(token.encode()).hexdigest()


def signing_secret(settings: Settings) -> str:
    """The configured secret, else one generated once and kept in the data directory."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value()
    path: Path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = path.with_suffix(f".{secrets.token_hex(4)}.tmp")
        descriptor = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(64))
        try:
            # link() fails if another process won the race, so every process reads one secret.
            path.hardlink_to(candidate)
        except FileExistsError:
            pass
        finally:
            candidate.unlink()
    return path.read_text().strip()


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    tenant_id: str
    session_id: str
    """The login session (refresh-token family) the token was issued in."""
    expires_at: datetime


class TokenSigner:
    """Issues and checks access tokens with one secret."""

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, user_id: int, tenant_id: str, session_id: str) -> str:
        claims = {"sub": str(user_id), "tid": tenant_id, "sid": session_id}
        return self.sign("access", claims, self.lifetime)

    def verify(self, token: str) -> AccessClaims:
        claims = self.read("access", token, required=("sub", "tid", "sid"), what="access token")
        if not str(claims["sub"]).isdigit():
            raise AuthenticationError("access token is invalid")
        return AccessClaims(
            user_id=int(claims["sub"]),
            tenant_id=str(claims["tid"]),
            session_id=str(claims["sid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )

    def sign(self, kind: str, claims: dict[str, Any], lifetime: timedelta) -> str:
        """A token of `kind` carrying `claims`, valid for `lifetime`."""
        now = datetime.now(UTC)
        payload = {
            **claims,
            "typ": kind,
            "iat": now,
            "exp": now + lifetime,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(payload, self._secret, algorithm=ALGORITHM)

    def read(
        self, kind: str, token: str, required: Sequence[str] = (), what: str = "token"
    ) -> dict[str, Any]:
        """The claims of a token of `kind` this signer issued and that has not expired;
        AuthenticationError naming `what` otherwise."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": [*required, "exp", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError(f"{what} has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"{what} is invalid") from exc
        if claims["typ"] != kind:
            raise AuthenticationError(f"{what} is invalid")
        return claims
