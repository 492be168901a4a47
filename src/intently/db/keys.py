"""API keys of the HTTP service, stored as sha256 hashes.

A key is ``ik_`` plus 32 URL-safe random characters. :meth:`ApiKeyStore.create` returns the
plaintext once; the database only ever holds its sha256, so a leaked database does not leak
usable keys (the keys are random, so an unsalted fast hash is enough).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import partial

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import SQLAlchemyError

from intently.db.engine import Database
from intently.db.tables import ApiKey, utcnow
from intently.errors import IntentlyError, InvalidRole, did_you_mean

KEY_PREFIX = "ik_"
KEY_RANDOM_BYTES = 24  # 32 URL-safe characters
LAST_USED_EVERY_S = 60.0  # verify() records last_used_at at most this often per key


class Role(StrEnum):
    """What a key may do; ``admin`` implies the others, ``reviewer`` implies ``predict``."""

    PREDICT = "predict"
    ADMIN = "admin"
    REVIEWER = "reviewer"

    def allows(self, required: Role | str) -> bool:
        """Whether a key with this role may call an endpoint that requires ``required``."""
        required = Role.parse(required)
        if self is Role.REVIEWER:
            return required in (Role.REVIEWER, Role.PREDICT)
        return self is Role.ADMIN or self is required

    @classmethod
    def parse(cls, value: Role | str) -> Role:
        """``value`` as a role; :class:`InvalidRole` lists the valid ones."""
        if isinstance(value, Role):
            return value
        text = str(value).strip().lower()
        try:
            return cls(text)
        except ValueError:
            valid = [role.value for role in cls]
            raise InvalidRole(
                f"unknown role '{value}'; roles are {', '.join(valid)}.{did_you_mean(text, valid)}",
                hint="use --role predict (predictions only), --role reviewer (predictions and the "
                "review queue) or --role admin (everything).",
            ) from None


@dataclass(frozen=True)
class ApiKeyRecord:
    """What is known about a key, never the key itself."""

    id: str
    name: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(plaintext: str | bytes) -> str:
    """The sha256 hex digest stored for a key."""
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    return hashlib.sha256(data).hexdigest()


def _record(row: ApiKey) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row.id,
        name=row.name,
        role=Role(row.role),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


# built once: verify runs on every authenticated request (through a plain connection, no ORM)
_VERIFY = select(ApiKey.id, ApiKey.role, ApiKey.key_hash, ApiKey.last_used_at).where(
    ApiKey.key_hash == bindparam("digest"), ApiKey.revoked_at.is_(None)
)


class ApiKeyStore:
    """Create, verify, list and revoke API keys in ``db`` (already migrated)."""

    def __init__(self, db: Database):
        self.db = db
        self._touched: dict[str, float] = {}  # key id -> monotonic time of the last write
        self._lock = threading.Lock()

    def create(self, role: Role | str, *, name: str = "") -> tuple[ApiKeyRecord, str]:
        """A new key: its record, and the plaintext, which is not stored and not shown again."""
        role = Role.parse(role)
        plaintext = KEY_PREFIX + secrets.token_urlsafe(KEY_RANDOM_BYTES)
        row = ApiKey(
            id=f"key_{secrets.token_hex(6)}",
            name=name.strip(),
            role=role.value,
            key_hash=hash_key(plaintext),
            created_at=utcnow(),
        )
        with self.db.session() as session:
            session.add(row)
            session.flush()
            record = _record(row)
        return record, plaintext

    def verify(
        self, plaintext: str | bytes, *, later: Callable[[Callable[[], None]], object] | None = None
    ) -> Role | None:
        """The role of an active key, or None when the key is unknown or revoked.

        Recording ``last_used_at`` is a best-effort write that can wait out the database's
        busy timeout: ``later`` takes it and runs it elsewhere (the server hands it to a
        background thread, off the request); without ``later`` it runs here.
        """
        if not plaintext:
            return None
        digest = hash_key(plaintext)
        with self.db.connection() as connection:
            row = connection.execute(_VERIFY, {"digest": digest}).first()
        if row is None or not hmac.compare_digest(row.key_hash, digest):
            return None
        touch = partial(self._touch, row.id, row.last_used_at)
        if later is None:
            touch()
        else:
            later(touch)
        return Role(row.role)

    def revoke(self, key_id: str) -> bool:
        """Revoke a key; False when there is no active key with that id."""
        with self.db.session() as session:
            result = session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
            return bool(result.rowcount)

    def get(self, key_id: str) -> ApiKeyRecord | None:
        with self.db.session() as session:
            row = session.get(ApiKey, key_id)
            return _record(row) if row is not None else None

    def list(self) -> list[ApiKeyRecord]:
        """Every key, revoked ones included, oldest first."""
        with self.db.session() as session:
            rows = session.scalars(select(ApiKey).order_by(ApiKey.created_at, ApiKey.id))
            return [_record(row) for row in rows]

    def _touch(self, key_id: str, last_used: datetime | None) -> None:
        """Record ``last_used_at`` at most once a minute per key; never fails verify."""
        now = time.monotonic()
        with self._lock:
            previous = self._touched.get(key_id)
            if previous is not None and now - previous < LAST_USED_EVERY_S:
                return
            self._touched[key_id] = now
        moment = utcnow()
        cutoff = moment - timedelta(seconds=LAST_USED_EVERY_S)
        if last_used is not None and last_used > cutoff:
            return  # another process recorded it recently
        try:
            with self.db.session() as session:
                session.execute(
                    update(ApiKey)
                    .where(
                        ApiKey.id == key_id,
                        (ApiKey.last_used_at.is_(None)) | (ApiKey.last_used_at < cutoff),
                    )
                    .values(last_used_at=moment)
                )
        except (SQLAlchemyError, IntentlyError):
            pass  # best effort: a busy database must not fail or slow authentication
