"""LoopMessage error codes as data: code → meaning, retryable?, what to do, kind.

The two API generations reuse numbers for different things (current 520 is "the
contact must text you first", legacy 520 does not exist and legacy 560 means that;
legacy 540 is a missing sender, current 540 a rate limit), so the tables are kept
apart and every lookup names its generation. Sources: the current error-code page
(§A9 of the reference), the legacy send codes (§B5) and the legacy webhook codes (§B7).
Only 1000 and 1010 are retryable within a request; 1020 asks for "a long delay", which
a bot conversation cannot wait for, so it surfaces as a failed delivery instead.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, Iterable, Tuple

__all__ = [
    "API_GENERATIONS",
    "CURRENT_CODES",
    "LEGACY_CODES",
    "LEGACY_WEBHOOK_CODES",
    "ErrorInfo",
    "ErrorKind",
    "describe",
]

API_GENERATIONS = ("current", "legacy")


class ErrorKind(str, enum.Enum):
    """What kind of thing went wrong, which decides the exception class and the advice."""

    auth = "auth"
    recipient = "recipient"
    rate_limit = "rate_limit"
    delivery = "delivery"
    request = "request"
    sender = "sender"
    account = "account"
    unknown = "unknown"


@dataclass(frozen=True)
class ErrorInfo:
    """One row of an error table."""

    code: int
    meaning: str
    retryable: bool
    hint: str
    kind: ErrorKind


_Row = Tuple[int, ErrorKind, str, str]

_K = ErrorKind
_RETRYABLE = frozenset({1000, 1010})

_DASHBOARD = "in the LoopMessage dashboard"
_FIX_REQUEST = "fix the request; this is a bug in the bot's response or the connector"
_FIX_SENDER = f"check the sender name's status and plan {_DASHBOARD}"
_FIX_ACCOUNT = f"contact LoopMessage support or settle the account {_DASHBOARD}"
_FIX_CONTACT = "check the contact: a phone number with country code, or an Apple ID email"
_WAIT_FOR_CONTACT = (
    "the contact must text your sender first; ask them to send any message, then retry"
)
_NOT_SMS = "send it over iMessage (leave channel unset) or change the content"

# Same number, same meaning in both generations (§A9 and §B5; legacy says "recipient").
_COMMON_ROWS: Tuple[_Row, ...] = (
    (100, _K.request, "bad request", _FIX_REQUEST),
    (120, _K.request, "one or more required parameters are missing", _FIX_REQUEST),
    (150, _K.recipient, "no contact", "give a contact or a group id"),
    (160, _K.recipient, "invalid contact", _FIX_CONTACT),
    (170, _K.recipient, "invalid contact email", _FIX_CONTACT),
    (180, _K.recipient, "invalid contact phone number", _FIX_CONTACT),
    (190, _K.recipient, "phone number is not mobile", "use a mobile number or the Apple ID"),
    (580, _K.request, "invalid effect", "use one of the 13 documented effects (case-sensitive)"),
    (590, _K.request, "invalid message_id for reply", "reply_to_id must come from a webhook"),
    (595, _K.request, "invalid or nonexistent message_id", "use a message_id from a webhook"),
    (600, _K.request, "invalid reaction", "use love, like, dislike, laugh, emphasize, question"),
    (610, _K.request, "reaction or message_id invalid or nonexistent", _FIX_REQUEST),
    (620, _K.request, "effect and reaction in the same request", "send the effect separately"),
    (630, _K.sender, "the sender needs a vCard", "configure the sender's vCard " + _DASHBOARD),
    (640, _K.request, "no media_url", "give media_url for a voice message"),
    (1110, _K.request, "SMS cannot go to an email address", _NOT_SMS),
    (1120, _K.request, "SMS cannot go to a group", _NOT_SMS),
    (1130, _K.request, "SMS with marketing content refused", _NOT_SMS),
    (1140, _K.request, "audio cannot go over SMS", _NOT_SMS),
)

_CURRENT_ROWS: Tuple[_Row, ...] = (
    (110, _K.auth, "missing credentials", "set api_key: the organization API key " + _DASHBOARD),
    (115, _K.request, "one or more required parameters are invalid", _FIX_REQUEST),
    (125, _K.request, "one or more parameters are invalid", _FIX_REQUEST),
    (
        130,
        _K.auth,
        "authorization key invalid or nonexistent",
        "check api_key: copy the organization API key from the LoopMessage dashboard",
    ),
    (140, _K.request, "no text", "give the message text (or attachments, media_url, reaction)"),
    (165, _K.recipient, "invalid group", "use a group id taken from an inbound webhook"),
    (
        200,
        _K.recipient,
        "no conversation with this sandbox contact",
        "a sandbox contact must text the sandbox sender first (the window lasts 24 h)",
    ),
    (210, _K.sender, "unable to get a sender for this contact", _FIX_SENDER),
    (220, _K.sender, "invalid sender name", "check sender: use a sender id " + _DASHBOARD),
    (230, _K.sender, "internal error while using the specified sender name", _FIX_SENDER),
    (240, _K.sender, "sender name not activated or unpaid", _FIX_SENDER),
    (250, _K.sender, "sender name suspended", _FIX_SENDER),
    (260, _K.sender, "no active purchased sender name", _FIX_SENDER),
    (270, _K.sender, "request requires a dedicated sender name", _FIX_SENDER),
    (290, _K.request, "API request deprecated or unsupported", "update rasa-imessage"),
    (300, _K.account, "account suspended", _FIX_ACCOUNT),
    (310, _K.account, "account blocked", _FIX_ACCOUNT),
    (320, _K.account, "account phone number not verified", "verify the phone number " + _DASHBOARD),
    (330, _K.account, "account suspended due to debt", _FIX_ACCOUNT),
    (340, _K.recipient, "recipient blocked all messages", "stop messaging this contact"),
    (500, _K.recipient, "contact opted out of your messages", "stop messaging this contact"),
    (510, _K.recipient, "no recent conversation with this contact", _WAIT_FOR_CONTACT),
    (
        520,
        _K.recipient,
        "cannot send outbound messages until the recipient starts a conversation",
        _WAIT_FOR_CONTACT,
    ),
    (530, _K.recipient, "unable to start a conversation with this contact", _WAIT_FOR_CONTACT),
    (
        540,
        _K.rate_limit,
        "limit reached for messaging recipients not contacted for a long time",
        "wait at least 2 minutes between messages to contacts who have not written recently",
    ),
    (550, _K.rate_limit, "pricing-plan limit reached", "upgrade the plan " + _DASHBOARD),
    (
        1000,
        _K.delivery,
        "internal error during sending",
        "a LoopMessage-side failure; retry in a few seconds",
    ),
    (1010, _K.delivery, "send attempted but failed", "retry after a short delay"),
    (
        1020,
        _K.delivery,
        'sent, but the destination reported "Not delivered"',
        "the device may be offline or off iMessage; retry much later, stop if it repeats",
    ),
    (
        1030,
        _K.delivery,
        "sent, but no delivery confirmation (usually not delivered)",
        "the device may be offline or off iMessage; do not resend right away",
    ),
)

_LEGACY_ROWS: Tuple[_Row, ...] = (
    (
        110,
        _K.auth,
        "missing credentials",
        "set authorization_key and secret_key " + _DASHBOARD,
    ),
    (
        125,
        _K.auth,
        "authorization key invalid or nonexistent",
        "check authorization_key: copy the Authorization Key from the LoopMessage dashboard",
    ),
    (
        130,
        _K.auth,
        "secret key invalid or nonexistent",
        "check secret_key: copy the API Secret Key from the LoopMessage dashboard",
    ),
    (140, _K.request, "no text", "give the message text; the legacy API wants it on every send"),
    (210, _K.sender, "sender name not specified", "set sender_name"),
    (220, _K.sender, "invalid sender name", "check sender_name " + _DASHBOARD),
    (230, _K.sender, "internal error using the sender name", _FIX_SENDER),
    (240, _K.sender, "sender name not activated or unpaid", _FIX_SENDER),
    (270, _K.recipient, "recipient blocked all messages", "stop messaging this contact"),
    (300, _K.sender, "this message type needs a dedicated sender name", _FIX_SENDER),
    (
        330,
        _K.rate_limit,
        "sending too often to recipients not contacted for a long time",
        "space out messages to cold contacts, or Apple may suspend the sender",
    ),
    (400, _K.account, "no available requests or credits", "top up credits " + _DASHBOARD),
    (500, _K.account, "account suspended", _FIX_ACCOUNT),
    (510, _K.account, "account blocked", _FIX_ACCOUNT),
    (530, _K.account, "account suspended due to debt", _FIX_ACCOUNT),
    (540, _K.sender, "no active purchased sender name", _FIX_SENDER),
    (545, _K.sender, "sender name suspended by Apple", _FIX_SENDER),
    (
        550,
        _K.sender,
        "needs a dedicated sender name, or the recipient as a sandbox contact",
        "use a dedicated sender name, or add the contact as a sandbox contact " + _DASHBOARD,
    ),
    (
        560,
        _K.recipient,
        "cannot send outbound messages until the recipient starts a conversation",
        _WAIT_FOR_CONTACT,
    ),
    (570, _K.request, "deprecated API request", "update rasa-imessage"),
)

_OFFLINE = "the device may be offline or off iMessage; do not resend right away"

_LEGACY_WEBHOOK_ROWS: Tuple[_Row, ...] = (
    (100, _K.delivery, "internal error", "retry later; contact LoopMessage if it persists"),
    (110, _K.delivery, "unable to deliver the message", _OFFLINE),
    (120, _K.delivery, "message sent unsuccessfully", _OFFLINE),
    (130, _K.delivery, "message timeout", "the send exceeded its timeout; retry later"),
    (
        140,
        _K.delivery,
        "the integration timed out or was overloaded",
        "retry later; contact LoopMessage if it persists",
    ),
    (
        150,
        _K.delivery,
        "could not pass the request to the integration, or it returned an error",
        "retry later; contact LoopMessage if it persists",
    ),
)


def _table(rows: Iterable[_Row]) -> Dict[int, ErrorInfo]:
    return {
        code: ErrorInfo(code, meaning, code in _RETRYABLE, hint, kind)
        for code, kind, meaning, hint in rows
    }


CURRENT_CODES: Dict[int, ErrorInfo] = _table(_CURRENT_ROWS + _COMMON_ROWS)
LEGACY_CODES: Dict[int, ErrorInfo] = _table(_LEGACY_ROWS + _COMMON_ROWS)
LEGACY_WEBHOOK_CODES: Dict[int, ErrorInfo] = _table(_LEGACY_WEBHOOK_ROWS)


def describe(api: str, code: int, *, webhook: bool = False) -> ErrorInfo:
    """The table row for `code` on API generation `api`; never raises for an unknown code.

    `webhook=True` selects the legacy webhook table (`message_failed`/`message_timeout`
    codes), which the legacy API keeps apart from its send codes; the current API has
    one table for both.
    """
    if api == "current":
        table = CURRENT_CODES
    elif api == "legacy":
        table = LEGACY_WEBHOOK_CODES if webhook else LEGACY_CODES
    else:
        raise ValueError(f"api must be one of {API_GENERATIONS}, not {api!r}")
    info = table.get(code)
    if info is not None:
        return info
    return ErrorInfo(
        code,
        f"unknown error code {code}",
        False,
        "see the LoopMessage error-code docs; report it if it keeps happening",
        ErrorKind.unknown,
    )
