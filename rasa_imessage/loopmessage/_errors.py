"""Exceptions of the LoopMessage layer. Nothing from aiohttp, httptools or pydantic escapes it.

```
LoopMessageError            base class, never raised itself
  APIConnectionError        no answer: connect/read/write failure → retryable
    APITimeoutError
  APIError                  LoopMessage answered with an error: .status .code .meaning .retryable .hint .kind
    AuthenticationError     (kind auth)          RateLimitError (kind rate_limit, or HTTP 429)
    RecipientError          (kind recipient)     DeliveryError  (kind delivery)
  PayloadError              a webhook or response body we could not parse
  InvalidRequestError       a SendRequest we refuse to send: .field, .reason
  UnsupportedError          operation not available on this API generation (e.g. show-typing on legacy)
```

The first split is the one retries and log lines need: did the exchange fail
(`APIConnectionError`), or did LoopMessage answer "no" (`APIError`)? Messages are one
line, say what happened and what to do, and never carry a key, a header value or
the request body.
"""  # noqa: E501

from __future__ import annotations

from typing import Any, Dict, Mapping, Type

from ._codes import API_GENERATIONS, ErrorInfo, ErrorKind, describe
from ._coerce import opt_int

__all__ = [
    "APIConnectionError",
    "APIError",
    "APITimeoutError",
    "AuthenticationError",
    "DeliveryError",
    "InvalidRequestError",
    "LoopMessageError",
    "PayloadError",
    "RateLimitError",
    "RecipientError",
    "UnsupportedError",
    "error_from_response",
]


class LoopMessageError(Exception):
    """Base class of every error raised by this package; never raised itself."""


class APIConnectionError(LoopMessageError):
    """No answer from LoopMessage: the connection, the write or the read failed."""


class APITimeoutError(APIConnectionError):
    """No answer from LoopMessage within the configured timeout."""


class APIError(LoopMessageError):
    """LoopMessage answered, and the answer was an error."""

    def __init__(
        self,
        meaning: str,
        *,
        status: int,
        code: int | None = None,
        hint: str = "",
        retryable: bool = False,
        kind: ErrorKind = ErrorKind.unknown,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        self.meaning = meaning
        self.status = status
        self.code = code
        self.hint = hint
        self.retryable = retryable
        self.kind = kind
        self.retry_after = retry_after
        # LoopMessage's own `message` text: for developers, never shown to end users,
        # and kept out of str() because it may quote what we sent.
        self.detail = detail
        super().__init__(str(self))

    def __str__(self) -> str:
        label = self.code if self.code is not None else f"HTTP {self.status}"
        text = f"LoopMessage error {label}: {self.meaning}."
        return f"{text} {self.hint}" if self.hint else text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status}, code={self.code}, kind={self.kind.value})"
        )


class AuthenticationError(APIError):
    """The credentials are missing or wrong (110, 125, 130, HTTP 401/403)."""


class RateLimitError(APIError):
    """LoopMessage refuses for now: a sending limit was reached (540, 550, legacy 330, HTTP 429)."""


class RecipientError(APIError):
    """The contact cannot receive this message (invalid, opted out, has not texted first)."""


class DeliveryError(APIError):
    """The message was sent but not delivered, or the send process failed (1000-1030)."""


class PayloadError(LoopMessageError):
    """A webhook or response body that we could not parse; the message says why in one line."""


class InvalidRequestError(LoopMessageError):
    """A send we refuse before it leaves: `.field` names the culprit, `.reason` says why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class UnsupportedError(LoopMessageError):
    """The operation does not exist on this API generation."""


_CLASS_BY_KIND: Dict[ErrorKind, Type[APIError]] = {
    ErrorKind.auth: AuthenticationError,
    ErrorKind.rate_limit: RateLimitError,
    ErrorKind.recipient: RecipientError,
    ErrorKind.delivery: DeliveryError,
}

_AUTH_HINT = {
    "current": "check api_key: copy the organization API key from the LoopMessage dashboard",
    "legacy": "check authorization_key and secret_key in the LoopMessage dashboard",
}


def _status_info(api: str, status: int) -> ErrorInfo:
    """What an error status means when the body carries no code."""
    if status in (401, 403):
        return ErrorInfo(0, "authentication failed", False, _AUTH_HINT[api], ErrorKind.auth)
    if status == 402:
        hint = "top up credits in the LoopMessage dashboard"
        return ErrorInfo(0, "out of credits", False, hint, ErrorKind.account)
    if status == 404:
        hint = "check base_url; LoopMessage does not know this endpoint or id"
        return ErrorInfo(0, "not found", False, hint, ErrorKind.request)
    if status == 429:
        hint = "too many requests; slow down"
        return ErrorInfo(0, "rate limited", True, hint, ErrorKind.rate_limit)
    if status == 408 or status >= 500:
        hint = "LoopMessage had a problem; retry later"
        return ErrorInfo(0, "server error", True, hint, ErrorKind.unknown)
    hint = "the request was refused without an error code"
    return ErrorInfo(0, "request refused", False, hint, ErrorKind.request)


def _code_of(body: Mapping[str, Any]) -> int | None:
    """The error code from `code`, or `error_code` (the status endpoint's spelling)."""
    for key in ("code", "error_code"):
        code = opt_int(body.get(key))
        if code is not None:
            return code
    return None


def error_from_response(
    api: str,
    status: int,
    body: Mapping[str, Any] | None,
    *,
    retry_after: float | None = None,
) -> APIError:
    """The typed error for an error answer: the body's code decides, else the HTTP status."""
    if api not in API_GENERATIONS:
        raise ValueError(f"api must be one of {API_GENERATIONS}, not {api!r}")
    code = _code_of(body) if body is not None else None
    info = describe(api, code) if code is not None else _status_info(api, status)
    if code is not None and info.kind is ErrorKind.unknown:
        # A code we do not know: the HTTP status is the better guide to retrying.
        retryable = _status_info(api, status).retryable
    else:
        retryable = info.retryable
    cls = RateLimitError if status == 429 else _CLASS_BY_KIND.get(info.kind, APIError)
    detail = body.get("message") if body is not None else None
    return cls(
        info.meaning,
        status=status,
        code=code,
        hint=info.hint,
        retryable=retryable or status == 429,
        kind=ErrorKind.rate_limit if status == 429 else info.kind,
        retry_after=retry_after,
        detail=detail if isinstance(detail, str) else None,
    )
