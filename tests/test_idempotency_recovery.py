"""Redis claims as leases: renewed while their replica lives, taken over with the body after.

A webhook is acked before its turn runs, and LoopMessage never re-sends an acked webhook, so
a replica that dies between ack and turn would lose it. These tests drive `maintain`, the
renew-and-take-over step every replica runs, against a real redis-server.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import List

import pytest

from rasa_imessage.idempotency import MAX_RECOVERIES, Claim, MemoryStore, Recovered
from rasa_imessage.redis_store import RedisStore

pytestmark = pytest.mark.redis

BODY = '{"event": "message_inbound", "contact": "+13231112233", "text": "hi"}'


def webhook_id() -> str:
    return str(uuid.uuid4())


def mine(recovered: List[Recovered], *keys: str) -> List[Recovered]:
    """This test's webhooks among those taken over (the Redis server is shared by the run)."""
    return [r for r in recovered if r.key in keys]


async def lease_runs_out(raw, key: str) -> None:
    """What a lease nobody renews comes to, without waiting for it."""
    await raw.delete(RedisStore.prefix + key)
    await raw.zadd(RedisStore.pending_key, {key: 0})


async def test_renewing_resets_the_lease_of_every_claim_held(replicas, raw):
    owner = replicas(lease_seconds=600)
    keys = [webhook_id() for _ in range(3)]
    for key in keys:
        assert await owner.claim(key, BODY) is Claim.NEW
        await raw.pexpire(RedisStore.prefix + key, 5000)  # the lease nearly over
    assert mine(await owner.maintain(), *keys) == []
    for key in keys:
        assert await raw.pttl(RedisStore.prefix + key) > 590_000
        deadline = await raw.zscore(RedisStore.pending_key, key)
        assert deadline is not None and deadline > 0


async def test_a_living_replicas_claim_is_left_alone(replicas):
    owner, other = replicas(), replicas()
    key = webhook_id()
    await owner.claim(key, BODY)
    assert mine(await other.maintain(), key) == []
    assert await other.claim(key, BODY) is Claim.IN_PROGRESS


async def test_a_dead_replicas_webhook_is_taken_over_with_its_body(replicas, raw):
    dead, survivor, third = replicas(), replicas(), replicas()
    key = webhook_id()
    assert await dead.claim(key, BODY) is Claim.NEW
    await lease_runs_out(raw, key)
    assert mine(await survivor.maintain(), key) == [Recovered(key, BODY, 1)]
    assert await third.claim(key, BODY) is Claim.IN_PROGRESS  # the survivor holds it now
    assert mine(await third.maintain(), key) == []
    await survivor.complete(key)
    assert await third.claim(key, BODY) is Claim.DONE
    assert await raw.exists(RedisStore.inbox_prefix + key) == 0
    assert await raw.zscore(RedisStore.pending_key, key) is None


async def test_replicas_taking_over_at_once_take_each_webhook_once(replicas, raw):
    dead = replicas()
    keys = [webhook_id() for _ in range(10)]
    for key in keys:
        await dead.claim(key, BODY)
        await lease_runs_out(raw, key)
    survivors = [replicas() for _ in range(4)]
    batches = await asyncio.gather(*(store.maintain() for store in survivors))
    taken = sorted(r.key for batch in batches for r in mine(batch, *keys))
    assert taken == sorted(keys)


async def test_abandon_at_shutdown_hands_the_webhook_over_at_once(replicas):
    stopping, survivor = replicas(), replicas()
    key = webhook_id()
    await stopping.claim(key, BODY)
    await stopping.abandon(key)
    assert mine(await survivor.maintain(), key) == [Recovered(key, BODY, 1)]


async def test_release_after_a_failed_turn_forgets_the_body(replicas, raw):
    owner, other = replicas(), replicas()
    key = webhook_id()
    await owner.claim(key, BODY)
    await owner.release(key)
    assert mine(await other.maintain(), key) == []
    assert await raw.exists(RedisStore.inbox_prefix + key) == 0
    assert await other.claim(key, BODY) is Claim.NEW  # a LoopMessage retry may run it again


async def test_a_webhook_that_never_completes_is_given_up(replicas, raw):
    first = replicas()
    key = webhook_id()
    await first.claim(key, BODY)
    seen = []
    for _ in range(MAX_RECOVERIES + 1):
        await lease_runs_out(raw, key)
        seen += mine(await replicas().maintain(), key)
    assert [r.attempt for r in seen] == list(range(1, MAX_RECOVERIES + 2))
    assert seen[-1].body is None and all(r.body == BODY for r in seen[:-1])
    await lease_runs_out(raw, key)
    assert mine(await replicas().maintain(), key) == []


async def test_a_claim_without_a_body_is_not_taken_over(replicas, raw):
    owner, other = replicas(), replicas()
    key = webhook_id()
    await owner.claim(key)
    await raw.delete(RedisStore.prefix + key)
    assert mine(await other.maintain(), key) == []


async def test_a_stalled_replica_lets_go_of_what_was_taken_over(replicas, raw):
    stalled, taker, third = replicas(), replicas(), replicas()
    key = webhook_id()
    await stalled.claim(key, BODY)
    await lease_runs_out(raw, key)
    assert [r.key for r in mine(await taker.maintain(), key)] == [key]
    await stalled.maintain()  # its renewal finds the claim gone: it stops holding it
    await stalled.release(key)  # its turn failed at last: nothing of the taker's is touched
    assert await third.claim(key, BODY) is Claim.IN_PROGRESS
    assert await raw.exists(RedisStore.inbox_prefix + key) == 1


async def test_the_memory_store_has_nothing_to_maintain():
    store = MemoryStore(ttl_seconds=100, max_entries=1000)
    assert store.maintenance_interval is None
    assert await store.claim("w", BODY) is Claim.NEW
    await store.abandon("w")  # a release: the next retry runs it
    assert await store.claim("w") is Claim.NEW
    assert await store.maintain() == []
