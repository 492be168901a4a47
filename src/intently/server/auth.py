"""API keys: ``Authorization: Bearer <key>`` checked against two sources.

1. ``INTENTLY_API_KEYS`` (``role:key,...``): compared with :func:`hmac.compare_digest` against
   every configured key, so the time taken does not depend on how much of a key matched.
2. Keys created with ``intently keys create`` (stored hashed in the database): verified with
   :meth:`ApiKeyStore.verify`, off the event loop. The answer — a role or "unknown" — is kept in
   memory for ``auth_cache_s`` seconds (unknown keys for at most 5 s), keyed by the SHA-256 of
   the key, so the hot path never touches the database. A revoked key therefore stops working
   within ``auth_cache_s`` in every worker. Recording the key's ``last_used_at`` is left to
   one background thread: against a locked SQLite file that write waits out the 5 s busy
   timeout, which the request must not wait with it.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from anyio import to_thread

from intently.db import ApiKeyStore, Role
from intently.server.settings import key_matches

MAX_KEY_CHARS = 512
MISS_CACHE_S = 5.0
MAX_CACHED = 10_000


class Authenticator:
    """Turns a presented key into a :class:`Role`, or None when the key is unknown."""

    def __init__(
        self,
        env_keys: list[tuple[str, bytes]],
        store: ApiKeyStore | None,
        *,
        cache_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.env_keys = env_keys
        self.store = store
        self.cache_s = cache_s
        self.clock = clock
        self._cache: dict[bytes, tuple[Role | None, float]] = {}
        # best-effort writes (at most one per key per minute), in order, off the request
        self._background = ThreadPoolExecutor(1, thread_name_prefix="intently-key-use")

    async def role_of(self, key: str) -> Role | None:
        raw = key.encode()
        if not raw or len(raw) > MAX_KEY_CHARS:
            return None
        found = key_matches(raw, self.env_keys)
        if found is not None:
            return Role(found)
        if self.store is None:
            return None
        digest = hashlib.sha256(raw).digest()
        now = self.clock()
        cached = self._cache.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        role = await to_thread.run_sync(
            partial(self.store.verify, key, later=self._background.submit)
        )
        if self.cache_s > 0:
            if len(self._cache) >= MAX_CACHED:  # bounded: random keys cannot grow memory
                self._cache.clear()
            ttl = self.cache_s if role is not None else min(self.cache_s, MISS_CACHE_S)
            self._cache[digest] = (role, now + ttl)
        return role

    def close(self) -> None:
        """Stop the background writer; a ``last_used_at`` not yet written is dropped."""
        self._background.shutdown(wait=False, cancel_futures=True)

    def forget(self) -> None:
        """Drop every cached answer (after keys were revoked in this process)."""
        self._cache.clear()

    def has_keys(self) -> bool:
        """Whether any key could authenticate: one in the environment or a live database key."""
        if self.env_keys:
            return True
        if self.store is None:
            return False
        return any(record.active for record in self.store.list())
