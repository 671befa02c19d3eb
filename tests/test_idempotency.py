"""Idempotency stores: claim, complete, release, TTL and bounds; Redis shared by two replicas."""

from __future__ import annotations

import asyncio
import uuid
from typing import List

import pytest

from rasa_imessage.idempotency import (
    Claim,
    IdempotencyStore,
    MemoryStore,
    StoreUnavailable,
    create_store,
)
from rasa_imessage.redis_store import RedisStore


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def memory(clock: Clock) -> MemoryStore:
    return MemoryStore(ttl_seconds=100, max_entries=1000, lease_seconds=10, clock=clock)


# -- MemoryStore ---------------------------------------------------------------------------------


async def test_claim_then_in_progress_then_done(memory):
    assert await memory.claim("w1") is Claim.NEW
    assert await memory.claim("w1") is Claim.IN_PROGRESS
    await memory.complete("w1")
    assert await memory.claim("w1") is Claim.DONE
    assert await memory.claim("w2") is Claim.NEW


async def test_release_lets_the_next_retry_claim_again(memory):
    assert await memory.claim("w1") is Claim.NEW
    await memory.release("w1")
    assert await memory.claim("w1") is Claim.NEW


async def test_release_never_forgets_a_completed_webhook(memory):
    await memory.claim("w1")
    await memory.complete("w1")
    await memory.release("w1")
    assert await memory.claim("w1") is Claim.DONE
    await memory.release("never-claimed")  # a no-op, not an error
    assert len(memory) == 1


async def test_done_lasts_the_ttl_exactly(memory, clock):
    await memory.claim("w1")
    clock.now += 5
    await memory.complete("w1")
    clock.now += 99.5
    assert await memory.claim("w1") is Claim.DONE
    clock.now += 0.5
    assert await memory.claim("w1") is Claim.NEW


@pytest.mark.parametrize(
    ("options", "lease"),
    [({"lease_seconds": 10}, 10), ({}, 50)],
    ids=["its own lease", "the lease defaults to the TTL"],
)
async def test_a_pending_claim_lasts_the_lease(clock, options, lease):
    store = MemoryStore(ttl_seconds=50, max_entries=10, clock=clock, **options)
    await store.claim("w1")
    clock.now += lease - 0.5
    assert await store.claim("w1") is Claim.IN_PROGRESS
    clock.now += 0.5
    assert await store.claim("w1") is Claim.NEW


async def test_expired_entries_are_dropped(memory, clock):
    for index in range(5):
        await memory.claim(f"w{index}")
        await memory.complete(f"w{index}")
    assert len(memory) == 5
    clock.now += 100
    await memory.claim("fresh")
    assert len(memory) == 1


async def test_max_entries_drops_the_oldest_first(clock):
    store = MemoryStore(ttl_seconds=100, max_entries=3, clock=clock)
    for key in ("w0", "w1", "w2", "w3"):
        await store.claim(key)
        await store.complete(key)
    assert len(store) == 3
    assert [await store.claim(key) for key in ("w1", "w2", "w3")] == [Claim.DONE] * 3
    assert await store.claim("w0") is Claim.NEW


async def test_completing_refreshes_an_entry_against_eviction(clock):
    store = MemoryStore(ttl_seconds=100, max_entries=2, clock=clock)
    await store.claim("old")
    await store.claim("newer")
    await store.complete("old")  # now the most recent entry
    await store.claim("newest")
    assert await store.claim("old") is Claim.DONE
    assert await store.claim("newer") is Claim.NEW


async def test_base_class_is_an_interface():
    store = IdempotencyStore()
    for method in (store.claim, store.complete, store.release):
        with pytest.raises(NotImplementedError):
            await method("w")
    await store.aclose()  # nothing to close, and no error


def test_create_store_picks_the_backend():
    memory = create_store("memory", 14400, 5000)
    assert isinstance(memory, MemoryStore)
    assert (memory._ttl, memory._max) == (14400, 5000)
    redis = create_store("redis://127.0.0.1:1/0", 14400, 5000)
    assert isinstance(redis, RedisStore)
    assert (redis._ttl, redis._lease) == (14400, 60)


async def test_a_redis_that_does_not_answer_is_store_unavailable_for_every_call():
    """Not redis-py's own errors: callers (intake's 503s) catch the store's one failure."""
    store = RedisStore("redis://127.0.0.1:1/0")  # nothing listens on port 1
    try:
        with pytest.raises(StoreUnavailable, match="redis call failed"):
            await store.claim("w")
        for end in (store.complete, store.release, store.abandon):
            store.adopt("w", "pending:token")  # a claim this store holds
            with pytest.raises(StoreUnavailable, match="redis call failed"):
                await end("w")
    finally:
        await store.aclose()


