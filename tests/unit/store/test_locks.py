"""Project locks, in memory and in Redis: one holder, released by the holder, expiring by TTL."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator

import pytest

from store.locks import MemoryProjectLock, ProjectLock, RedisProjectLock
from store.services import redis_client

TTL = 30.0
SHORT_TTL = 0.15


@pytest.fixture(params=["memory", "redis"])
def lock(request: pytest.FixtureRequest) -> Iterator[ProjectLock]:
    """Each lock implementation; the Redis one under a unique prefix, its keys deleted after."""
    if request.param == "memory":
        yield MemoryProjectLock()
        return
    client = redis_client(request.getfixturevalue("redis_url"))
    prefix = f"vftest-{secrets.token_hex(4)}"
    yield RedisProjectLock(client, prefix)
    for key in client.scan_iter(f"{prefix}:*"):
        client.delete(key)
    client.close()


def test_first_job_takes_the_lock(lock: ProjectLock) -> None:
    """A free project's lock goes to the first job that asks."""
    assert lock.holder("p1") is None
    assert lock.acquire("p1", "job-a", TTL) is True
    assert lock.holder("p1") == "job-a"


def test_second_job_is_refused(lock: ProjectLock) -> None:
    """While one job holds a project's lock, another job (or the same one) cannot take it."""
    assert lock.acquire("p1", "job-a", TTL)
    assert lock.acquire("p1", "job-b", TTL) is False
    assert lock.acquire("p1", "job-a", TTL) is False
    assert lock.holder("p1") == "job-a"


def test_projects_are_independent(lock: ProjectLock) -> None:
    """Locks of different projects do not interfere."""
    assert lock.acquire("p1", "job-a", TTL)
    assert lock.acquire("p2", "job-b", TTL)
    assert (lock.holder("p1"), lock.holder("p2")) == ("job-a", "job-b")


def test_only_the_holder_releases(lock: ProjectLock) -> None:
    """release by another job is a no-op; release by the holder frees the project."""
    assert lock.acquire("p1", "job-a", TTL)
    lock.release("p1", "job-b")
    assert lock.holder("p1") == "job-a"
    lock.release("p1", "job-a")
    assert lock.holder("p1") is None
    assert lock.acquire("p1", "job-b", TTL)


def test_releasing_a_free_lock_is_harmless(lock: ProjectLock) -> None:
    """Releasing a lock nobody holds does nothing and raises nothing."""
    lock.release("p-free", "job-a")
    assert lock.holder("p-free") is None


def test_lock_expires_after_ttl(lock: ProjectLock) -> None:
    """A lock never released (its worker died) frees itself after the TTL."""
    assert lock.acquire("p1", "job-a", SHORT_TTL)
    assert lock.acquire("p1", "job-b", TTL) is False
    time.sleep(SHORT_TTL + 0.1)
    assert lock.holder("p1") is None
    assert lock.acquire("p1", "job-b", TTL)
    assert lock.holder("p1") == "job-b"


def test_refresh_by_holder_extends_the_lock(lock: ProjectLock) -> None:
    """The holder's heartbeat pushes the expiry out beyond the original TTL."""
    assert lock.acquire("p1", "job-a", SHORT_TTL)
    assert lock.refresh("p1", "job-a", TTL) is True
    time.sleep(SHORT_TTL + 0.1)
    assert lock.holder("p1") == "job-a"
    assert lock.acquire("p1", "job-b", TTL) is False


def test_refresh_by_another_job_fails(lock: ProjectLock) -> None:
    """A job that does not hold the lock cannot extend it, nor take it by refreshing."""
    assert lock.acquire("p1", "job-a", SHORT_TTL)
    assert lock.refresh("p1", "job-b", TTL) is False
    assert lock.refresh("p-free", "job-b", TTL) is False
    assert lock.holder("p-free") is None
    time.sleep(SHORT_TTL + 0.1)
    assert lock.holder("p1") is None


def test_refresh_after_expiry_fails(lock: ProjectLock) -> None:
    """Once a lock expired, its old holder's refresh reports that it lost the lock."""
    assert lock.acquire("p1", "job-a", SHORT_TTL)
    time.sleep(SHORT_TTL + 0.1)
    assert lock.refresh("p1", "job-a", TTL) is False
    assert lock.holder("p1") is None


def test_release_after_takeover_keeps_the_new_holder(lock: ProjectLock) -> None:
    """A dead worker coming back to release after expiry cannot free the new holder's lock."""
    assert lock.acquire("p1", "job-a", SHORT_TTL)
    time.sleep(SHORT_TTL + 0.1)
    assert lock.acquire("p1", "job-b", TTL)
    lock.release("p1", "job-a")
    assert lock.holder("p1") == "job-b"


def test_exactly_one_of_many_racers_wins(lock: ProjectLock) -> None:
    """Jobs racing for the same free project get exactly one True between them."""
    results: dict[int, bool] = {}
    barrier = threading.Barrier(8)

    def race(n: int) -> None:
        barrier.wait()
        results[n] = lock.acquire("p-race", f"job-{n}", TTL)

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [n for n, won in results.items() if won]
    assert len(results) == 8
    assert len(winners) == 1
    assert lock.holder("p-race") == f"job-{winners[0]}"


def test_redis_lock_key_and_expiry(redis_url: str) -> None:
    """The Redis lock is one key under the prefix, holding the job id, with a TTL in ms."""
    client = redis_client(redis_url)
    prefix = f"vftest-{secrets.token_hex(4)}"
    try:
        lock = RedisProjectLock(client, prefix)
        assert lock.acquire("p1", "job-a", 60)
        key = f"{prefix}:lock:project:p1"
        assert client.get(key) == b"job-a"
        assert 59_000 < client.pttl(key) <= 60_000
        assert lock.refresh("p1", "job-a", 120)
        assert 119_000 < client.pttl(key) <= 120_000
        lock.release("p1", "job-a")
        assert client.exists(key) == 0
    finally:
        for key in client.scan_iter(f"{prefix}:*"):
            client.delete(key)
        client.close()


def test_redis_locks_are_shared_between_clients(redis_url: str) -> None:
    """Two processes' clients (API and worker) see the same lock."""
    prefix = f"vftest-{secrets.token_hex(4)}"
    api_client, worker_client = redis_client(redis_url), redis_client(redis_url)
    try:
        api_lock = RedisProjectLock(api_client, prefix)
        worker_lock = RedisProjectLock(worker_client, prefix)
        assert api_lock.acquire("p1", "job-a", TTL)
        assert worker_lock.holder("p1") == "job-a"
        assert worker_lock.acquire("p1", "job-b", TTL) is False
        worker_lock.release("p1", "job-a")
        assert api_lock.holder("p1") is None
    finally:
        for key in api_client.scan_iter(f"{prefix}:*"):
            api_client.delete(key)
        api_client.close()
        worker_client.close()
