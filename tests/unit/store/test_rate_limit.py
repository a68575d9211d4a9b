"""Token buckets, in memory and in Redis: a burst of `capacity`, a steady refill, no overspend."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from store.rate_limit import MemoryTokenBucket, RedisTokenBucket, TokenBucket
from store.services import redis_client

HOUR = 3600.0
ROUNDS = 10
T0 = 1_700_000_000.0


@pytest.fixture(params=["memory", "redis"])
def bucket(request: pytest.FixtureRequest) -> Iterator[TokenBucket]:
    """Each bucket implementation; the Redis one under a unique prefix, its keys deleted after."""
    if request.param == "memory":
        yield MemoryTokenBucket()
        return
    client = redis_client(request.getfixturevalue("redis_url"))
    prefix = f"vftest-{secrets.token_hex(4)}"
    yield RedisTokenBucket(client, prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def _take(bucket: TokenBucket, now: float, key: str = "postiz:org") -> float:
    return bucket.take(key, capacity=4, per_seconds=HOUR, now=now)


def test_a_full_bucket_allows_a_burst_then_says_when(bucket: TokenBucket) -> None:
    """Capacity 4 per hour: four takes succeed at once; the fifth waits a quarter hour."""
    assert [_take(bucket, T0) for _ in range(4)] == [0.0, 0.0, 0.0, 0.0]
    assert _take(bucket, T0) == pytest.approx(900.0)
    assert _take(bucket, T0 + 300) == pytest.approx(600.0)  # asking took nothing


def test_tokens_refill_over_time(bucket: TokenBucket) -> None:
    """One token comes back every 900 s, and never more than the capacity."""
    for _ in range(4):
        _take(bucket, T0)
    assert _take(bucket, T0 + 900) == 0.0
    assert _take(bucket, T0 + 900) == pytest.approx(900.0)
    # After a long idle spell the bucket is full again, but holds no more than four.
    later = T0 + 10 * HOUR
    assert [_take(bucket, later) for _ in range(5)][-2:] == [0.0, pytest.approx(900.0)]


def test_keys_are_independent(bucket: TokenBucket) -> None:
    """Emptying one organisation's bucket leaves another's full."""
    for _ in range(4):
        _take(bucket, T0, "postiz:a")
    assert _take(bucket, T0, "postiz:a") > 0
    assert _take(bucket, T0, "postiz:b") == 0.0


def test_the_store_clock_is_used_by_default(bucket: TokenBucket) -> None:
    """Without an injected clock the bucket still limits: capacity 2, the third waits."""
    waits = [bucket.take("k", capacity=2, per_seconds=60) for _ in range(3)]
    assert waits[:2] == [0.0, 0.0] and 0 < waits[2] <= 30


@pytest.mark.parametrize(("capacity", "per_seconds"), [(0, HOUR), (4, 0), (4, -1)])
def test_nonsense_limits_refused(bucket: TokenBucket, capacity: int, per_seconds: float) -> None:
    """A bucket that could never hold a token, or never refill, is a mistake."""
    with pytest.raises(ValueError):
        bucket.take("k", capacity=capacity, per_seconds=per_seconds)


def test_redis_key_expires_once_the_bucket_would_be_full(redis_url: str) -> None:
    """An idle bucket leaves nothing behind in Redis after per_seconds."""
    client = redis_client(redis_url)
    prefix = f"vftest-{secrets.token_hex(4)}"
    try:
        RedisTokenBucket(client, prefix).take("k", capacity=4, per_seconds=HOUR)
        assert 0 < client.pttl(f"{prefix}:ratelimit:k") <= HOUR * 1000
    finally:
        client.delete(f"{prefix}:ratelimit:k")
        client.close()


def test_concurrent_threads_never_take_more_than_the_capacity(bucket: TokenBucket) -> None:
    """Eight threads released together at a capacity-4 bucket: exactly four succeed, each round."""
    threads, barrier = 8, threading.Barrier(8)
    for round_ in range(ROUNDS):
        key = f"race:{round_}:{secrets.token_hex(4)}"
        waits: list[float] = []
        lock = threading.Lock()

        def take(key: str = key, waits: list[float] = waits, lock: threading.Lock = lock) -> None:
            barrier.wait(timeout=10)
            wait = bucket.take(key, capacity=4, per_seconds=HOUR)
            with lock:
                waits.append(wait)

        workers = [threading.Thread(target=take) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=10)
        assert sorted(waits)[:4] == [0.0] * 4, f"round {round_}"
        assert all(wait > 0 for wait in sorted(waits)[4:]), f"round {round_}"


def _take_in_rounds(redis_url: str, prefix: str, keys: list[str], barrier: Any,
                    results: Any) -> None:
    """In a spawned process: at each round's barrier, try to take four tokens of its key."""
    client = redis_client(redis_url)
    bucket = RedisTokenBucket(client, prefix)
    for key in keys:
        barrier.wait(timeout=30)
        taken = sum(bucket.take(key, capacity=4, per_seconds=HOUR) == 0.0 for _ in range(4))
        results.put((key, taken))
    client.close()


def test_concurrent_processes_never_take_more_than_the_capacity(redis_url: str) -> None:
    """Two worker processes racing at each of several fresh buckets share exactly four tokens."""
    context = multiprocessing.get_context("spawn")
    prefix = f"vftest-{secrets.token_hex(4)}"
    keys = [f"race:{n}" for n in range(ROUNDS)]
    barrier, results = context.Barrier(2), context.Queue()
    processes = [context.Process(target=_take_in_rounds,
                                 args=(redis_url, prefix, keys, barrier, results))
                 for _ in range(2)]
    for process in processes:
        process.start()
    try:
        taken: dict[str, int] = dict.fromkeys(keys, 0)
        for _ in range(2 * ROUNDS):
            key, count = results.get(timeout=60)
            taken[key] += count
    finally:
        for process in processes:
            process.join(timeout=30)
        client = redis_client(redis_url)
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()
    assert taken == dict.fromkeys(keys, 4)
    assert [process.exitcode for process in processes] == [0, 0]
