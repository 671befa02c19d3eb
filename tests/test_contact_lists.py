"""`allowed_contacts` and `blocked_contacts`: entries, matching, and the webhook's answer.

The lists decide in intake.py, before a claim, a turn, a typing indicator or a read receipt,
so the answers are checked here on `answer_webhook` itself (both servers use it) and the
whole channel in tests/test_channel.py.
"""

from __future__ import annotations

import json
import logging
import pickle
from typing import Any, Dict, List, Optional, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.auth import WebhookAuth
from rasa_imessage.coercion import ConfigError
from rasa_imessage.config import IMessageConfig, load_config
from rasa_imessage.contact_lists import ContactList, as_contacts, refusal
from rasa_imessage.idempotency import Claim, MemoryStore
from rasa_imessage.intake import Answer, answer_webhook
from rasa_imessage.loopmessage import InboundEvent

SECRET = "lists-secret"
ALICE = "+13231112233"
BOB = "+447700900123"


def contacts(*entries: str) -> ContactList:
    return as_contacts("allowed_contacts", list(entries))


# -- entries -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    ["+13231112233", "13231112233", "+1 (323) 111-2233", "1 323.111.2233", " +1 323 111 2233 "],
)
def test_a_phone_number_is_its_digits_whatever_the_spacing(entry: str) -> None:
    assert contacts(entry).has_contact(ALICE)
    assert not contacts(entry).has_contact(BOB)


def test_emails_match_in_any_case_and_a_domain_matches_all_of_its_addresses() -> None:
    listed = contacts("Ann@Example.com", "*@team.example", "@other.example")
    assert listed.has_contact("ann@example.com")
    assert listed.has_contact("ANN@EXAMPLE.COM")
    assert not listed.has_contact("bob@example.com")
    assert listed.has_contact("anyone@team.example")
    assert listed.has_contact("x@other.example")
    assert not listed.has_contact("x@team.example.evil")  # the domain, not a suffix
    assert not listed.has_contact(None) and not listed.has_contact("")


def test_groups_match_by_their_id_only() -> None:
    listed = contacts("group:G-1")
    assert listed.has_group("G-1")
    assert not listed.has_group("G-2") and not listed.has_group(None)
    assert not listed.has_contact("G-1")


@pytest.mark.parametrize("entry", ["07700 900123", "0044 7700 900123", "(0)20 7946 0958"])
def test_a_national_number_is_refused_since_it_could_never_match(entry: str) -> None:
    with pytest.raises(ConfigError, match="is a national number; write it with its country"):
        contacts(entry)


def test_a_comma_list_reads_as_a_yaml_list_does() -> None:
    assert as_contacts("blocked_contacts", f"{ALICE}, ann@example.com,,") == contacts(
        ALICE, "ann@example.com"
    )


def test_a_number_has_7_to_15_digits() -> None:
    """E.164 allows 15; no number LoopMessage delivers to has fewer than 7 (one digit fewer
    or more is refused: below)."""
    assert contacts("+1234567").has_contact("+1234567")
    assert contacts("+123456789012345").has_contact("+123456789012345")


@pytest.mark.parametrize(
    "entry",
    ["bob", "12345", "+123456", "+1234567890123456", "+1 323 abc", "a@b@c", "group:", "*@", "@"],
)
def test_an_entry_of_no_known_form_is_refused_by_name(entry: str) -> None:
    with pytest.raises(ConfigError) as info:
        contacts(entry)
    assert "credentials key 'allowed_contacts'" in str(info.value)
    assert repr(entry.strip()) in str(info.value)


def test_an_empty_allow_list_means_everyone_never_no_one() -> None:
    base = {"api_key": "k", "webhook_auth": SECRET}
    empties: Tuple[Any, ...] = ("", [], " , ")
    for empty in empties:
        assert load_config({**base, "allowed_contacts": empty}, environ={}).allowed_contacts is None
    environ = {"ALLOWED": ""}
    config = load_config({**base, "allowed_contacts": "${ALLOWED}"}, environ=environ)
    assert config.allowed_contacts is None


def test_no_contact_reaches_a_repr() -> None:
    config = load_config(
        {"api_key": "k", "webhook_auth": SECRET, "allowed_contacts": [ALICE, "ann@example.com"],
         "blocked_contacts": "*@spam.example"},
        environ={},
    )  # fmt: skip
    shown = repr(config)
    assert "ContactList(1 phones, 1 emails, 0 domains, 0 groups)" in shown
    assert "3231112233" not in shown and "ann@" not in shown and "spam.example" not in shown


@given(
    digits=st.from_regex(r"[1-9][0-9]{6,14}", fullmatch=True),  # E.164: no leading 0
    separators=st.lists(st.sampled_from(["", " ", "-", ".", "(", ")"]), min_size=15, max_size=15),
    plus=st.booleans(),
)
def test_any_spacing_of_a_number_matches_its_e164_form(
    digits: str, separators: List[str], plus: bool
) -> None:
    spaced = "".join(digit + separator for digit, separator in zip(digits, separators))
    listed = contacts(("+" if plus else "") + spaced)
    assert listed.has_contact("+" + digits)
    assert not listed.has_contact("+" + digits + "0")


# -- who is answered -----------------------------------------------------------------------

TEAM = contacts(ALICE, "group:G-TEAM")
BLOCKED = contacts(BOB, "group:G-SPAM")


