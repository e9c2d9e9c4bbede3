"""Password hashing (argon2), signed access tokens (JWT) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import os
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
    expires_at: datetime


class TokenSigner:
    """Issues and checks access tokens with one secret."""

    def __init__(self, secret: str, lifetime: timedelta) -> None:
        self._secret = secret
        self.lifetime = lifetime

    def issue(self, user_id: int, tenant_id: str) -> str:
        now = datetime.now(UTC)
        claims = {
            "sub": str(user_id),
            "tid": tenant_id,
            "typ": "access",
            "iat": now,
            "exp": now + self.lifetime,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def verify(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "tid", "exp", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("access token has expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthenticationError("access token is invalid") from exc
        if claims["typ"] != "access" or not str(claims["sub"]).isdigit():
            raise AuthenticationError("access token is invalid")
        return AccessClaims(
            user_id=int(claims["sub"]),
            tenant_id=str(claims["tid"]),
            expires_at=datetime.fromtimestamp(claims["exp"], UTC),
        )
