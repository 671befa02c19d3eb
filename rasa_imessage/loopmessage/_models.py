"""What LoopMessage sends us, in one vocabulary for both API generations.

The generations name the same things differently (`contact`/`recipient`,
`group.id`/`group.group_id`, `channel`/`delivery_type`, `emphasize`/`exclaim`); the
models here accept either spelling so that the Rasa side never asks which one it got.
Outbound requests live in `_send.py`, webhook parsing in `_webhook.py`.
"""

from __future__ import annotations

# Model fields keep typing.Optional: pydantic 1 evaluates annotations at run time, and
# Rasa 3.6 also runs on Python 3.8 and 3.9, where `str | None` does not evaluate.
import enum
from typing import Any, Dict, List, Mapping, Optional

from pydantic import Field

from ._codes import ErrorInfo, describe
from ._coerce import opt_int, opt_str, str_list, str_map
from ._compat import _Model, construct, parse_obj
from ._errors import PayloadError

__all__ = [
    "MESSAGE_STATUSES",
    "EventKind",
    "Group",
    "InboundEvent",
    "Language",
    "MessageStatus",
    "OptInLinks",
    "SendResult",
    "Sender",
    "Speech",
    "group_input",
    "parse_opt_in_links",
    "parse_send_result",
    "parse_senders_page",
    "parse_status",
]

# Current: processing, failed, delivered, unknown; legacy adds scheduled, sent, timeout.
MESSAGE_STATUSES = frozenset(
    {"processing", "scheduled", "failed", "sent", "delivered", "timeout", "unknown"}
)


def group_input(value: Any) -> Optional[Dict[str, Any]]:
    """A group object in either spelling as `{id, name, participants}`, or None if unusable.

    The current API writes `id`, the legacy API `group_id`; a bare string is taken as
    the id.
    """
    if isinstance(value, str):
        return {"id": value} if value else None
    if not isinstance(value, Mapping):
        return None
    group_id = value.get("id", value.get("group_id"))
    if not isinstance(group_id, str) or not group_id:
        return None
    return {
        **str_map(value),
        "id": group_id,
        "name": opt_str(value.get("name")),
        "participants": str_list(value.get("participants")),
    }


