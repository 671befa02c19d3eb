"""`rasa-imessage check` offline and against the LoopMessage stand-in on 127.0.0.1."""

from __future__ import annotations

import uuid
from types import SimpleNamespace
from typing import Any, Dict

import pytest
from lm_standin import LoopMessageStandIn, Reply

from rasa_imessage import checks
from rasa_imessage.checks import check_credentials

BLOCK = {"api_key": "org-key", "webhook_auth": "a" * 40}
LEGACY_BLOCK = {"api": "legacy", "authorization_key": "auth-key", "secret_key": "secret-key",
                "sender_name": "bot@imsg.co", "webhook_auth": "a" * 40}  # fmt: skip
# The key check asks for the status of a random message id; a fixed one gives a fixed path.
PROBE_ID = uuid.UUID(int=0x5EED)
STATUS = f"/v1/message/status/rasa-imessage-check-{PROBE_ID.hex}/"
LEGACY_STATUS = f"/api/v1/message/status/rasa-imessage-check-{PROBE_ID.hex}/"
SENDERS = "/api/v1/sender/list/"


@pytest.fixture
def fixed_probe_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "uuid", SimpleNamespace(uuid4=lambda: PROBE_ID))


def against(block: Dict[str, Any], lm: LoopMessageStandIn) -> Dict[str, Any]:
    return {**block, "base_url": lm.url}


async def test_offline_check_names_unset_variables_and_bad_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LM_NOT_SET", raising=False)
    report = await check_credentials({"api_key": "${LM_NOT_SET}", "webhook_auth": "x" * 40,
                                      "typing_secnds": 1}, online=False)  # fmt: skip
    assert not report.ok
    text = report.render()
    assert "LM_NOT_SET is not set" in text and "typing_secnds" in text and "NOT ready" in text


async def test_short_webhook_auth_is_a_warning_not_a_failure() -> None:
    report = await check_credentials({"api_key": "k", "webhook_auth": "short"}, online=False)
    assert report.ok and "webhook_auth is short" in report.render()


@pytest.mark.parametrize(
    ("reply", "ok"),
    [
        (Reply(404), True),
        (Reply(400, json={"error_code": 130, "message": "bad key"}), False),
        (Reply(400, json={"success": False, "code": 110}), False),
    ],
)
async def test_key_check_reads_loopmessages_answer(
    reply: Reply, ok: bool, lm: LoopMessageStandIn, fixed_probe_id: None
) -> None:
    route = lm.get(STATUS).queue(reply)
    senders = lm.get(SENDERS).respond(200, json={"num_pages": 1, "items": [{"id": "S-1",
                                                 "status": "active"}]})  # fmt: skip
    report = await check_credentials(against(BLOCK, lm))
    assert route.call_count == 1 and route.calls[-1].headers["Authorization"] == "org-key"
    # the status query, then the senders only once the keys were accepted
    assert lm.calls == route.calls + (senders.calls if ok else [])
    assert senders.call_count == (1 if ok else 0)
    assert report.ok is ok, report.render()
    assert "org-key" not in report.render()


async def test_legacy_key_check_uses_the_legacy_path_and_headers(
    lm: LoopMessageStandIn, fixed_probe_id: None
) -> None:
    route = lm.get(LEGACY_STATUS).respond(404)
    report = await check_credentials(against(LEGACY_BLOCK, lm))
    assert report.ok, report.render()
    assert lm.calls == route.calls and route.call_count == 1
    headers = route.calls[-1].headers
    assert headers["Authorization"] == "auth-key" and headers["Loop-Secret-Key"] == "secret-key"
    assert "auth-key" not in report.render() and "secret-key" not in report.render()


@pytest.mark.parametrize(
    ("sender", "items", "ok", "says"),
    [
        (
            None,
            [{"id": "S-1", "status": "active"}, {"id": "S-2", "status": "pending"}],
            True,
            "active senders: S-1",
        ),
        ("S-1", [{"id": "S-1", "status": "active"}], True, "sender 'S-1' is one of"),
        (
            "S-9",
            [{"id": "S-1", "status": "active"}],
            False,
            "'S-9' is not one of this "
            "organization's senders (S-1): LoopMessage refuses sends naming it (code 220)",
        ),
        ("S-1", [{"id": "S-1", "status": "suspended"}], True, "'S-1' is suspended"),
        (None, [], True, "no active sender"),
    ],
)
async def test_the_configured_sender_is_checked_against_the_organizations(
    sender: Any, items: Any, ok: bool, says: str, lm: LoopMessageStandIn, fixed_probe_id: None
) -> None:
    lm.get(STATUS).respond(404)
    lm.get(SENDERS).respond(200, json={"num_pages": 1, "items": items})
    block = {**against(BLOCK, lm), **({"sender": sender} if sender else {})}
    report = await check_credentials(block)
    assert report.ok is ok and says in report.render(), report.render()