@pytest.mark.parametrize(
    ("contact", "group", "allowed", "blocked", "expected"),
    [
        (ALICE, None, None, None, None),  # no lists: everyone
        (BOB, None, None, None, None),
        (ALICE, None, TEAM, None, None),
        (BOB, None, TEAM, None, "not in allowed_contacts"),
        (BOB, "G-TEAM", TEAM, None, None),  # an allowed group: everyone in it
        (ALICE, "G-OTHER", TEAM, None, None),  # an allowed speaker, in any group
        ("+15550001111", "G-OTHER", TEAM, None, "not in allowed_contacts"),
        (BOB, None, None, BLOCKED, "blocked_contacts"),
        (BOB, "G-TEAM", TEAM, BLOCKED, "blocked_contacts"),  # blocked wins, in groups too
        (ALICE, "G-SPAM", None, BLOCKED, "blocked_contacts"),  # a blocked group: everyone
        (BOB, None, contacts(BOB), BLOCKED, "blocked_contacts"),  # blocked wins over allowed
        (None, None, TEAM, None, "not in allowed_contacts"),
    ],
)
def test_who_is_answered(
    contact: Optional[str],
    group: Optional[str],
    allowed: Optional[ContactList],
    blocked: Optional[ContactList],
    expected: Optional[str],
) -> None:
    assert refusal(contact, group, allowed, blocked) == expected


# -- the webhook's answer ------------------------------------------------------------------


def _body(event: str = "message_inbound", contact: str = BOB, **fields: Any) -> bytes:
    body: Dict[str, Any] = {"event": event, "contact": contact, "text": "hi",
                            "message_type": "text", "message_id": "m-1", "webhook_id": "w-1"}  # fmt: skip
    body.update(fields)
    return json.dumps(body).encode()


async def _answer(
    config: IMessageConfig, body: bytes, *, ready: bool = True
) -> Tuple[Answer, List[InboundEvent], MemoryStore]:
    handed: List[InboundEvent] = []
    store = MemoryStore()

    async def hand_over(event: InboundEvent, key: Optional[str], raw: bytes) -> Optional[Answer]:
        handed.append(event)
        return None

    answer = await answer_webhook(
        config, WebhookAuth(SECRET), SECRET, body,
        ready=lambda: ready, stopping=lambda: False, store=store, hand_over=hand_over,
    )  # fmt: skip
    return answer, handed, store


def _config(**lists: Any) -> IMessageConfig:
    return load_config({"api_key": "k", "webhook_auth": SECRET, **lists}, environ={})


async def test_a_blocked_contacts_message_is_acked_ignored_and_handed_nowhere(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="rasa_imessage.channel"):
        answer, handed, store = await _answer(_config(blocked_contacts=[BOB]), _body())
    assert (answer.status, answer.body, answer.outcome) == (200, {"status": "ignored"}, "ignored")
    assert handed == []
    assert await store.claim("w-1") is Claim.NEW  # never claimed: nothing to finish
    (line,) = [r.getMessage() for r in caplog.records if "ignored" in r.getMessage()]
    assert line == "iMessage message_inbound from +4•••0123 ignored: blocked_contacts"


@pytest.mark.parametrize(
    ("event", "fields"),
    [("message_reaction", {"reaction": "love"}), ("opt-in", {}), ("message_inbound", {})],
)
async def test_only_allowed_contacts_reach_the_bot(event: str, fields: Dict[str, Any]) -> None:
    config = _config(allowed_contacts=[ALICE])
    answer, handed, _ = await _answer(config, _body(event, BOB, **fields))
    assert answer.body == {"status": "ignored"} and not handed
    answer, handed, _ = await _answer(config, _body(event, ALICE, **fields))
    assert answer.body == {"status": "ok"} and len(handed) == 1


async def test_a_failed_delivery_of_the_bots_own_send_always_reaches_the_bot() -> None:
    body = _body("message_failed", BOB, error_code=1030)
    answer, handed, _ = await _answer(_config(blocked_contacts=[BOB]), body)
    assert answer.outcome == "accepted" and len(handed) == 1


async def test_an_ignored_webhook_is_answered_while_the_model_loads() -> None:
    """Otherwise LoopMessage would retry it for hours, for nothing."""
    answer, _, _ = await _answer(_config(blocked_contacts=[BOB]), _body(), ready=False)
    assert answer.status == 200 and answer.outcome == "ignored"
    answer, _, _ = await _answer(_config(blocked_contacts=[BOB]), _body(contact=ALICE), ready=False)
    assert answer.status == 503


async def test_the_legacy_api_gets_no_typing_or_read_for_an_ignored_message() -> None:
    config = load_config(
        {"api": "legacy", "authorization_key": "a", "secret_key": "s",
         "sender_name": "bot@imsg.co", "webhook_auth": SECRET, "allowed_contacts": [ALICE]},
        environ={},
    )  # fmt: skip
    body = json.dumps({"alert_type": "message_inbound", "recipient": BOB, "text": "hi",
                       "message_id": "m", "webhook_id": "w"}).encode()  # fmt: skip
    answer, handed, _ = await _answer(config, body)
    assert answer.body == {"status": "ignored"} and not handed
    answer, handed, _ = await _answer(config, body.replace(BOB.encode(), ALICE.encode()))
    assert (answer.status, answer.body) == (200, {"status": "ok", "typing": 8, "read": True})
    assert len(handed) == 1


async def test_the_lists_decide_the_same_in_the_webhook_ports_process() -> None:
    """`webhook_port`'s process gets the settings pickled (front.py): the lists, and the
    empty default, must come through."""
    for config, ignored in ((_config(blocked_contacts=[BOB]), True), (_config(), False)):
        copy = pickle.loads(pickle.dumps(config))
        answer, _, _ = await _answer(copy, _body())
        assert (answer.outcome == "ignored") is ignored
