"""Password hashes, access tokens and the persisted signing secret."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from lakehouse.accounts.security import (
    TokenSigner,
    digest,
    hash_password,
    signing_secret,
    verify_password,
)
from lakehouse.errors import AuthenticationError
from lakehouse.settings import Settings


def test_argon2_hash_verifies_only_the_password() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$")
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "correct horse ")
    assert not verify_password("not-a-hash", "correct horse")


def test_access_token_round_trip_and_expiry() -> None:
    signer = TokenSigner("k" * 48, timedelta(minutes=5))
    claims = signer.verify(signer.issue(7, "tenant-a", "session-1"))
    assert (claims.user_id, claims.tenant_id) == (7, "tenant-a")
    expired = TokenSigner("k" * 48, timedelta(seconds=-1)).issue(7, "tenant-a", "session-1")
    with pytest.raises(AuthenticationError, match="expired"):
        signer.verify(expired)
    with pytest.raises(AuthenticationError, match="invalid"):
        TokenSigner("other" * 10, timedelta(minutes=5)).verify(
            signer.issue(7, "tenant-a", "session-1")
        )


def test_generated_secret_is_persisted_once(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    first = signing_secret(settings)
    assert len(first) >= 64
    assert signing_secret(Settings(data_dir=tmp_path)) == first
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    configured = "configured-secret-" + "z" * 32
    assert signing_secret(Settings(data_dir=tmp_path, secret_key=configured)) == configured


def test_refresh_tokens_are_stored_as_digests() -> None:
    assert digest("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
