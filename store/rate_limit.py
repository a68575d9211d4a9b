"""Token buckets: a rate limit that every worker shares, such as Postiz's posts per hour.

A bucket holds up to `capacity` tokens and refills continuously at `capacity` per
`per_seconds`; each call takes one token or says how long until one is there. For Postiz:
key ``postiz:<organisation or base-URL hash>``, capacity 90, per_seconds 3600.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Protocol

# Read, refill, take and write in one script, so two workers never spend the same token.
# ARGV[3] is the caller's clock, or '' for Redis's own: one clock for every worker host.
# (TIME before a write is allowed because Redis 5+ replicates a script's effects.)
# The answer is a string: Redis would truncate a Lua number to an integer.
_TAKE = """
local capacity = tonumber(ARGV[1])
local per_seconds = tonumber(ARGV[2])
local now = tonumber(ARGV[3])
if not now then
  local clock = redis.call('TIME')
  now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
end
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
if now > at then
  tokens = math.min(capacity, tokens + (now - at) * capacity / per_seconds)
  at = now
end
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) * per_seconds / capacity
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', at)
redis.call('PEXPIRE', KEYS[1], math.ceil(per_seconds * 1000))
return string.format('%.17g', wait)
"""


class TokenBucket(Protocol):
    """A rate limit per key, shared by everyone holding the same bucket store."""

    def take(self, key: str, *, capacity: int, per_seconds: float,
             now: float | None = None) -> float:
        """Take one token from the key's bucket if it has one.

        Args:
            key: names the limited thing, e.g. ``postiz:<organisation>``.
            capacity: the most tokens the bucket holds (a full bucket allows a burst).
            per_seconds: how long an empty bucket takes to fill up again.
            now: the clock, for tests; by default the store's own.
        Returns:
            0.0 when a token was taken, else the seconds until the next one (none taken).
        """


def _check(capacity: int, per_seconds: float) -> None:
    if capacity < 1:
        raise ValueError(f"capacity must be at least 1, not {capacity}")
    if per_seconds <= 0:
        raise ValueError(f"per_seconds must be positive, not {per_seconds}")


class RedisTokenBucket:
    """Buckets in Redis, atomic across processes; an idle bucket's key expires once full."""

    def __init__(self, redis: Any, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix
        self._take = redis.register_script(_TAKE)

    def take(self, key: str, *, capacity: int, per_seconds: float,
             now: float | None = None) -> float:
        """Take one token if there is one: 0.0, else the seconds until the next."""
        _check(capacity, per_seconds)
        clock = "" if now is None else repr(float(now))
        wait = self._take(keys=[f"{self.prefix}:ratelimit:{key}"],
                          args=[capacity, repr(float(per_seconds)), clock])
        return float(wait)


class MemoryTokenBucket:
    """The same contract inside one process (embedded mode)."""

    def __init__(self) -> None:
        # Keyed by bucket: (tokens, last refill). A handful of keys (one per Postiz
        # organisation), so nothing is pruned.
        self._buckets: dict[str, tuple[float, float]] = {}
        self._mutex = threading.Lock()

    def take(self, key: str, *, capacity: int, per_seconds: float,
             now: float | None = None) -> float:
        """Take one token if there is one: 0.0, else the seconds until the next."""
        _check(capacity, per_seconds)
        with self._mutex:
            clock = time.monotonic() if now is None else now
            tokens, at = self._buckets.get(key, (float(capacity), clock))
            if clock > at:
                # The same arithmetic, in the same order, as the Lua script.
                tokens = min(capacity, tokens + (clock - at) * capacity / per_seconds)
                at = clock
            wait = 0.0
            if tokens >= 1:
                tokens -= 1
            else:
                wait = (1 - tokens) * per_seconds / capacity
            self._buckets[key] = (tokens, at)
            return wait
