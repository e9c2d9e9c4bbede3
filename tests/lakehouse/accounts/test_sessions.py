"""Login sessions in the core: tokens and their claims, rotation, reuse detection, logout,
inactive users and the login throttle."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from lakehouse.accounts import users
from lakehouse.accounts.security import TokenSigner, digest
from lakehouse.accounts.sessions import SessionIssuer, TokenPair, session_is_live
from lakehouse.accounts.throttle import Throttle
from lakehouse.errors import AuthenticationError, TooManyRequestsError
from lakehouse.store import MetadataStore, User
from lakehouse.store.models import LoginThrottle, RefreshToken

PASSWORD = "alice-password-1"
ALLOWED = 3
BLOCK_SECONDS = 60
ACCESS_LIFETIME = timedelta(minutes=5)
REFRESH_LIFETIME = timedelta(days=1)
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture
def issuer() -> SessionIssuer:
    """Built as the API builds it (api/platform.py), with a small throttle."""
    return SessionIssuer(
        TokenSigner("session-test-secret-" + "x" * 32, ACCESS_LIFETIME),
        refresh_lifetime=REFRESH_LIFETIME,
        throttle=Throttle(ALLOWED, BLOCK_SECONDS),
    )


@pytest.fixture
def alice(store: MetadataStore) -> User:
    """A user of tenant 'acme' with password PASSWORD, hashed by argon2 at a low cost so
    that the many logins here verify it quickly (argon2 reads the cost from the hash)."""
    with store.session() as session:
        tenant = users.create_tenant(session, "acme")
        user = User(
            tenant_id=tenant.id,
            username="alice",
            email="alice@example.com",
            password_hash=CHEAP_HASHER.hash(PASSWORD),
        )
        session.add(user)
        session.flush()
        return user


def login(
    store: MetadataStore,
    issuer: SessionIssuer,
    password: str = PASSWORD,
    *,
    username: str = "alice",
    address: str | None = None,
) -> TokenPair:
    with store.session() as session:
        return issuer.login(session, username, password, address)


def refresh(store: MetadataStore, issuer: SessionIssuer, token: str) -> TokenPair:
    with store.session() as session:
        return issuer.refresh(session, token)


def session_id(issuer: SessionIssuer, pair: TokenPair) -> str:
    return issuer.signer.verify(pair.access_token).session_id


def is_live(
    store: MetadataStore, user: User, session: TokenPair | str, issuer: SessionIssuer
) -> bool:
    """Whether a login session, given by its id or a token pair issued in it, is live."""
    sid = session if isinstance(session, str) else session_id(issuer, session)
    with store.session(writes=False) as reading:
        return session_is_live(reading, user.id, sid)


def test_login_gives_an_access_token_naming_the_user_tenant_and_session(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    before = datetime.now(UTC)
    pair = login(store, issuer)
    claims = issuer.signer.verify(pair.access_token)
    assert (claims.user_id, claims.tenant_id) == (alice.id, alice.tenant_id)
    assert pair.expires_in == ACCESS_LIFETIME.total_seconds()
    assert before + ACCESS_LIFETIME - timedelta(seconds=5) <= claims.expires_at
    with store.session(writes=False) as session:
        record = session.scalar(select(RefreshToken).where(RefreshToken.user_id == alice.id))
        assert record is not None
        assert record.family_id == claims.session_id
        assert record.token_hash == digest(pair.refresh_token) != pair.refresh_token
        assert record.rotated_at is None and record.revoked_at is None
        assert session_is_live(session, alice.id, claims.session_id)
        principal = issuer.principal(session, pair.access_token)
        assert (principal.user_id, principal.username) == (alice.id, "alice")
    assert session_id(issuer, login(store, issuer)) != claims.session_id


def test_login_reads_through_the_reading_session_and_writes_in_the_other(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    reading = store.new_session(writes=False)
    try:
        with store.session() as session:
            pair = issuer.login(session, "alice", PASSWORD, reading=reading)
    finally:
        reading.close()
    assert is_live(store, alice, pair, issuer)


def test_wrong_password_and_unknown_user_are_one_authentication_error_and_both_count(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    messages = []
    for username, password in (("alice", PASSWORD + "x"), ("nobody", PASSWORD)):
        with pytest.raises(AuthenticationError) as refused:
            login(store, issuer, password, username=username, address="10.0.0.1")
        assert refused.value.field == "password"
        messages.append(refused.value.message)
    assert messages == ["incorrect username or password"] * 2
    with store.session(writes=False) as session:
        assert session.scalars(select(RefreshToken)).all() == []
        counts = {row.key: row.failures for row in session.scalars(select(LoginThrottle))}
    # The failures were kept although each attempt's own transaction failed.
    assert counts == {"user:alice": 1, "user:nobody": 1, "addr:10.0.0.1": 2}


def test_refresh_rotates_within_the_session_and_the_old_token_is_refused(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    first = login(store, issuer)
    second = refresh(store, issuer, first.refresh_token)
    assert second.refresh_token != first.refresh_token
    assert session_id(issuer, second) == session_id(issuer, first)
    assert issuer.signer.verify(second.access_token).user_id == alice.id
    with store.session(writes=False) as session:
        old = session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == digest(first.refresh_token))
        )
        assert old is not None and old.rotated_at is not None and old.revoked_at is None
    third = refresh(store, issuer, second.refresh_token)
    assert is_live(store, alice, third, issuer)


def test_reusing_a_rotated_token_ends_the_whole_session_so_the_new_token_dies_too(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    first = login(store, issuer)
    other = login(store, issuer)
    second = refresh(store, issuer, first.refresh_token)
    with pytest.raises(AuthenticationError, match="already been used") as reused:
        refresh(store, issuer, first.refresh_token)
    assert reused.value.field == "refresh_token"
    # The revocation was kept although the reusing request failed.
    assert not is_live(store, alice, second, issuer)
    with pytest.raises(AuthenticationError) as dead:
        refresh(store, issuer, second.refresh_token)
    assert dead.value.field == "refresh_token"
    with store.session(writes=False) as session:
        with pytest.raises(AuthenticationError, match="session has ended"):
            issuer.principal(session, second.access_token)
        family = session.scalars(
            select(RefreshToken).where(RefreshToken.family_id == session_id(issuer, first))
        ).all()
        assert len(family) == 2 and all(t.revoked_at is not None for t in family)
    # Another login session of the same user is untouched.
    assert is_live(store, alice, other, issuer)
    assert refresh(store, issuer, other.refresh_token).access_token


def test_logout_ends_the_session_and_its_refresh_token(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    pair = login(store, issuer)
    other = login(store, issuer)
    with store.session() as session:
        issuer.logout(session, pair.refresh_token)
    assert not is_live(store, alice, pair, issuer)
    with (
        store.session(writes=False) as session,
        pytest.raises(AuthenticationError, match="session has ended"),
    ):
        issuer.principal(session, pair.access_token)
    with pytest.raises(AuthenticationError) as refreshed:
        refresh(store, issuer, pair.refresh_token)
    assert refreshed.value.field == "refresh_token"
    with pytest.raises(AuthenticationError, match="no longer valid"), store.session() as session:
        issuer.logout(session, pair.refresh_token)
    assert is_live(store, alice, other, issuer)


def test_unknown_and_expired_refresh_tokens_are_refused(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    with pytest.raises(AuthenticationError, match="is invalid") as unknown:
        refresh(store, issuer, "not-a-token-we-issued")
    assert unknown.value.field == "refresh_token"
    expiring = SessionIssuer(issuer.signer, timedelta(seconds=-1), issuer.throttle)
    pair = login(store, expiring)
    for attempt in (issuer.refresh, issuer.logout):
        with (
            pytest.raises(AuthenticationError, match="has expired") as expired,
            store.session() as session,
        ):
            attempt(session, pair.refresh_token)
        assert expired.value.field == "refresh_token"
    assert is_live(store, alice, pair, issuer)  # expiry is not revocation


def test_session_is_live_is_false_for_an_unknown_session_or_another_user(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    pair = login(store, issuer)
    assert is_live(store, alice, pair, issuer)
    assert not is_live(store, alice, "no-such-session", issuer)
    with store.session(writes=False) as session:
        assert not session_is_live(session, alice.id + 1, session_id(issuer, pair))


def test_an_inactive_user_can_neither_log_in_nor_refresh_nor_use_a_token(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    pair = login(store, issuer)
    with store.session() as session:
        session.execute(update(User).where(User.id == alice.id).values(is_active=False))
    with pytest.raises(AuthenticationError, match="inactive") as refused:
        login(store, issuer)
    assert refused.value.field == "username"
    with pytest.raises(AuthenticationError, match="refresh token is invalid"):
        refresh(store, issuer, pair.refresh_token)
    with store.session(writes=False) as session:
        with pytest.raises(AuthenticationError, match="access token is invalid"):
            issuer.principal(session, pair.access_token)
        tokens = session.scalars(select(RefreshToken).where(RefreshToken.user_id == alice.id))
        assert [t.rotated_at for t in tokens] == [None]  # the refused refresh was rolled back


def test_an_access_token_naming_another_tenant_is_refused(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    sid = session_id(issuer, login(store, issuer))
    forged = issuer.signer.issue(alice.id, "another-tenant", session_id=sid)
    with store.session(writes=False) as session:
        with pytest.raises(AuthenticationError, match="access token is invalid"):
            issuer.principal(session, forged)
        assert (
            issuer.principal(
                session, issuer.signer.issue(alice.id, alice.tenant_id, session_id=sid)
            ).tenant_id
            == alice.tenant_id
        )


def test_the_throttle_blocks_even_the_right_password_after_the_allowed_failures(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    for _ in range(ALLOWED):
        with pytest.raises(AuthenticationError):
            login(store, issuer, "wrong-password", address="10.0.0.1")
    with pytest.raises(TooManyRequestsError) as blocked:
        login(store, issuer, address="10.0.0.2")
    assert 1 <= blocked.value.retry_after <= BLOCK_SECONDS
    # The address that failed is blocked for other names as well; others are not.
    with pytest.raises(TooManyRequestsError):
        login(store, issuer, username="someone-else", address="10.0.0.1")
    with pytest.raises(AuthenticationError):
        login(store, issuer, username="someone-else", address="10.0.0.3")
    with store.session(writes=False) as session:
        assert session.scalars(select(RefreshToken)).all() == []


def test_one_failure_fewer_than_allowed_does_not_block(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    for _ in range(ALLOWED - 1):
        with pytest.raises(AuthenticationError):
            login(store, issuer, "wrong-password")
    assert is_live(store, alice, login(store, issuer), issuer)


def test_a_successful_login_starts_the_failure_count_afresh(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    for _ in range(ALLOWED - 1):
        with pytest.raises(AuthenticationError):
            login(store, issuer, "wrong-password")
    login(store, issuer)
    with store.session(writes=False) as session:
        assert session.scalars(select(LoginThrottle)).all() == []
    for _ in range(ALLOWED - 1):
        with pytest.raises(AuthenticationError):
            login(store, issuer, "wrong-password")
    with pytest.raises(AuthenticationError):
        login(store, issuer, "wrong-password")  # the count reaches ALLOWED only now
    with pytest.raises(TooManyRequestsError):
        login(store, issuer)


def test_a_block_ends_when_its_time_is_up(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    for _ in range(ALLOWED):
        with pytest.raises(AuthenticationError):
            login(store, issuer, "wrong-password")
    with pytest.raises(TooManyRequestsError):
        login(store, issuer)
    with store.session() as session:
        session.execute(update(LoginThrottle).values(blocked_until=time.time() - 1))
    assert is_live(store, alice, login(store, issuer), issuer)


def test_logging_out_with_a_rotated_token_ends_the_session_of_whoever_rotated_it(
    store: MetadataStore, issuer: SessionIssuer, alice: User
) -> None:
    stolen = login(store, issuer)
    thief = refresh(store, issuer, stolen.refresh_token)
    with (
        pytest.raises(AuthenticationError, match="no longer valid") as refused,
        store.session() as session,
    ):
        issuer.logout(session, stolen.refresh_token)
    assert refused.value.field == "refresh_token"
    assert not is_live(store, alice, thief, issuer)
    with pytest.raises(AuthenticationError):
        refresh(store, issuer, thief.refresh_token)
