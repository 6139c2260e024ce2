"""Unit tests of the token buckets (per socket frames, per IP handshakes), on a fake clock."""

from __future__ import annotations

from realtime.socket.ratelimit import KeyedBuckets, TokenBucket


def takes(bucket, n, now):
    return [bucket.take(now=now) for _ in range(n)]


def test_a_full_bucket_allows_a_burst_then_refuses():
    bucket = TokenBucket(rate=1, burst=3, now=0)
    assert takes(bucket, 4, now=0) == [True, True, True, False]


def test_tokens_refill_at_the_rate():
    bucket = TokenBucket(rate=2, burst=2, now=0)
    takes(bucket, 2, now=0)
    assert bucket.take(now=0.4) is False  # 0.8 of a token
    assert bucket.take(now=0.5) is True  # 0.8 + 0.2 = 1
    assert bucket.take(now=0.5) is False


def test_refill_never_exceeds_the_burst():
    bucket = TokenBucket(rate=10, burst=3, now=0)
    assert takes(bucket, 5, now=1000) == [True, True, True, False, False]


def test_a_steady_rate_under_the_limit_is_never_refused():
    bucket = TokenBucket(rate=10, burst=1, now=0)
    assert all(bucket.take(now=i * 0.1) for i in range(1, 200))


def test_a_flood_is_held_to_the_rate():
    bucket = TokenBucket(rate=10, burst=5, now=0)
    allowed = sum(
        bucket.take(now=i / 1000) for i in range(2000)
    )  # 1000 frames/s for 2 s
    assert 5 + 20 - 1 <= allowed <= 5 + 20 + 1


def test_a_rate_of_zero_means_unlimited():
    bucket = TokenBucket(rate=0, burst=0, now=0)
    assert all(takes(bucket, 1000, now=0))


def test_keyed_buckets_are_independent_per_key():
    buckets = KeyedBuckets(rate=1, burst=2)
    assert [buckets.take("a", now=0) for _ in range(3)] == [True, True, False]
    assert [buckets.take("b", now=0) for _ in range(3)] == [True, True, False]


def test_keyed_buckets_refill():
    buckets = KeyedBuckets(rate=1, burst=1)
    assert buckets.take("a", now=0) is True
    assert buckets.take("a", now=0.5) is False
    assert buckets.take("a", now=1.5) is True


def test_keyed_buckets_forget_the_least_recently_used_key_past_the_bound():
    buckets = KeyedBuckets(rate=1, burst=1, max_keys=2)
    buckets.take("a", now=0)
    buckets.take("b", now=0)
    buckets.take("a", now=0)  # a is now the most recent
    buckets.take("c", now=0)  # drops b
    assert set(buckets._buckets) == {"a", "c"}
    assert buckets.take("b", now=0) is True  # b starts afresh


def test_keyed_buckets_with_rate_zero_keep_no_state():
    buckets = KeyedBuckets(rate=0, burst=0)
    assert all(buckets.take(str(i), now=0) for i in range(100))
    assert not buckets._buckets