async def test_a_sender_list_refused_is_a_warning(
    lm: LoopMessageStandIn, fixed_probe_id: None
) -> None:
    lm.get(STATUS).respond(404)
    lm.get(SENDERS).respond(400, json={"success": False, "code": 290, "message": "no"})
    report = await check_credentials(against({**BLOCK, "sender": "S-1"}, lm))
    assert report.ok and "could not list your senders" in report.render()


def test_cli_check_reads_the_file_and_exits_non_zero_on_problems(tmp_path, capsys) -> None:
    from rasa_imessage.cli import main
    from rasa_imessage.exit_codes import EXIT_BAD_CONFIG, EXIT_OK

    good = tmp_path / "credentials.yml"
    good.write_text(
        "rasa_imessage.IMessageInput:\n  api_key: k\n  webhook_auth: " + "s" * 40 + "\n"
    )
    assert main(["check", str(good), "--offline"]) == EXIT_OK
    assert "credentials: ready" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("rest:\n")
    assert main(["check", str(bad), "--offline"]) == EXIT_BAD_CONFIG
    assert "no rasa_imessage.IMessageInput block" in capsys.readouterr().err


async def test_public_url_that_does_not_answer_or_is_not_the_channel_is_a_warning(
    lm: LoopMessageStandIn, fixed_probe_id: None
) -> None:
    from rasa_imessage.rasa_process import free_port

    lm.get(STATUS).respond(404)
    lm.get(SENDERS).respond(
        200, json={"num_pages": 1, "items": [{"id": "S-1", "status": "active"}]}
    )
    nobody = f"http://127.0.0.1:{free_port()}"
    report = await check_credentials({**against(BLOCK, lm), "public_url": nobody})
    assert report.ok and "did not answer (ClientConnectorError)" in report.render()
    lm.get("/webhooks/imessage/").respond(404)  # a server, but not this bot's Rasa port
    report = await check_credentials({**against(BLOCK, lm), "public_url": lm.url})
    assert (
        report.ok
        and "answered 404; it must reach this bot's Rasa port or webhook_port, which serve"
        in report.render()
    )


@pytest.mark.redis
async def test_a_redis_dedupe_store_must_take_a_write(
    lm: LoopMessageStandIn, fixed_probe_id: None, redis_url: str
) -> None:
    """Every webhook's claim is a write: a read-only replica fails the check, as does a
    Redis that is not there; the password in the URL is never shown."""
    from servers import redis_server

    from rasa_imessage.rasa_process import free_port

    lm.get(STATUS).respond(404)
    lm.get(SENDERS).respond(200, json={"num_pages": 1, "items": []})
    report = await check_credentials({**against(BLOCK, lm), "dedupe_store": redis_url})
    assert report.ok
    assert f"✓ dedupe_store: Redis at {redis_url} answered and took a write" in report.lines
    with redis_server("--replicaof", "127.0.0.1", str(free_port())) as replica:
        report = await check_credentials({**against(BLOCK, lm), "dedupe_store": replica})
    assert not report.ok and "took no write (redis call failed: ReadOnlyError)" in (
        report.render())  # fmt: skip
    with redis_server("--requirepass", "hunter2") as locked:  # the URL gives no password
        report = await check_credentials({**against(BLOCK, lm), "dedupe_store": locked})
    assert not report.ok and "took no write (redis call failed: AuthenticationError)" in (
        report.render())  # fmt: skip
    nobody = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    report = await check_credentials({**against(BLOCK, lm), "dedupe_store": nobody})
    rendered = report.render()
    assert not report.ok and "hunter2" not in rendered
    assert f"Redis at redis://127.0.0.1:{nobody.rsplit(':', 1)[1]} took no write" in rendered


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:hunter2@[::1]:6379/0", "redis://[::1]:6379/0"),
        ("rediss://app:hunter2@cache.example.com/2", "rediss://cache.example.com/2"),
        ("unix://app:hunter2@/run/redis.sock?db=1", "/run/redis.sock"),
    ],
)
def test_the_store_is_named_without_its_credentials(url: str, shown: str) -> None:
    assert checks._store_address(url) == shown
