"""Token buckets: per socket for frames, per client IP for handshakes."""

from __future__ import annotations

import time
from collections import OrderedDict


class TokenBucket:
    """A classic token bucket: `rate` tokens per second refilled, at most `burst` held."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: float, *, now: float | None = None) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = float(burst)
        self.stamp = time.monotonic() if now is None else now

    def take(self, now: float | None = None) -> bool:
        """Take one token; False when the bucket is empty (rate <= 0 means unlimited)."""
        if self.rate <= 0:
            return True
        now = time.monotonic() if now is None else now
        elapsed = now - self.stamp
        self.stamp = now
        self.tokens = min(self.burst, self.tokens + elapsed * self.rate)
        # The epsilon: a client sending exactly at the rate must not lose to rounding.
        if self.tokens >= 1.0 - 1e-9:
            self.tokens = max(0.0, self.tokens - 1.0)
            return True
        return False


class KeyedBuckets:
    """One bucket per key (a client IP), the least recently used dropped past `max_keys`."""

    def __init__(self, rate: float, burst: float, *, max_keys: int = 65536) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> bool:
        """Take one token from `key`'s bucket."""
        if self.rate <= 0:
            return True
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now=now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.take(now)
