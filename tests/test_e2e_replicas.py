"""Two `rasa run` replicas of example_bot sharing Redis, and one of them killed mid-turn.

Redis is the replicas' lock store, tracker store and `dedupe_store`. LoopMessage is played by
the emulator, which records every reply; webhooks are posted straight to either replica, the
way LoopMessage's retries can land on any of them behind a load balancer.
"""

from __future__ import annotations

import itertools
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple
from urllib.parse import quote, urlsplit

import httpx
import pytest
from rasa_bot import BotStack, bot_stack, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.redis, pytest.mark.timeout(600)]

LEASE_SECONDS = 2
# Rasa's Redis lock of a conversation outlives a killed replica by this much (default 60 s).
LOCK_LIFETIME = "5"
_numbers = itertools.count(7000)


def endpoints_yaml(redis_url: str) -> str:
    """Tracker and lock store in Redis (databases 1 and 2; the dedupe store uses 3)."""
    parts = urlsplit(redis_url)
    server = f"  url: {parts.hostname}\n  port: {parts.port}\n"
    return (
        f"tracker_store:\n  type: redis\n{server}  db: 1\n"
        f"lock_store:\n  type: redis\n{server}  db: 2\n"
    )


@pytest.fixture(scope="module")
def cluster(
    trained_bot: Path, redis_server_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[BotStack]:
    bot = tmp_path_factory.mktemp("replicas") / "bot"
    shutil.copytree(trained_bot, bot)
    (bot / "endpoints.yml").write_text(endpoints_yaml(redis_server_url), encoding="utf-8")
    dedupe = redis_server_url.rsplit("/", 1)[0] + "/3"
    extra = f'  dedupe_store: "{dedupe}"\n  dedupe_lease_seconds: {LEASE_SECONDS}\n'
    with bot_stack(
        bot,
        "current",
        extra,
        replicas=2,
        rasa_args=["--enable-api", "--endpoints", "endpoints.yml"],
        env={"TICKET_LOCK_LIFETIME": LOCK_LIFETIME},
    ) as running:
        yield running


def new_contact() -> str:
    return f"+1323555{next(_numbers):04d}"


def payload(contact: str, text: str) -> Dict[str, Any]:
    return {"event": "message_inbound", "contact": contact, "text": text,
            "message_type": "text", "channel": "imessage", "webhook_id": str(uuid.uuid4()),
            "message_id": str(uuid.uuid4()).upper(), "api_version": "1.0"}  # fmt: skip


def replies(stack: BotStack, contact: str, containing: str) -> List[Dict[str, Any]]:
    def found() -> List[Dict[str, Any]]:
        return [m for m in stack.bot_messages(contact) if containing in m["text"]]

    return wait_until(found, 60, f"a reply containing {containing!r} to {contact}")


def turns_in_tracker(stack: BotStack, replica: int, contact: str, message_id: str) -> int:
    """User turns with this message_id in the tracker the replicas share."""
    url = f"{stack.replicas[replica].url}/conversations/{quote(contact, safe='+@')}/tracker"
    events = httpx.get(url, timeout=10).json()["events"]
    return sum(1 for e in events if e["event"] == "user" and e.get("message_id") == message_id)


def redeliver(stack: BotStack, webhook: Dict[str, Any], replica: int) -> List[httpx.Response]:
    """A LoopMessage retry: a 409 (the turn is still finishing) is retried until answered."""
    answers: List[httpx.Response] = []

    def answered() -> bool:
        answers.append(stack.post_webhook(webhook, replica=replica))
        return answers[-1].status_code != 409

    wait_until(answered, 30, "an answer other than 409")
    return answers


def settle(stack: BotStack, contact: str, replica: int) -> None:
    """Turns of one conversation run in order: once `bye` is answered, nothing is pending."""
    assert stack.post_webhook(payload(contact, "bye"), replica=replica).status_code == 200
    replies(stack, contact, "Bye!")


def test_the_same_webhook_on_two_replicas_at_once_runs_one_turn(
    cluster: BotStack, figures: Any
) -> None:
    contacts = [new_contact() for _ in range(6)]
    for contact in contacts:
        cluster.say(contact, "hi")  # each contact opts in by writing first
    for contact in contacts:
        replies(cluster, contact, "example bot")
    webhooks = [payload(contact, "picture") for contact in contacts]
    deliveries: List[Tuple[Dict[str, Any], int]] = [
        (webhook, replica) for webhook in webhooks for replica in (0, 1, 0, 1)
    ]
    with ThreadPoolExecutor(len(deliveries)) as pool:
        answers = list(pool.map(lambda d: cluster.post_webhook(d[0], replica=d[1]), deliveries))
    assert {a.status_code for a in answers} <= {200, 409}
    for webhook in webhooks:
        accepted = [a for (w, _), a in zip(deliveries, answers)
                    if w is webhook and a.json() == {"status": "ok"}]  # fmt: skip
        assert len(accepted) == 1  # one replica took it; the others said duplicate or 409
    for contact in contacts:
        replies(cluster, contact, "A picture, as promised")
    later = [redeliver(cluster, w, replica=r) for w in webhooks for r in (0, 1)]
    assert {answers[-1].json()["status"] for answers in later} == {"duplicate"}
    redelivered = sum(len(answers) for answers in later)
    for index, contact in enumerate(contacts):
        settle(cluster, contact, replica=index % 2)
    for contact, webhook in zip(contacts, webhooks):
        pictures = [m for m in cluster.bot_messages(contact) if "A picture" in m["text"]]
        assert len(pictures) == 1
        assert turns_in_tracker(cluster, 1, contact, webhook["message_id"]) == 1
    figures(
        replicas=2,
        webhooks=len(webhooks),
        deliveries=len(deliveries) + redelivered,
        duplicates_injected=len(deliveries) + redelivered - len(webhooks),
        turns_run=len(webhooks),
        replies_delivered=len(webhooks),
        lost=0,
    )


def test_a_replica_killed_mid_turn_loses_nothing_and_answers_once(
    cluster: BotStack, figures: Any
) -> None:
    contact = new_contact()
    cluster.say(contact, "hi")
    replies(cluster, contact, "example bot")
    cluster.dev("POST", "/emulator/faults", json={"fail_next_send": "timeout"})
    webhook = payload(contact, "picture")
    assert cluster.post_webhook(webhook, replica=0).json() == {"status": "ok"}  # acked

    def hanging() -> bool:
        log = cluster.dev("GET", "/emulator/log")
        return any("holding the request" in entry["detail"] for entry in log)

    wait_until(hanging, 30, "replica 0's reply to hang in LoopMessage")
    cluster.replicas[0].process.kill()  # kill -9, mid-turn, after the ack
    cluster.replicas[0].process.wait()
    cluster.emulator.dispatcher.webhook_url = cluster.replicas[1].webhook_url
    # LoopMessage has its 200 and never re-sends it: only the survivor can save the turn.
    replies(cluster, contact, "A picture, as promised")
    assert "taken over from a replica that stopped" in cluster.replicas[1].log()
    settle(cluster, contact, replica=1)
    assert cluster.post_webhook(webhook, replica=1).json() == {"status": "duplicate"}
    pictures = [m for m in cluster.bot_messages(contact) if "A picture" in m["text"]]
    assert len(pictures) == 1
    assert turns_in_tracker(cluster, 1, contact, webhook["message_id"]) == 1
    figures(
        replicas=2,
        killed_mid_turn=1,
        acked_before_the_kill=1,
        run_by_the_survivor=1,
        replies_delivered=len(pictures),
        lost=0,
    )
