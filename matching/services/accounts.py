"""Accounts, roles, login and API tokens (engine-side use cases, no web here).

* Passwords are hashed with argon2-cffi's :class:`~argon2.PasswordHasher` default parameters
  (the demo generator hashes ``passerelle`` the same way).
* Login is rate-limited in the database (table ``login_attempts``, revision 0701): after
  ``max_failures`` failures for one username from one client address within ``window``, further
  attempts are refused without checking the password, whichever server worker receives them.
* Page sessions are stored (table ``web_sessions``, revision 0702): the cookie carries a random
  key whose hash is looked up on every request, so logging out, changing the password or
  deactivating the account ends the session at once, even for a copied cookie.
* API tokens are *signed*, not stored: ``itsdangerous`` timed signature of (user id, a fingerprint
  of the current password hash) with the installation's secret key. Nothing to store or purge;
  a token dies when it expires, when the password changes, when the account is deactivated or
  when the secret key is rotated (which logs everybody out).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import Engine, and_, bindparam, delete, func, select

from matching.exceptions import NotFoundError, PermissionDeniedError, ValidationError
from matching.store import models as m

ROLE_LABELS = {
    "counsellor": "conseiller·ère PLIE",
    "desk": "guichet entreprises",
    "admin": "administrateur·rice",
}
TOKEN_MAX_AGE_S = 8 * 3600
MAX_FAILURES = 5
WINDOW = timedelta(minutes=15)

_hasher = PasswordHasher()
# Verified against when the username does not exist, so that the answer takes the same time.
_DUMMY_HASH = _hasher.hash("compte-inexistant")


class AuthenticationError(PermissionDeniedError):
    """No valid credentials (wrong password, unknown account, expired token)."""


class TooManyAttemptsError(PermissionDeniedError):
    """Too many failed logins for this username from this address: wait before retrying."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class Principal:
    """The authenticated account behind a request."""

    id: int
    username: str
    full_name: str
    role: str

    @property
    def role_label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_password(password: str) -> str:
    """argon2id hash with the library's default parameters."""
    return _hasher.hash(password)


def _principal(row) -> Principal:
    return Principal(int(row.id), row.username, row.full_name or row.username, row.role)


def create_user(
    store: Engine, *, username: str, password: str, role: str, full_name: str = ""
) -> Principal:
    """Create an account; ``role`` is one of ``counsellor``, ``desk``, ``admin``."""
    username = username.strip()
    if role not in m.ROLES:
        raise ValidationError(f"rôle attendu parmi {', '.join(m.ROLES)}, reçu {role!r}")
    if not username or len(username) > 80:
        raise ValidationError(f"identifiant de 1 à 80 caractères attendu, reçu {username!r}")
    if len(password) < 8:
        raise ValidationError("mot de passe de 8 caractères au moins attendu")
    with store.begin() as conn:
        exists = conn.execute(select(m.User.id).where(m.User.username == username)).first()
        if exists:
            raise ValidationError(f"le compte {username!r} existe déjà")
        conn.execute(
            m.User.__table__.insert().values(
                username=username,
                full_name=full_name,
                role=role,
                password_hash=hash_password(password),
                active=True,
            )
        )
        row = conn.execute(select(m.User).where(m.User.username == username)).one()
    return _principal(row)


def list_users(store: Engine) -> list[dict]:
    """Accounts (never the hashes), by username."""
    with store.connect() as conn:
        rows = conn.execute(
            select(
                m.User.id, m.User.username, m.User.full_name, m.User.role, m.User.active
            ).order_by(m.User.username)
        ).all()
    return [r._asdict() for r in rows]


def set_active(store: Engine, username: str, active: bool) -> None:
    """(De)activate an account; its tokens and sessions stop working at once."""
    with store.begin() as conn:
        done = conn.execute(
            m.User.__table__.update().where(m.User.username == username).values(active=active)
        ).rowcount
        if not active:
            _close_sessions_of(conn, username)
    if not done:
        raise NotFoundError(f"compte {username!r} introuvable")


