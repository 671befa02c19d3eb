"""The emulator's memory: conversations, messages, opted-in contacts, uploads, the debug log.

Every change is announced through the event bus, so the page and tests see exactly what the
store holds. Nothing here knows HTTP; the API and dev routes call these methods.
"""

from __future__ import annotations

import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from .events import EventBus, JsonDict

if TYPE_CHECKING:
    from .optins import OptInLink

Direction = Literal["inbound", "outbound"]
ConversationKind = Literal["contact", "group"]

# Enough history to debug a session; old entries fall off so a long demo stays small.
LOG_LIMIT = 1000


def new_message_id() -> str:
    """LoopMessage's message ids are upper-case UUIDs."""
    return str(uuid.uuid4()).upper()


def iso(timestamp: float) -> str:
    """The ``last_update`` format of the status endpoint: UTC with milliseconds and ``Z``."""
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp))
    return f"{seconds}.{int(timestamp * 1000) % 1000:03d}Z"


@dataclass
class Message:
    """One bubble. ``inbound`` is from a person on the page to the bot; ``outbound`` the reply.

    ``status`` of an outbound message follows the API generation (processing, scheduled,
    delivered, sent, failed); of an inbound one it tracks the webhook to the bot (pending,
    delivered, retrying, failed), which is what a developer wants to see under a bubble.
    """

    id: str
    conversation: str
    direction: Direction
    sender: str
    text: str = ""
    subject: str | None = None
    effect: str | None = None
    attachments: list[str] = field(default_factory=list)
    media_url: str | None = None
    message_type: str = "text"
    speech: str | None = None
    reply_to_id: str | None = None
    passthrough: str | None = None
    reaction: str | None = None
    reaction_to: str | None = None
    channel: str = "imessage"
    # Which of the organization's senders the message went to or came from (current API).
    via: str | None = None
    status: str = "pending"
    error_code: int | None = None
    read: bool = False
    tapbacks: dict[str, str] = field(default_factory=dict)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def to_json(self) -> JsonDict:
        return asdict(self)


@dataclass
class Conversation:
    """A thread with one contact (keyed by its E.164/email) or a group (keyed by its id)."""

    key: str
    kind: ConversationKind
    name: str | None = None
    participants: list[str] = field(default_factory=list)
    typing_until: float = 0.0
    created: float = field(default_factory=time.time)

    def to_json(self) -> JsonDict:
        return asdict(self)


@dataclass(frozen=True)
class StoredFile:
    """An upload, served back at ``/files/{id}/{name}`` so bots can fetch it like a CDN URL."""

    id: str
    name: str
    content_type: str
    data: bytes = field(repr=False)


@dataclass
class LogEntry:
    """One API call or webhook attempt, as the debug panel lists it. Never holds headers."""

    id: int
    direction: Literal["api", "webhook"]
    title: str
    status: int | None
    ok: bool
    detail: str = ""
    code: int | None = None
    attempt: int | None = None
    webhook_id: str | None = None
    duration_ms: int | None = None
    at: float = field(default_factory=time.time)

    def to_json(self) -> JsonDict:
        return asdict(self)


class Store:
    """All state of one emulator, published on every change."""

    def __init__(self, bus: EventBus) -> None:
        self._bus = bus
        self.conversations: dict[str, Conversation] = {}
        self.messages: dict[str, Message] = {}
        self.opted_in: set[str] = set()
        self.files: dict[str, StoredFile] = {}
        self.opt_in_links: dict[str, OptInLink] = {}
        self.log: deque[LogEntry] = deque(maxlen=LOG_LIMIT)
        self._log_seq = 0

    # conversations -------------------------------------------------------------------------
    def contact_conversation(self, contact: str) -> Conversation:
        conversation = self.conversations.get(contact)
        if conversation is None:
            conversation = Conversation(key=contact, kind="contact", participants=[contact])
            self._put_conversation(conversation)
        return conversation

    def create_group(self, name: str | None, participants: list[str]) -> Conversation:
        conversation = Conversation(
            key=new_message_id(), kind="group", name=name, participants=list(participants)
        )
        self._put_conversation(conversation)
        return conversation

    def group(self, group_id: str) -> Conversation | None:
        conversation = self.conversations.get(group_id)
        return conversation if conversation and conversation.kind == "group" else None

    def _put_conversation(self, conversation: Conversation) -> None:
        self.conversations[conversation.key] = conversation
        self._bus.publish("conversation", conversation.to_json())

    def set_typing(self, key: str, seconds: float) -> None:
        """Show (or with 0, hide) the bot's typing indicator in one conversation."""
        conversation = self.conversations.get(key)
        if conversation is None:
            return
        conversation.typing_until = time.time() + seconds if seconds > 0 else 0.0
        self._bus.publish("typing", {"conversation": key, "seconds": seconds})

    def mark_read(self, key: str) -> int:
        """The bot read the conversation: every inbound message in it gets its Read mark."""
        changed = 0
        for message in self.messages.values():
            if message.conversation == key and message.direction == "inbound" and not message.read:
                message.read = True
                self._touch(message)
                changed += 1
        return changed

    # messages --------------------------------------------------------------------------------
    def add_message(self, message: Message) -> Message:
        self.messages[message.id] = message
        if message.direction == "inbound":
            self.opted_in.add(message.sender)
        else:
            # iMessage hides the typing bubble as soon as the typist's message lands.
            self.set_typing(message.conversation, 0)
        self._bus.publish("message", message.to_json())
        return message

    def update_message(self, message: Message, **changes: Any) -> None:
        for name, value in changes.items():
            setattr(message, name, value)
        self._touch(message)

    def _touch(self, message: Message) -> None:
        message.updated = time.time()
        self._bus.publish("message", message.to_json())

    def last_via(self, key: str) -> str | None:
        """The sender the conversation's latest inbound message went to, if any."""
        for message in reversed(self.messages_in(key)):
            if message.direction == "inbound" and message.via:
                return message.via
        return None

    def messages_in(self, key: str) -> list[Message]:
        return [m for m in self.messages.values() if m.conversation == key]

    # files, log, reset -------------------------------------------------------------------------
    def add_file(self, name: str, content_type: str, data: bytes) -> StoredFile:
        stored = StoredFile(uuid.uuid4().hex, name, content_type, data)
        self.files[stored.id] = stored
        return stored

    def record(self, **fields: Any) -> LogEntry:
        self._log_seq += 1
        entry = LogEntry(id=self._log_seq, **fields)
        self.log.append(entry)
        self._bus.publish("log", entry.to_json())
        return entry

    def reset(self) -> None:
        self.conversations.clear()
        self.messages.clear()
        self.opted_in.clear()
        self.files.clear()
        self.opt_in_links.clear()
        self.log.clear()
        self._bus.publish("reset", {})

    def snapshot(self) -> JsonDict:
        return {
            "conversations": [c.to_json() for c in self.conversations.values()],
            "messages": [m.to_json() for m in self.messages.values()],
            "log": [e.to_json() for e in self.log],
        }
