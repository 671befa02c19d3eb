"""Every credentials key, declared once: type, default, one line of help, its parser.

The README's configuration table, `credentials.yml.example` and `rasa-imessage check` are
all checked against this table (tests/test_docs.py), so they never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Tuple

from .coercion import (
    as_base_url,
    as_bool,
    as_bool_or_auto,
    as_float,
    as_host,
    as_int,
    as_intent,
    as_media_dir,
    as_names,
    as_optional_int,
    as_optional_text,
    as_public_url,
    as_secret,
    as_store_url,
    one_of,
    some_of,
)
from .contact_lists import as_contact_list
from .indicator import TYPING_DELAY
from .tasks import MAX_CONCURRENT, MAX_QUEUED

__all__ = ["METADATA_KEYS", "OPTIONS", "Option"]

# Every key the connector's message metadata can carry (inbound.py), for `metadata_keys`.
METADATA_KEYS = (
    "channel", "api", "event", "kind", "webhook_id", "message_id", "contact", "group",
    "speaker", "text", "subject", "attachments", "message_type", "service", "reaction",
    "thread_id", "error_code", "error", "success", "sender", "language", "speech", "sandbox",
    "opt_in", "parameters", "extra", "source", "message_ids",
)  # fmt: skip


@dataclass(frozen=True)
class Option:
    """One credentials key: how to read it and how to document it."""

    key: str
    # shown in the README: text, secret, bool, int, number, choice, names, contacts, intent
    kind: str
    default: Any
    help: str
    parse: Callable[[str, Any], Any]
    choices: Tuple[str, ...] = ()
    minimum: Optional[float] = None
    maximum: Optional[float] = None


OPTIONS: Tuple[Option, ...] = (
    Option(
        "api",
        "choice",
        "current",
        "LoopMessage API generation: `current` "
        "(a.loopmessage.com, one organization key) or `legacy` (server.loopmessage.com)",
        one_of("current", "legacy"),
        choices=("current", "legacy"),
    ),
    Option(
        "api_key",
        "secret",
        None,
        "current API: the organization API key, sent as `Authorization`",
        as_secret,
    ),
    Option(
        "sender",
        "text",
        None,
        "current API: sender-name id to send from when the conversation's own is not known "
        "(a push to a contact who has not written to this process; default: LoopMessage "
        "picks); replies always go from the sender the contact wrote to",
        as_optional_text,
    ),
    Option("authorization_key", "secret", None, "legacy API: the Authorization key", as_secret),
    Option(
        "secret_key",
        "secret",
        None,
        "legacy API: the API secret key, sent as `Loop-Secret-Key`",
        as_secret,
    ),
    Option(
        "sender_name",
        "text",
        None,
        "legacy API: your sender name, e.g. `brand@imsg.co` (required on legacy)",
        as_optional_text,
    ),
    Option(
        "webhook_auth",
        "secret",
        None,
        "the exact `Authorization` header value set for webhooks in the LoopMessage dashboard",
        as_secret,
    ),
    Option(
        "allow_unauthenticated_webhooks",
        "bool",
        False,
        "accept webhooks without an `Authorization` check (local experiments only; logs a warning)",
        as_bool,
    ),
    Option(
        "base_url",
        "text",
        None,
        "API base URL override: the local emulator or a proxy",
        as_base_url,
    ),
    Option(
        "public_url",
        "text",
        None,
        "the https:// address LoopMessage reaches this server at (the webhook URL without "
        "its path; Rasa's port and `webhook_port` both serve the files), so the bot can send "
        "images it makes (`data:` URLs) and files "
        "from `media_dir`: the connector serves them at unguessable URLs (see [Files the "
        "bot makes](#files-the-bot-makes))",
        as_public_url,
    ),
    Option(
        "media_dir",
        "text",
        None,
        "a folder whose files the bot may send by path, such as `image: menu.png` "
        "(relative to the folder `rasa run` starts in; needs `public_url`)",
        as_media_dir,
    ),
    Option(
        "typing_seconds",
        "int",
        8,
        "typing indicator shown while the bot works (0 = off, at most 60); a turn slower "
        "than that has it shown again a second before it runs out, for up to 2 minutes",
        as_int,
        minimum=0,
        maximum=60,
    ),
    Option(
        "typing_delay",
        "number",
        TYPING_DELAY,
        "current API: seconds the bot may take before the typing indicator shows; a reply "
        "within them goes at once, without an indicator, and the message is marked read "
        "alongside it (0 = at once, and every first reply waits for the indicator's call)",
        as_float,
        minimum=0,
        maximum=60,
    ),
    Option("mark_read", "bool", True, "mark inbound messages read", as_bool),
    Option(
        "merge_window",
        "number",
        0.0,
        "seconds a bubble waits for the contact's next one (which bubbles wait: "
        "`merge_mode`); bubbles sent with less than this between them reach Rasa as one "
        "message, texts joined by newlines (one-to-one conversations; 0 = every bubble is a "
        "turn of its own)",
        as_float,
        minimum=0,
        maximum=30,
    ),
    Option(
        "merge_mode",
        "choice",
        "lead_ins",
        "with `merge_window`, which bubbles wait: `lead_ins`, only one that announces more "
        '("look at this", "I want to", a trailing colon), and the next bubble then '
        "starts the turn at once; `all`, every text or attachment message",
        one_of("lead_ins", "all"),
        choices=("lead_ins", "all"),
    ),
    Option(
        "allow_intent_payloads",
        "bool",
        False,
        "let users trigger intents by typing "
        "`/intent{...}` (off: a leading `/` is removed before NLU)",
        as_bool,
    ),
    Option(
        "split_paragraphs",
        "bool",
        True,
        "send each paragraph (text split on blank "
        "lines) as its own bubble, like Rasa's built-in channels",
        as_bool,
    ),
    Option(
        "bubble_pause",
        "number",
        0.0,
        "seconds between the bubbles of one turn's replies (paragraphs, pictures, "
        'responses), as a person sends one after another, with "typing…" shown in each '
        "pause (0 = each as soon as the one before is accepted; at most 10)",
        as_float,
        minimum=0,
        maximum=10,
    ),
    Option(
        "request_timeout",
        "number",
        10.0,
        "seconds to wait for a LoopMessage answer",
        as_float,
        minimum=1,
        maximum=120,
    ),
    Option(
        "max_retries",
        "int",
        2,
        "retries of a send after a transient failure (network, 5xx, 429, codes 1000/1010)",
        as_int,
        minimum=0,
        maximum=10,
    ),
    Option(
        "send_worker",
        "bool or auto",
        False,
        "make LoopMessage calls from a child process, so their HTTP work runs on another "
        "core than Rasa's turns; `auto`: when the process may use 2 cores or more",
        as_bool_or_auto,
    ),
    Option(
        "webhook_port",
        "int",
        None,
        "also answer webhooks on this port, from a process of their own, so an ack never "
        "waits for the bot's turns; point LoopMessage's webhook URL at it (default: off)",
        as_optional_int,
        minimum=1,
        maximum=65535,
    ),
    Option(
        "webhook_host",
        "text",
        "0.0.0.0",  # noqa: S104 - as `rasa run` listens; webhooks carry webhook_auth
        "the address `webhook_port` listens on (`127.0.0.1`: behind a proxy on this host)",
        as_host,
    ),
    Option(
        "max_concurrent_turns",
        "int",
        MAX_CONCURRENT,
        "Rasa turns run at once, waiting on your action server included (what it sees at "
        "most); more wait in order. Lower it for an action server that cannot take that many "
        "calls at once; raise it when actions take seconds",
        as_int,
        minimum=1,
        maximum=1000,
    ),
    Option(
        "max_queued_turns",
        "int",
        MAX_QUEUED,
        "turns waiting at most; beyond it webhooks get 503 and LoopMessage retries them later",
        as_int,
        minimum=1,
    ),
    Option(
        "cache_action_schema",
        "bool",
        True,
        "Rasa 3.6: check each custom action's answer with one compiled validator, as Rasa "
        "Pro does, instead of re-checking the schema on every call (about 20 ms of CPU per "
        "call with jsonschema 4); same checks, same errors. `false` leaves Rasa's own check",
        as_bool,
    ),
    Option(
        "cache_event_types",
        "bool",
        True,
        "find each stored event's class by its name in a dict instead of Rasa's walk of every "
        "event class, for every event of every turn, on every channel (loading and saving a "
        "conversation 3-4x cheaper); the same classes. `false` leaves Rasa's own lookup",
        as_bool,
    ),
    Option(
        "dedupe_store",
        "text",
        "memory",
        "where handled `webhook_id`s are kept: `memory` or a `redis://` URL shared by all replicas",
        as_store_url,
    ),
    Option(
        "dedupe_ttl_seconds",
        "int",
        21600,
        "how long a `webhook_id` is remembered (LoopMessage retries for about 3 h 05 min)",
        as_int,
        minimum=14400,
    ),
    Option(
        "dedupe_lease_seconds",
        "number",
        60.0,
        "Redis store: a replica that stops renewing its claims for this long is taken for "
        "dead, and the webhooks it acked but did not finish run on another replica",
        as_float,
        minimum=1,
        maximum=3600,
    ),
    Option(
        "dedupe_max_entries",
        "int",
        200000,
        "in-memory store: most `webhook_id`s kept (oldest dropped first)",
        as_int,
        minimum=1000,
    ),
    Option(
        "max_body_bytes",
        "int",
        1048576,
        "largest webhook body accepted (413 beyond)",
        as_int,
        minimum=1024,
    ),
    Option(
        "shutdown_timeout",
        "number",
        10.0,
        "seconds turns in flight may finish in on "
        "shutdown; unfinished ones are left for LoopMessage's retry",
        as_float,
        minimum=0,
        maximum=600,
    ),
    Option(
        "metrics",
        "bool",
        False,
        "serve counters of webhooks, turns, sends and typing calls in Prometheus's text "
        "format at GET /webhooks/imessage/metrics (no contact, text or secret in them; keep "
        "the path from the internet, as for Rasa's own API)",
        as_bool,
    ),
    Option(
        "voice_messages",
        "bool",
        True,
        "send audio URLs (mp3, wav, m4a, caf, aac) as iMessage voice messages",
        as_bool,
    ),
    Option(
        "group_reply",
        "choice",
        "always",
        "in group chats answer `always`, or only on a "
        "`mention` of one of `bot_names` (or a reply to the bot)",
        one_of("always", "mention"),
        choices=("always", "mention"),
    ),
    Option("bot_names", "names", (), "names that count as a mention in group chats", as_names),
    Option(
        "allowed_contacts",
        "contacts",
        None,
        "answer only these contacts (phone numbers with their country code, emails, "
        "`*@domain`, `group:<id>`); others' messages are acknowledged and ignored: not read, "
        "no typing, no turn (empty: everyone; see [Who the bot answers](#who-the-bot-answers))",
        as_contact_list,
    ),
    Option(
        "blocked_contacts",
        "contacts",
        None,
        "never answer these contacts, in one-to-one chats and groups (same forms as "
        "`allowed_contacts`, which it overrides)",
        as_contact_list,
    ),
    Option(
        "metadata_keys",
        "names",
        None,
        "the metadata keys to keep (`all`, or a list such as `[contact, group, attachments]`): "
        "Rasa stores the metadata with every user message and reads the whole conversation "
        "back every turn (see [What your bot sees](#what-your-bot-sees))",
        some_of(*METADATA_KEYS),
    ),
    Option(
        "attachment_intent",
        "intent",
        "imessage_attachment",
        "intent for attachments without text (false = off)",
        as_intent,
    ),
    Option(
        "reaction_intent",
        "intent",
        "imessage_reaction",
        "intent for tapbacks on bot messages (false = off)",
        as_intent,
    ),
    Option(
        "delivery_failed_intent",
        "intent",
        "imessage_delivery_failed",
        "intent when an outbound message fails (false = off)",
        as_intent,
    ),
    Option(
        "conversation_started_intent",
        "intent",
        "imessage_conversation_started",
        "intent on first contact / opt-in (false = off)",
        as_intent,
    ),
    Option(
        "call_intent",
        "intent",
        "imessage_call",
        "intent when a contact FaceTimes or phones your sender, which the bot cannot pick up, "
        "so it can say how to reach it (false = off)",
        as_intent,
    ),
)
