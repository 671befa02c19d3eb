"""The async LoopMessage client: bounded retries and typed errors over a transport.

Its requests go over `KeptAliveTransport` (_transport.py), connections of its own: a turn
makes up to three requests in Rasa's process, and there one costs a third or less of the
CPU that aiohttp's ClientSession asks (BENCHMARKS.md, section 4). Through a proxy, and on a
session that the caller passes in, `AiohttpTransport` carries them instead (aiohttp was
chosen over httpx for the same reason, a fifth of the CPU). Both give an `Answer` or raise
a LoopMessageError: timeouts and transport failures are APIConnectionError and are retried;
an answer with an error becomes the APIError subclass its code calls for. Log lines carry
the endpoint, HTTP status, attempt and code, never a key, a header value or the message
text.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Dict, Mapping, Protocol, Sequence, Union
from urllib.parse import quote

import aiohttp

from ._aiohttp_transport import AiohttpTransport, proxy_for
from ._bodies import to_current_body, to_legacy_body
from ._codes import ErrorKind
from ._config import ClientConfig, secret_value
from ._errors import (
    APIConnectionError,
    APIError,
    InvalidRequestError,
    LoopMessageError,
    PayloadError,
    UnsupportedError,
    error_from_response,
)
from ._in_order import SentInOrder, send_in_order
from ._masking import mask_contact
from ._models import (
    MessageStatus,
    OptInLinks,
    Sender,
    SendResult,
    parse_opt_in_links,
    parse_send_result,
    parse_senders_page,
    parse_status,
)
from ._retry import RetryPolicy, parse_retry_after
from ._send import MAX_ATTACHMENTS, SendRequest
from ._transport import Answer, KeptAliveTransport

__all__ = ["OPT_IN_CODE", "ClientConfig", "LoopMessageClient"]  # ClientConfig: re-exported

_log = logging.getLogger(__name__)

SEND_PATH = "/api/v1/message/send/"
TYPING_PATH = "/api/v1/message/show-typing/"
OPT_IN_PATH = "/api/v1/opt-in/generate-url/"
SENDERS_PATH = "/api/v1/sender/list/?page={}&per_page={}"
_SENDERS_PER_PAGE = 100
_MAX_SENDER_PAGES = 50  # 5,000 senders: a bound on a listing that never says it ended
# The placeholder LoopMessage swaps for each link's code; a body without it is refused.
OPT_IN_CODE = "[opt-in-code]"
# The current status endpoint really is /v1 without /api (docs and two SDKs agree).
STATUS_PATHS = {"current": "/v1/message/status/{}/", "legacy": "/api/v1/message/status/{}/"}
# show-typing takes at most 60 seconds.
MAX_TYPING_SECONDS = 60


def _user_agent() -> str:
    from .. import __version__  # imported late: the parent package may still be loading

    return f"rasa-imessage/{__version__}"


def _headers(config: ClientConfig) -> Dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "User-Agent": _user_agent(),
    }
    if config.api == "current":
        headers["Authorization"] = secret_value(config.api_key)
    else:
        headers["Authorization"] = secret_value(config.authorization_key)
        headers["Loop-Secret-Key"] = secret_value(config.secret_key)
    return headers


def _json_object(body: bytes) -> Dict[str, Any] | None:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or absurdly nested
        return None
    return data if isinstance(data, dict) else None


_Outcome = Union[Dict[str, Any], LoopMessageError]


class Transport(Protocol):
    """What the client asks of the transport under it (_transport.py, _aiohttp_transport.py)."""

    async def request(
        self, method: str, path: str, content: bytes | None, endpoint: str
    ) -> Answer: ...

    async def aclose(self) -> None: ...


class LoopMessageClient:
    """Sends messages, typing indicators and status queries to one LoopMessage account.

    Without a session it keeps its own connections (`KeptAliveTransport`), or, when a proxy
    applies, its own aiohttp session made on first use (`AiohttpTransport`); `aclose()`
    closes them. Give it an `aiohttp.ClientSession` to share that session's pool instead.
    """

    def __init__(
        self,
        config: ClientConfig,
        session: aiohttp.ClientSession | None = None,
        *,
        retry: RetryPolicy | None = None,
    ) -> None:
        missing = config.missing_credentials()
        if missing:
            raise ValueError(
                f"the {config.api} LoopMessage API needs {', '.join(missing)}; "
                "copy them from the LoopMessage dashboard"
            )
        self.config = config
        self.retry = retry if retry is not None else RetryPolicy()
        self._api = config.api
        self._base = config.effective_base_url
        self._headers = _headers(config)
        proxy = proxy_for(self._base)
        self._transport: Transport
        if session is None and proxy is None:
            self._transport = KeptAliveTransport(config, self._headers)
        else:
            self._transport = AiohttpTransport(config, self._headers, session, proxy)
        self._closed = False

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"LoopMessageClient(api={self._api!r}, base_url={self._base!r}, {state})"

    async def __aenter__(self) -> LoopMessageClient:
        self._check_open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pool if this client made it; later calls raise RuntimeError."""
        if self._closed:
            return
        self._closed = True
        await self._transport.aclose()

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError(
                "this LoopMessageClient is closed; create a new one for further requests"
            )

    async def send_message(self, req: SendRequest) -> SendResult:
        """Queue one message; the result means accepted, not delivered (webhooks tell that)."""
        self._check_open()
        limit = MAX_ATTACHMENTS[self._api]
        if len(req.attachments) > limit:
            raise InvalidRequestError(
                "attachments",
                f"{len(req.attachments)} given; the {self._api} API takes at most {limit} "
                "per message, so split them",
            )
        if self._api == "current":
            body = to_current_body(req, sender=self.config.sender)
        else:
            body = to_legacy_body(req, sender_name=self.config.sender_name or "")
        if _log.isEnabledFor(logging.DEBUG):  # masking costs more than the rest of the line
            _log.debug("LoopMessage send to %s", mask_contact(req.contact or req.group))
        data = await self._call("POST", SEND_PATH, body, endpoint="send")
        try:
            return parse_send_result(data, require_id=req.reaction is None)
        except ValueError as exc:
            raise PayloadError("LoopMessage send: the 200 body has unusable fields") from exc

    async def send_messages(self, reqs: Sequence[SendRequest]) -> SentInOrder:
        """Send each once LoopMessage has accepted the one before; a failure stops the rest
        (it is in the outcome, not raised)."""
        return await send_in_order(self.send_message, reqs)

    async def show_typing(
        self,
        *,
        message_id: str | None = None,
        contact: str | None = None,
        seconds: int = 5,
        read: bool = True,
    ) -> None:
        """Show the typing indicator for `seconds` (1-60) and/or mark the chat read.

        `seconds <= 0` with `read=True` only marks read. The indicator is not shown when
        the conversation has been idle for more than 5 minutes; LoopMessage does not say so.
        """
        self._check_open()
        if self._api == "legacy":
            raise UnsupportedError(
                "the legacy API has no show-typing endpoint; answer the webhook with "
                '{"typing": N, "read": true} instead'
            )
        if (message_id is None) == (contact is None):
            raise InvalidRequestError("message_id", "give either message_id or contact")
        target: Dict[str, Any] = {"message_id": message_id}
        if contact is not None:
            if not self.config.sender:
                raise InvalidRequestError(
                    "sender", "show-typing by contact needs the sender id; pass message_id instead"
                )
            target = {"contact": contact, "sender": self.config.sender}
        typing = max(0, min(int(seconds), MAX_TYPING_SECONDS))
        if typing == 0 and not read:
            return
        body = {**target, "read": read, **({"typing": typing} if typing else {})}
        await self._call("POST", TYPING_PATH, body, endpoint="show-typing", strict=False)

    async def opt_in_links(
        self, text: str, parameters: Mapping[str, str] | None = None, *, shared: bool = False
    ) -> OptInLinks:
        """A link that opens the contact's Messages with `text` ready to send (current API).

        `text` must hold `[opt-in-code]`. `parameters` come back in the opt-in webhook's
        `parameters` (the bot's metadata): a campaign, a referrer. `shared` is for a shared
        sender.
        """
        self._check_open()
        if self._api == "legacy":
            raise UnsupportedError("opt-in links need the current API (a.loopmessage.com)")
        if OPT_IN_CODE not in text:
            raise InvalidRequestError(
                "body", f"must contain {OPT_IN_CODE}, which LoopMessage swaps for the link's code"
            )
        extra = dict(parameters or {})
        taken = sorted({"body", "sender_type"} & set(extra))
        if taken:
            raise InvalidRequestError("parameters", f"{', '.join(taken)} is LoopMessage's own")
        body: Dict[str, Any] = {"body": text, **extra}
        if shared:
            body["sender_type"] = "shared"
        data = await self._call("POST", OPT_IN_PATH, body, endpoint="opt-in")
        return parse_opt_in_links(data)

    async def list_senders(self) -> list[Sender]:
        """The organization's senders, every page (current API)."""
        self._check_open()
        if self._api == "legacy":
            raise UnsupportedError("the sender list needs the current API (a.loopmessage.com)")
        senders: list[Sender] = []
        page, pages = 1, 1
        while page <= min(pages, _MAX_SENDER_PAGES):
            path = SENDERS_PATH.format(page, _SENDERS_PER_PAGE)
            data = await self._call("GET", path, None, endpoint="senders")
            found, pages = parse_senders_page(data)
            senders += found
            page += 1
        return senders

    async def get_status(self, message_id: str) -> MessageStatus:
        """Where a sent message stands: processing, delivered, failed, ...; 404 → APIError."""
        self._check_open()
        if not message_id:
            raise InvalidRequestError("message_id", "must not be empty")
        path = STATUS_PATHS[self._api].format(quote(message_id, safe=""))
        data = await self._call("GET", path, None, endpoint="status")
        try:
            return parse_status(data, api=self._api, message_id=message_id)
        except ValueError as exc:
            raise PayloadError("LoopMessage status: the 200 body has unusable fields") from exc

    async def _call(
        self,
        method: str,
        path: str,
        body: Dict[str, Any] | None,
        *,
        endpoint: str,
        strict: bool = True,
    ) -> Dict[str, Any]:
        """Up to `max_retries + 1` attempts of one request whose body is encoded once."""
        content = None if body is None else json.dumps(body, ensure_ascii=False).encode()
        policy = self.retry
        for attempt in range(policy.max_retries + 1):
            self._check_open()
            try:
                response = await self._transport.request(method, path, content, endpoint)
            except APIConnectionError as exc:
                _log.debug(
                    "LoopMessage %s attempt %d: %s", endpoint, attempt + 1, type(exc).__name__
                )
                failure: LoopMessageError = exc
            else:
                outcome = self._outcome(response, endpoint, attempt, strict=strict)
                if not isinstance(outcome, LoopMessageError):
                    return outcome
                failure = outcome
            if attempt == policy.max_retries or not policy.should_retry(failure):
                raise failure
            delay = policy.delay(attempt, failure)
            _log.debug("LoopMessage %s: retrying in %.2f s", endpoint, delay)
            await policy.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _outcome(self, response: Answer, endpoint: str, attempt: int, *, strict: bool) -> _Outcome:
        """The JSON body of a success, or the error that this answer amounts to."""
        body = _json_object(response.body)
        error = self._error_in(response, body, endpoint, strict=strict)
        _log.debug(
            "LoopMessage %s attempt %d: HTTP %d, code %s",
            endpoint,
            attempt + 1,
            response.status,
            error.code if isinstance(error, APIError) else None,
        )
        if error is not None:
            return error
        return body if body is not None else {}

    def _error_in(
        self,
        response: Answer,
        body: Dict[str, Any] | None,
        endpoint: str,
        *,
        strict: bool,
    ) -> LoopMessageError | None:
        status = response.status
        if 200 <= status < 300:
            if not strict:
                return None
            if body is None:
                return PayloadError(f"LoopMessage {endpoint}: HTTP {status} without a JSON object")
            if body.get("success") is False:
                return error_from_response(self._api, status, body)
            return None
        error = error_from_response(
            self._api, status, body, retry_after=parse_retry_after(response.headers)
        )
        if status == 404 and endpoint == "status" and error.code is None:
            return APIError(
                "no message with that id",
                status=404,
                hint="check the message_id; it must come from a send or a webhook",
                kind=ErrorKind.request,
            )
        return error
