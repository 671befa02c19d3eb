"""Post one realistic LoopMessage webhook to a running bot: ``rasa-imessage simulate``.

The bodies come from the same builders the emulator uses, so a simulated webhook is shaped
exactly like the emulator's (and LoopMessage's) for either API generation, and it carries
the same headers. Useful to poke a bot that runs behind a tunnel, or in CI without a page.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import aiohttp

from . import payloads
from .config import Api, EmulatorConfig
from .contacts import normalize_contact
from .events import JsonDict
from .lifecycle import BOT, DELIVERY_FAILED_CODE
from .store import Conversation, Message, new_message_id
from .webhooks import webhook_headers

KINDS: tuple[str, ...] = (
    "text", "image", "voice", "reaction", "delivered", "failed", "opt-in", "call",
)  # fmt: skip
# The legacy webhook table's "unable to deliver the message".
LEGACY_FAILED_CODE = 110
_SAMPLE_IMAGE = "https://cdn.example.com/photos/IMG_0042.jpeg"
_SAMPLE_VOICE = "https://cdn.example.com/voice/7D0E1F4A.caf"


@dataclass(frozen=True)
class Simulation:
    """What to post: the kind of event, for whom, in which API generation."""

    kind: str = "text"
    api: Api = "current"
    contact: str = "+13231112233"
    text: str = "Hello from the simulator"
    message_id: str | None = None  # the bot message reacted to / delivered / failed
    reaction: str = "love"
    error_code: int | None = None


@dataclass(frozen=True)
class SimulationResult:
    status: int
    body: str
    webhook: JsonDict


def build_webhook(simulation: Simulation) -> JsonDict:
    """The webhook body for ``simulation``; raises ValueError for an unknown kind or contact."""
    if simulation.kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {simulation.kind!r}")
    api = simulation.api
    config = EmulatorConfig(api=api)
    contact = normalize_contact(simulation.contact)[0]
    conversation = Conversation(key=contact, kind="contact", participants=[contact])
    if simulation.kind == "opt-in":
        return payloads.conversation_started(api, contact, config)
    if simulation.kind == "call":
        return payloads.inbound_call(api, contact, None, config)
    if simulation.kind in ("text", "image", "voice"):
        message = Message(
            id=new_message_id(),
            conversation=contact,
            direction="inbound",
            sender=contact,
            text=simulation.text,
        )
        if simulation.kind == "image":
            message.attachments, message.message_type = [_SAMPLE_IMAGE], "attachments"
            message.text = ""
        elif simulation.kind == "voice":
            message.attachments, message.message_type = [_SAMPLE_VOICE], "audio"
            message.text, message.speech = "", simulation.text
        return payloads.inbound(api, message, conversation, config)
    sent = Message(
        id=simulation.message_id or new_message_id(),
        conversation=contact,
        direction="outbound",
        sender=BOT,
        text=simulation.text,
    )
    if simulation.kind == "reaction":
        return payloads.reaction(api, contact, sent, simulation.reaction, config)
    if simulation.kind == "delivered":
        if api == "current":
            return payloads.outbound_status(api, "message_delivered", sent, conversation, config)
        return payloads.outbound_status(
            api, "message_sent", sent, conversation, config, success=True
        )
    default_code = DELIVERY_FAILED_CODE if api == "current" else LEGACY_FAILED_CODE
    code = simulation.error_code or default_code
    return payloads.outbound_status(
        api, "message_failed", sent, conversation, config, error_code=code
    )


async def post_webhook(
    url: str,
    simulation: Simulation,
    authorization: str | None = None,
    timeout: float = 15.0,
) -> SimulationResult:
    """Post the simulated webhook as LoopMessage would; connection errors propagate."""
    webhook = build_webhook(simulation)
    headers = webhook_headers(simulation.api, authorization)
    timeouts = aiohttp.ClientTimeout(total=timeout)
    async with aiohttp.ClientSession(timeout=timeouts) as session, session.post(
        url, data=json.dumps(webhook), headers=headers
    ) as response:
        return SimulationResult(response.status, await response.text(), webhook)
