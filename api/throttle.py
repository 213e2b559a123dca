"""Failed key attempts, counted per client address: guessing keys is refused early.

Kept in Django's cache (per process unless CACHES points elsewhere): a key is
256 random bits, so this only spares the database and the logs from someone
trying, it is not what makes keys hard to guess.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60


def _cache_key(address: str) -> str:
    return f"parley:api:failed-keys:{address}"


def failed_keys_wait(*, address: str) -> int:
    """Seconds until `address` may try a key again (0: now)."""
    limit = settings.PARLEY_API_FAILED_KEYS_PER_MINUTE
    if not limit:
        return 0
    now = time.time()
    attempts = [t for t in cache.get(_cache_key(address), []) if t > now - WINDOW_SECONDS]
    if len(attempts) < limit:
        return 0
    return max(int(attempts[-limit] + WINDOW_SECONDS - now + 0.999), 1)


def failed_key_note(*, address: str) -> None:
    """Count one failed attempt of `address`."""
    now = time.time()
    attempts = [t for t in cache.get(_cache_key(address), []) if t > now - WINDOW_SECONDS]
    attempts.append(now)
    cache.set(_cache_key(address), attempts[-100:], WINDOW_SECONDS)
