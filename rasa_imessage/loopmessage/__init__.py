"""LoopMessage API client and models. This package never imports Rasa.

Everything the Rasa side uses is exported here; the `_*` modules are private.
"""

from ._bodies import to_current_body, to_legacy_body
from ._client import OPT_IN_CODE, LoopMessageClient
from ._codes import (
    CURRENT_CODES,
    LEGACY_CODES,
    LEGACY_WEBHOOK_CODES,
    ErrorInfo,
    ErrorKind,
    describe,
)
from ._compat import model_copy, model_dump, parse_obj
from ._config import ClientConfig
from ._errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    DeliveryError,
    InvalidRequestError,
    LoopMessageError,
    PayloadError,
    RateLimitError,
    RecipientError,
    UnsupportedError,
    error_from_response,
)
from ._in_order import SentInOrder, send_in_order
from ._masking import mask_contact
from ._media_urls import MAX_URL_LENGTH, is_loopback_url
from ._models import (
    MESSAGE_STATUSES,
    EventKind,
    Group,
    InboundEvent,
    Language,
    MessageStatus,
    OptInLinks,
    Sender,
    SendResult,
    Speech,
)
from ._protocol import LoopMessageAPI
from ._retry import RetryPolicy, parse_retry_after
from ._send import (
    AUDIO_EXTENSIONS,
    CHANNELS,
    EFFECTS,
    MAX_ATTACHMENTS,
    MAX_PASSTHROUGH_LENGTH,
    MAX_TEXT_LENGTH,
    REACTIONS,
    SendRequest,
)
from ._webhook import parse_webhook
from ._worker import WorkerClient

__all__ = [
    "AUDIO_EXTENSIONS",
    "CHANNELS",
    "CURRENT_CODES",
    "EFFECTS",
    "LEGACY_CODES",
    "LEGACY_WEBHOOK_CODES",
    "MAX_ATTACHMENTS",
    "MAX_PASSTHROUGH_LENGTH",
    "MAX_TEXT_LENGTH",
    "MAX_URL_LENGTH",
    "MESSAGE_STATUSES",
    "OPT_IN_CODE",
    "REACTIONS",
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "ClientConfig",
    "DeliveryError",
    "ErrorInfo",
    "ErrorKind",
    "EventKind",
    "Group",
    "InboundEvent",
    "InvalidRequestError",
    "Language",
    "LoopMessageAPI",
    "LoopMessageClient",
    "LoopMessageError",
    "MessageStatus",
    "OptInLinks",
    "PayloadError",
    "RateLimitError",
    "RecipientError",
    "RetryPolicy",
    "SendRequest",
    "SendResult",
    "Sender",
    "SentInOrder",
    "Speech",
    "UnsupportedError",
    "WorkerClient",
    "describe",
    "error_from_response",
    "is_loopback_url",
    "mask_contact",
    "model_copy",
    "model_dump",
    "parse_obj",
    "parse_retry_after",
    "parse_webhook",
    "send_in_order",
    "to_current_body",
    "to_legacy_body",
]