def set_password(store: Engine, username: str, password: str) -> None:
    """Change a password (revokes the account's API tokens, which carry its fingerprint)."""
    if len(password) < 8:
        raise ValidationError("mot de passe de 8 caractères au moins attendu")
    with store.begin() as conn:
        done = conn.execute(
            m.User.__table__.update()
            .where(m.User.username == username)
            .values(password_hash=hash_password(password))
        ).rowcount
        _close_sessions_of(conn, username)
    if not done:
        raise NotFoundError(f"compte {username!r} introuvable")


# The account lookup of every authenticated request, built once: building a ``select`` and its
# cache key cost ~4 times more than SQLite running it (profiled: a token check took 0.33 ms,
# a fifth of a published shortlist request under load). It is still read on every request, so
# that a deactivation or a password change takes effect at once in every server process.
_ACTIVE_BY_ID = select(
    m.User.id, m.User.username, m.User.full_name, m.User.role, m.User.password_hash
).where(m.User.id == bindparam("uid"), m.User.active.is_(True))


def _active_row(store: Engine, user_id: int):
    with store.connect() as conn:
        return conn.execute(_ACTIVE_BY_ID, {"uid": user_id}).first()


# --- web sessions (pages) ------------------------------------------------------------------------
SESSION_MAX_AGE_S = 8 * 3600

_SESSION_PRINCIPAL = (
    select(m.User.id, m.User.username, m.User.full_name, m.User.role)
    .join(m.WebSession, m.WebSession.user_id == m.User.id)
    .where(
        m.WebSession.key_hash == bindparam("key_hash"),
        m.WebSession.expires_at > bindparam("now"),
        m.User.active.is_(True),
    )
)


def _key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def open_session(
    store: Engine, principal: Principal, *, max_age_s: int = SESSION_MAX_AGE_S, now=None
) -> str:
    """A new session for ``principal``: the random key for the cookie (only its hash is kept).
    Expired sessions of every account are deleted on the way."""
    now = now or datetime.now()
    key = secrets.token_urlsafe(32)
    with store.begin() as conn:
        conn.execute(delete(m.WebSession).where(m.WebSession.expires_at <= now))
        conn.execute(
            m.WebSession.__table__.insert().values(
                key_hash=_key_hash(key),
                user_id=principal.id,
                created_at=now,
                expires_at=now + timedelta(seconds=max_age_s),
            )
        )
    return key


def principal_from_session(store: Engine, key: str, *, now=None) -> Principal | None:
    """The account of a live session key, or ``None`` (unknown, logged out, expired, account
    deactivated)."""
    if not key or not isinstance(key, str):
        return None
    with store.connect() as conn:
        row = conn.execute(
            _SESSION_PRINCIPAL, {"key_hash": _key_hash(key), "now": now or datetime.now()}
        ).first()
    return _principal(row) if row else None


def close_session(store: Engine, key: str) -> None:
    """Log a session out: its cookie, even copied elsewhere, no longer opens anything."""
    with store.begin() as conn:
        conn.execute(delete(m.WebSession).where(m.WebSession.key_hash == _key_hash(key)))


def _close_sessions_of(conn, username: str) -> None:
    ids = select(m.User.id).where(m.User.username == username).scalar_subquery()
    conn.execute(delete(m.WebSession).where(m.WebSession.user_id == ids))


def principal_by_id(store: Engine, user_id: int) -> Principal | None:
    """The active account with this id, or ``None`` (deleted or deactivated)."""
    row = _active_row(store, user_id)
    return _principal(row) if row else None