class Group(_Model):
    """An iMessage group; its id is what a send to the group needs."""

    id: str
    name: Optional[str] = None
    participants: List[str] = Field(default_factory=list)

    @classmethod
    def _prepare_input(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        group = group_input(data)
        if group is None:
            raise ValueError("a group needs a non-empty string id (or group_id)")
        return group


class Language(_Model):
    """LoopMessage's guess of a text's language; unreliable under about 100 characters."""

    code: Optional[str] = None
    name: Optional[str] = None
    script: Optional[str] = None

    @classmethod
    def _prepare_input(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        return {**data, **{key: opt_str(data.get(key)) for key in ("code", "name", "script")}}


class Speech(_Model):
    """The transcription of an inbound voice message, when LoopMessage managed one."""

    text: Optional[str] = None
    language: Optional[Language] = None
    metadata: Dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def _prepare_input(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        language = data.get("language")
        return {
            **data,
            "text": opt_str(data.get("text")),
            "language": str_map(language) if isinstance(language, Mapping) else None,
            "metadata": str_map(data.get("metadata")),
        }


class EventKind(str, enum.Enum):
    """What a webhook is about, whichever generation and event name carried it.

    An opt-in arrives either as the `opt-in` event (kind `conversation_started`) or as
    a `message_inbound` with `type: "opt_in"`; the latter keeps kind `message`, since
    it carries the contact's text, and both set `InboundEvent.opt_in`.
    """

    message = "message"
    reaction = "reaction"
    delivered = "delivered"
    failed = "failed"
    scheduled = "scheduled"
    conversation_started = "conversation_started"
    group_created = "group_created"
    inbound_call = "inbound_call"
    sender_updated = "sender_updated"
    unknown = "unknown"


class InboundEvent(_Model):
    """One webhook, normalized. `raw` keeps the whole body, unknown fields included."""

    api: str
    event: str
    kind: EventKind
    webhook_id: Optional[str] = None
    message_id: Optional[str] = None
    contact: Optional[str] = None
    group: Optional[Group] = None
    text: str = ""
    subject: Optional[str] = None
    attachments: List[str] = Field(default_factory=list)
    message_type: Optional[str] = None
    channel: Optional[str] = None
    reaction: Optional[str] = None
    thread_id: Optional[str] = None
    error_code: Optional[int] = None
    success: Optional[bool] = None
    passthrough: Optional[str] = None
    sender: Optional[str] = None
    language: Optional[Language] = None
    speech: Optional[Speech] = None
    sandbox: Optional[bool] = None
    opt_in: bool = False
    parameters: Dict[str, Any] = Field(default_factory=dict)
    organization_id: Optional[str] = None
    raw: Dict[str, Any] = Field(default_factory=dict)

    @property
    def conversation_id(self) -> Optional[str]:
        """The group id for a group message, else the contact: where a reply goes."""
        return self.group.id if self.group is not None else self.contact

    @property
    def error(self) -> Optional[ErrorInfo]:
        """The meaning of `error_code` (legacy webhooks have their own code table)."""
        if self.error_code is None:
            return None
        return describe(self.api, self.error_code, webhook=True)


def _recipient_input(data: Dict[str, Any]) -> Dict[str, Any]:
    """Shared by responses: `recipient` (legacy, and current voice sends) means `contact`."""
    contact = opt_str(data.get("contact"))
    return {
        **data,
        "contact": contact if contact is not None else opt_str(data.get("recipient")),
        "text": opt_str(data.get("text")),
        "passthrough": opt_str(data.get("passthrough")),
    }


class SendResult(_Model):
    """LoopMessage's 200 to a send: the message was queued, not yet delivered."""

    message_id: str
    contact: Optional[str] = None
    group: Optional[Group] = None
    text: Optional[str] = None
    raw: Dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def _prepare_input(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        return {**_recipient_input(data), "group": group_input(data.get("group"))}


class MessageStatus(_Model):
    """The answer of the status endpoint; `status` is one of MESSAGE_STATUSES."""

    message_id: str
    status: str = "unknown"
    api: str = "current"
    contact: Optional[str] = None
    text: Optional[str] = None
    error_code: Optional[int] = None
    last_update: Optional[str] = None
    passthrough: Optional[str] = None
    raw: Dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def _prepare_input(cls, data: Dict[str, Any]) -> Dict[str, Any]:
        status = data.get("status")
        return {
            **_recipient_input(data),
            "status": status if status in MESSAGE_STATUSES else "unknown",
            "error_code": opt_int(data.get("error_code")),
            "last_update": opt_str(data.get("last_update")),
        }

    @property
    def error(self) -> Optional[ErrorInfo]:
        """The meaning of `error_code`; legacy statuses use the legacy webhook table."""
        if self.error_code is None:
            return None
        return describe(self.api, self.error_code, webhook=True)


def parse_send_result(body: Mapping[str, Any], *, require_id: bool = True) -> SendResult:
    """A send's 200 body as a SendResult; PayloadError if it has no message_id.

    `require_id=False` lets an id-less 200 through as `message_id=""`: the reaction
    response is undocumented, and an accepted reaction is not a failure.
    """
    message_id = body.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        if require_id:
            raise PayloadError("the send response has no string message_id")
        message_id = ""
    fields = SendResult._prepare_input({**body, "message_id": message_id, "raw": dict(body)})
    if fields["group"] is None:  # every other field is typed now: no validation to repeat
        return construct(SendResult, fields)
    return parse_obj(SendResult, fields)


def parse_status(body: Mapping[str, Any], *, api: str, message_id: str) -> MessageStatus:
    """A status 200 body; the id asked for stands in when the body omits it."""
    data = {**body, "api": api, "raw": dict(body)}
    data["message_id"] = opt_str(body.get("message_id")) or message_id
    return parse_obj(MessageStatus, data)


class OptInLinks(_Model):
    """An opt-in link (current API): a contact who sends its message may be texted.

    `url` is the page to share; `imessage`, `sms` and `whatsapp` open the contact's app
    with the message, its opt-in code included, ready to send.
    """

    id: str
    url: Optional[str] = None
    imessage: Optional[str] = None
    sms: Optional[str] = None
    whatsapp: Optional[str] = None
    raw: Dict[str, Any] = Field(default_factory=dict)


def parse_opt_in_links(body: Mapping[str, Any]) -> OptInLinks:
    """The generate-url 200 body; PayloadError without an id or without any link."""
    links = {name: opt_str(body.get(name)) for name in ("url", "imessage", "sms", "whatsapp")}
    link_id = opt_str(body.get("id"))
    if not link_id or not any(links.values()):
        raise PayloadError("the opt-in response has no id or no link")
    return construct(OptInLinks, {"id": link_id, **links, "raw": dict(body)})


class Sender(_Model):
    """One of the organization's senders: its id is what a send's `sender` names, and only
    an `active` one sends (others: pending, canceled, suspended)."""

    id: str
    name: Optional[str] = None
    status: Optional[str] = None
    imessage_link: Optional[str] = None
    raw: Dict[str, Any] = Field(default_factory=dict)


def parse_senders_page(body: Mapping[str, Any]) -> tuple[List[Sender], int]:
    """One page of the sender list, and how many pages there are; PayloadError without
    `items`. Items without a string id are left out."""
    items = body.get("items")
    if not isinstance(items, list):
        raise PayloadError("the sender list has no items")
    senders = [
        construct(Sender, {"id": item["id"], "name": opt_str(item.get("name")),
                           "status": opt_str(item.get("status")),
                           "imessage_link": opt_str(item.get("imessage_link")), "raw": dict(item)})
        for item in items
        if isinstance(item, Mapping) and isinstance(item.get("id"), str) and item["id"]
    ]  # fmt: skip
    pages = opt_int(body.get("num_pages"))
    return senders, pages if pages is not None and pages > 0 else 1
