"""One Rasa bot response → the LoopMessage sends that show it, in order.

Rasa's base `send_response` makes up to five separate calls per response and renders
buttons as "1: Title (/payload)" text. iMessage deserves better, so the whole response dict is
planned here at once: text (Markdown made plain, split into paragraphs, cut under the length
limit) with its image and attachments in the same send, buttons as a numbered list, voice
messages, carousel elements as one bubble each, and `custom` payloads as LoopMessage sends.
Nothing here makes a network call or imports Rasa; only a `data:` URL or a file path, handed
to the `media` host (hosted_media.py), is kept in memory or looked up on disk.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence  # isinstance: typing's aliases check slower
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from .buttons import render_buttons
from .config import IMessageConfig
from .hosted_media import MediaHost, MediaRefused, is_local_reference
from .inbound import recipient_of
from .loopmessage import MAX_ATTACHMENTS, InvalidRequestError, SendRequest, is_loopback_url
from .media import VOICE_EXTENSIONS, extension_of
from .passthrough import encode_conversation
from .rendering import chunk_text, markdown_to_text, paragraphs

__all__ = ["CUSTOM_KEYS", "Plan", "plan_response"]

logger = logging.getLogger(__name__)

# The LoopMessage send fields a `custom` response may carry (DESIGN.md's contract).
CUSTOM_KEYS = frozenset(
    {
        "text",
        "subject",
        "effect",
        "reply_to_id",
        "attachments",
        "media_url",
        "reaction",
        "message_id",
        "channel",
        "service",
        "sender",
    }
)


@dataclass
class Plan:
    """The sends for one response, and what was refused (with the reason)."""

    sends: List[SendRequest] = field(default_factory=list)
    refused: List[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Target:
    contact: Optional[str]
    group: Optional[str]
    passthrough: Optional[str]
    last_user_message_id: Optional[str]
    sender: Optional[str] = None  # the conversation's (reply_senders.py); a custom one wins


def _url_of(value: Any) -> Optional[str]:
    """Rasa attachments are usually a URL string; accept `{"url": ...}` shapes too."""
    if isinstance(value, str) and value.strip():
        return value.strip()
    if isinstance(value, Mapping):
        for key in ("url", "src", "link"):
            found = value.get(key)
            if isinstance(found, str) and found.strip():
                return found.strip()
        payload = value.get("payload")
        if isinstance(payload, (Mapping, str)):
            return _url_of(payload)
    return None


def _is_voice(url: str, config: IMessageConfig) -> bool:
    return config.voice_messages and extension_of(url) in VOICE_EXTENSIONS


@functools.lru_cache(maxsize=8)
def _on_this_machine(base_url: str) -> bool:
    """Whether the API is a stand-in on loopback; asked once per base URL, not per response
    (parsing the URL was a fifth of a plain text's planning)."""
    return is_loopback_url(base_url)


class _Builder:
    def __init__(self, target: _Target, config: IMessageConfig, media: Optional[MediaHost]) -> None:
        self.target = target
        self.config = config
        self.media = media
        self.limit = MAX_ATTACHMENTS[config.api]
        # A stand-in on this machine (the emulator) can fetch loopback URLs; LoopMessage can't.
        self.local_urls = _on_this_machine(config.base_url or "")
        self.plan = Plan()

    def add(self, what: str, **fields: Any) -> None:
        """One send to the target; a field LoopMessage would refuse refuses it, with why."""
        fields.setdefault("passthrough", self.target.passthrough)
        fields.setdefault("sender", self.target.sender)
        fields["contact"] = self.target.contact
        fields["group"] = self.target.group
        try:
            self.plan.sends.append(SendRequest.create(local_urls=self.local_urls, **fields))
        except InvalidRequestError as exc:
            self.plan.refused.append(f"{what}: {exc}")

    def hosted(self, url: str, what: str) -> Optional[str]:
        """The bot's own file (a `data:` URL or a path) as the URL the connector serves it
        at; any other URL as it is. None, and the reason refused, when it cannot be served."""
        if not is_local_reference(url):
            return url
        if self.media is None:
            self.plan.refused.append(
                f"{what}: a data: URL or a file path (this is not an https:// URL) needs "
                "public_url, the address the connector serves the bot's files at"
            )
            return None
        try:
            return self.media.url_for(url)
        except MediaRefused as exc:
            self.plan.refused.append(f"{what}: {exc}")
            return None

    def usable(self, urls: Sequence[str], what: str) -> List[str]:
        """The URLs LoopMessage takes as attachments; each bad one is refused on its own.

        A bot's text must not be lost because the image beside it is an http:// URL.
        """
        good: List[str] = []
        for url in urls:
            try:
                SendRequest.create(
                    local_urls=self.local_urls,
                    contact=self.target.contact,
                    group=self.target.group,
                    attachments=[url],
                )
            except InvalidRequestError as exc:
                if exc.field == "attachments":
                    self.plan.refused.append(f"{what}: {exc}")
                    continue
            good.append(url)
        return good

    def text_with_media(
        self, texts: Sequence[str], urls: Sequence[str], what: str, **extra: Any
    ) -> None:
        """Texts in order; attachments ride with the last text, overflow in further sends.

        `subject` and `effect` go on the first send only; the other fields (`channel`,
        `reply_to_id`) on every one.
        """
        attachments = list(urls)
        texts = list(texts) or [""]
        for index, text in enumerate(texts):
            last = index == len(texts) - 1
            batch = attachments[: self.limit] if last else []
            if last:
                attachments = attachments[self.limit :]
            if text or batch:
                self.add(what, text=text, attachments=batch, **extra)
            extra = {k: v for k, v in extra.items() if k not in ("subject", "effect")}
        while attachments:
            self.add(what, text="", attachments=attachments[: self.limit], **extra)
            attachments = attachments[self.limit :]

    def all_or_nothing(self, build: Callable[[], None]) -> None:
        """Run `build`; if it refused anything, drop every send it planned."""
        sends, refused = len(self.plan.sends), len(self.plan.refused)
        build()
        if len(self.plan.refused) > refused:
            del self.plan.sends[sends:]
            reasons = self.plan.refused[refused:]
            self.plan.refused[refused:] = sorted(set(reasons), key=reasons.index)

    def voice(self, url: str) -> None:
        self.add("voice message", media_url=url)


# Bot texts repeat (they come from the domain's templates), and making one into bubbles is
# a pure function of the text: a cache of recent ones skips the Markdown's fourteen
# substitutions for most replies. Long texts are not kept: at most about 4 MiB.
_CACHED_TEXTS = 512
_CACHED_LENGTH = 1000


def _texts(raw: Optional[str], config: IMessageConfig) -> List[str]:
    if not raw or not raw.strip():
        return []
    bubbles = _bubbles if len(raw) > _CACHED_LENGTH else _cached_bubbles
    return list(bubbles(raw, config.split_paragraphs))  # a copy: callers edit the last one


def _bubbles(raw: str, split: bool) -> Tuple[str, ...]:
    text = markdown_to_text(raw)
    parts = paragraphs(text) if split else [text.strip()]
    return tuple(chunk for part in parts for chunk in chunk_text(part))


_cached_bubbles = functools.lru_cache(maxsize=_CACHED_TEXTS)(_bubbles)


def _main_part(message: Mapping[str, Any], builder: _Builder) -> int:
    """Text, buttons, image and attachment; returns how many buttons were numbered."""
    config = builder.config
    choices = [
        b
        for b in (message.get("quick_replies") or message.get("buttons") or [])
        if isinstance(b, Mapping)
    ]
    text = message.get("text")
    texts = _texts(text if isinstance(text, str) else None, config)
    if choices:
        listing = render_buttons(None, choices)
        if texts:
            texts[-1] = texts[-1] + "\n\n" + listing
            texts[-1:] = chunk_text(texts[-1])
        else:
            texts = chunk_text(listing)
    media: List[str] = []
    for key in ("image", "attachment"):
        url = _url_of(message.get(key))
        if message.get(key) is not None and url is None:
            builder.plan.refused.append(f"{key}: no URL found in {type(message.get(key)).__name__}")
        elif url is not None:
            served = builder.hosted(url, key)
            if served is not None and served not in media:
                media.append(served)
    voices = [url for url in media if _is_voice(url, config)]
    files = builder.usable([url for url in media if url not in voices], "text")
    builder.text_with_media(texts, files, "text")
    for url in voices:
        builder.voice(url)
    return len(choices)


def _custom_part(custom: Mapping[str, Any], builder: _Builder) -> None:
    payload = custom.get("imessage", custom)
    if not isinstance(payload, Mapping):
        builder.plan.refused.append(
            f"custom: imessage must be a mapping of send fields, not {type(payload).__name__}"
        )
        return
    if not (CUSTOM_KEYS & set(payload)):
        logger.debug(
            "custom response without iMessage send fields skipped: keys %s",
            sorted(map(str, payload)),
        )
        return
    unknown = sorted(str(key) for key in payload if key not in CUSTOM_KEYS)
    if unknown:
        allowed = ", ".join(sorted(CUSTOM_KEYS))
        builder.plan.refused.append(
            f"custom: unknown field(s) {', '.join(unknown)}; allowed: {allowed}"
        )
        return
    fields: Dict[str, Any] = {key: payload[key] for key in CUSTOM_KEYS if key in payload}
    channel = fields.pop("service", None)
    if channel is not None:
        fields.setdefault("channel", channel)
    if fields.get("reaction") is not None and not fields.get("message_id"):
        fields["message_id"] = builder.target.last_user_message_id
    attachments = fields.pop("attachments", None)
    if attachments is not None and not isinstance(attachments, list):
        builder.plan.refused.append("custom: attachments must be a list of URLs")
        return
    attachments = _hosted_custom(attachments or [], fields, builder)
    if attachments is None:
        return
    if attachments and len(attachments) > builder.limit:
        text = fields.pop("text", "") or ""
        # Nothing half-formed: one bad field refuses every send of this payload.
        builder.all_or_nothing(
            lambda: builder.text_with_media([text], attachments, "custom", **fields)
        )
        return
    if attachments:
        fields["attachments"] = attachments
    builder.add("custom", **fields)


def _hosted_custom(
    attachments: List[Any], fields: Dict[str, Any], builder: _Builder
) -> Optional[List[Any]]:
    """The payload's attachments, its own files among them as served URLs, and its
    `media_url` likewise (in `fields`); None, the payload refused whole, if one of its files
    cannot be served. Other values stay as they are, for validation to name."""
    hosted = []
    for url in attachments:
        if isinstance(url, str):
            url = builder.hosted(url, "custom")
            if url is None:
                return None
        hosted.append(url)
    media_url = fields.get("media_url")
    if isinstance(media_url, str):
        fields["media_url"] = builder.hosted(media_url, "custom")
        if fields["media_url"] is None:
            return None
    return hosted


def _elements_part(elements: Sequence[Any], builder: _Builder, numbered: int) -> None:
    for element in elements:
        if not isinstance(element, Mapping):
            builder.plan.refused.append("elements: an element is not a mapping")
            continue
        title = str(element.get("title") or "").strip() or None
        subtitle = markdown_to_text(str(element.get("subtitle") or "")).strip()
        buttons = [b for b in element.get("buttons") or [] if isinstance(b, Mapping)]
        body = render_buttons(subtitle, buttons, start=numbered + 1) if buttons else subtitle
        numbered += len(buttons)
        image = _url_of(element.get("image_url") or element.get("image"))
        image = builder.hosted(image, "element") if image else None
        images = builder.usable([image] if image else [], "element")
        texts = chunk_text(body) if body else []
        if not texts and not images and title:
            texts, title = [title], None  # a subject cannot go alone: the title is the text
        builder.text_with_media(texts, images, "element", subject=title)


def plan_response(
    message: Mapping[str, Any],
    conversation: str,
    config: IMessageConfig,
    *,
    last_user_message_id: Optional[str] = None,
    sender: Optional[str] = None,
    media: Optional[MediaHost] = None,
) -> Plan:
    """Every send for one Rasa response dict (`BotUttered.message()` shape); `sender`: the
    one sends go from unless a custom payload names another; `media`: serves the bot's own
    files (`public_url`)."""
    contact, group = recipient_of(conversation)
    target = _Target(
        contact, group, encode_conversation(conversation), last_user_message_id, sender
    )
    builder = _Builder(target, config, media)
    numbered = _main_part(message, builder)
    custom = message.get("custom")
    if isinstance(custom, Mapping) and custom:
        _custom_part(custom, builder)
    elif custom:
        builder.plan.refused.append("custom: expected a mapping of LoopMessage send fields")
    elements = message.get("elements")
    if isinstance(elements, Sequence) and not isinstance(elements, str) and elements:
        _elements_part(elements, builder, numbered)
    return builder.plan