async def test_a_redis_that_accepts_but_never_answers_is_store_unavailable_not_a_hang(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Redis that stalls (accepts, then says nothing) must not hold every webhook's ack:
    the client's timeout turns it into the store's one failure, so intake answers 503."""
    from rasa_imessage import redis_store

    monkeypatch.setattr(redis_store, "REDIS_TIMEOUT", 0.2)
    held: List[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # reads nothing, answers nothing, keeps the connection open

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    store = RedisStore(f"redis://127.0.0.1:{port}/0")
    try:
        # The guard only stops a hang from stalling the suite; the client's own timeout
        # (0.2 s here) is what ends the call.
        with pytest.raises(StoreUnavailable, match="redis call failed: TimeoutError"):
            await asyncio.wait_for(store.claim("w"), timeout=30)
        assert held  # it did connect: the timeout is the command's, not a refusal
    finally:
        await store.aclose()
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


# -- RedisStore on a real redis-server -----------------------------------------------------------


def webhook_id() -> str:
    return str(uuid.uuid4())


async def expire_now(raw, key: str) -> None:
    """What the lease running out does, without waiting for it."""
    await raw.pexpire(RedisStore.prefix + key, 1)
    while await raw.exists(RedisStore.prefix + key):
        await asyncio.sleep(0.001)


redis_only = pytest.mark.redis


@redis_only
async def test_two_replicas_claiming_at_once_get_exactly_one_new(replicas):
    first, second = replicas(), replicas()
    for _ in range(20):
        key = webhook_id()
        claims = await asyncio.gather(*(store.claim(key) for store in [first, second] * 5))
        assert claims.count(Claim.NEW) == 1
        assert set(claims) == {Claim.NEW, Claim.IN_PROGRESS}


@redis_only
async def test_completed_on_one_replica_is_done_on_the_other(replicas, raw):
    first, second = replicas(ttl_seconds=21600), replicas(ttl_seconds=21600)
    key = webhook_id()
    assert await first.claim(key) is Claim.NEW
    assert await second.claim(key) is Claim.IN_PROGRESS
    await first.complete(key)
    assert await second.claim(key) is Claim.DONE
    assert await raw.get(RedisStore.prefix + key) == "done"
    assert 21590 <= await raw.ttl(RedisStore.prefix + key) <= 21600


@redis_only
async def test_a_pending_claim_expires_after_the_lease(replicas, raw):
    first, second = replicas(lease_seconds=600), replicas()
    key = webhook_id()
    assert await first.claim(key) is Claim.NEW
    assert 590 <= await raw.ttl(RedisStore.prefix + key) <= 600
    await expire_now(raw, key)
    assert await second.claim(key) is Claim.NEW


@redis_only
@pytest.mark.parametrize(
    ("steps", "then"),
    [
        ([(0, "claim"), (0, "release")], Claim.NEW),
        ([(0, "claim"), (0, "complete"), (0, "release"), (1, "release")], Claim.DONE),
        ([(0, "claim"), (1, "release")], Claim.IN_PROGRESS),
    ],
    ids=[
        "a release lets a retry on another replica run it",
        "a release never undoes a completion",
        "a replica that never claimed cannot release",
    ],
)
async def test_release_across_replicas(replicas, steps, then):
    stores = [replicas(), replicas()]
    key = webhook_id()
    for replica, operation in steps:
        await getattr(stores[replica], operation)(key)
    assert await stores[1].claim(key) is then


@redis_only
async def test_a_late_release_leaves_the_claim_another_replica_took_over(replicas, raw):
    slow, taker, third = replicas(), replicas(), replicas()
    key = webhook_id()
    assert await slow.claim(key) is Claim.NEW
    await expire_now(raw, key)  # slow's turn outlived its lease
    assert await taker.claim(key) is Claim.NEW
    await slow.release(key)  # slow's turn failed at last
    assert await third.claim(key) is Claim.IN_PROGRESS
    await taker.complete(key)
    assert await third.claim(key) is Claim.DONE


@redis_only
async def test_keys_are_prefixed(replicas, raw):
    store = replicas()
    key = webhook_id()
    await store.claim(key)
    assert await raw.exists("rasa_imessage:webhook:" + key) == 1
    assert await raw.exists(key) == 0