def recent_failures(
    store: Engine, username: str, ip: str, *, now: datetime, window: timedelta = WINDOW
) -> tuple[int, datetime | None]:
    """(failures since the last success within ``window``, time of the oldest counted one)."""
    since = now - window
    with store.connect() as conn:
        last_ok = conn.execute(
            select(func.max(m.LoginAttempt.at)).where(
                m.LoginAttempt.username == username,
                m.LoginAttempt.ip == ip,
                m.LoginAttempt.success.is_(True),
                m.LoginAttempt.at >= since,
            )
        ).scalar()
        if last_ok is not None:
            since = max(since, last_ok)
        count, oldest = conn.execute(
            select(func.count(), func.min(m.LoginAttempt.at)).where(
                and_(
                    m.LoginAttempt.username == username,
                    m.LoginAttempt.ip == ip,
                    m.LoginAttempt.success.is_(False),
                    m.LoginAttempt.at >= since,
                )
            )
        ).one()
    return int(count), oldest


def authenticate(
    store: Engine,
    username: str,
    password: str,
    *,
    ip: str,
    now: datetime | None = None,
    max_failures: int = MAX_FAILURES,
    window: timedelta = WINDOW,
) -> Principal:
    """Check a login, rate-limited per (username, client address).

    Raises
    ------
    TooManyAttemptsError
        ``max_failures`` failures already within ``window`` (the password is not even checked).
    AuthenticationError
        Unknown account, deactivated account or wrong password (one message for all three).
    """
    now = now or datetime.now()
    username = username.strip()[:80]
    ip = (ip or "inconnue")[:64]
    failures, oldest = recent_failures(store, username, ip, now=now, window=window)
    if failures >= max_failures:
        wait = int(((oldest or now) + window - now).total_seconds()) + 1
        raise TooManyAttemptsError(
            f"trop de tentatives de connexion échouées pour {username!r} "
            f"({failures} en {int(window.total_seconds() // 60)} min) : réessayez dans "
            f"{max(1, wait // 60)} min",
            retry_after_s=max(1, wait),
        )
    with store.connect() as conn:
        row = conn.execute(
            select(
                m.User.id, m.User.username, m.User.full_name, m.User.role, m.User.password_hash
            ).where(m.User.username == username, m.User.active.is_(True))
        ).first()
    try:
        ok = _hasher.verify(row.password_hash if row else _DUMMY_HASH, password) and row is not None
    except (VerificationError, InvalidHashError):
        ok = False
    with store.begin() as conn:
        conn.execute(
            m.LoginAttempt.__table__.insert().values(username=username, ip=ip, at=now, success=ok)
        )
        # Keep the table small: attempts older than a day are of no use to the limit.
        conn.execute(delete(m.LoginAttempt).where(m.LoginAttempt.at < now - timedelta(days=1)))
    if not ok:
        raise AuthenticationError("identifiant ou mot de passe incorrect")
    return _principal(row)


# --- API tokens --------------------------------------------------------------------------------
@functools.lru_cache(maxsize=8)
def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt="passerelle-api-token")


def _fingerprint(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def issue_token(store: Engine, secret_key: str, principal: Principal) -> str:
    """A signed bearer token for ``principal`` (valid :data:`TOKEN_MAX_AGE_S` seconds)."""
    with store.connect() as conn:
        pw = conn.execute(select(m.User.password_hash).where(m.User.id == principal.id)).scalar()
    return _serializer(secret_key).dumps({"u": principal.id, "f": _fingerprint(pw or "")})


def principal_from_token(
    store: Engine, secret_key: str, token: str, *, max_age_s: int = TOKEN_MAX_AGE_S
) -> Principal:
    """The account a token was issued to; :class:`AuthenticationError` if it is not valid."""
    try:
        data = _serializer(secret_key).loads(token, max_age=max_age_s)
    except SignatureExpired:
        raise AuthenticationError(
            "jeton expiré : demandez-en un nouveau (POST /api/v1/token)"
        ) from None
    except BadSignature:
        raise AuthenticationError("jeton invalide") from None
    row = _active_row(store, int(data.get("u", -1)))
    if row is None or _fingerprint(row.password_hash or "") != data.get("f"):
        raise AuthenticationError("jeton révoqué (compte désactivé ou mot de passe changé)")
    return _principal(row)
