"""The emulator's own JSON API under ``/emulator/``: what the chat page and tests drive.

People's side of the conversation (write, react, start a group), the debug log, fault
switches and reset. No auth: the emulator binds to loopback and holds only test data.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping

from aiohttp import web

from rasa_imessage.loopmessage import CURRENT_CODES, LEGACY_CODES

from .contacts import ContactError, normalize_contact
from .context import Context
from .lifecycle import Inbound
from .validation import REACTIONS

logger = logging.getLogger(__name__)

# Message types a person can send besides text and attachments (LoopMessage's words).
_EXTRA_TYPES = ("sticker", "location")


class DevError(ValueError):
    """A dev-API request that makes no sense; answered with 400 and this reason."""


class DevRoutes:
    """Handlers for ``/emulator/*``."""

    def __init__(self, context: Context) -> None:
        self._config = context.config
        self._store = context.store
        self._faults = context.faults
        self._lifecycle = context.lifecycle

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/emulator/health", self.health),
            web.get("/emulator/state", self.state),
            web.get("/emulator/conversations", self.conversations),
            web.get("/emulator/conversations/{key}/messages", self.messages),
            web.post("/emulator/groups", self.create_group),
            web.post("/emulator/messages", self.send_inbound),
            web.post("/emulator/reactions", self.react),
            web.post("/emulator/opt-in", self.opt_in),
            web.post("/emulator/calls", self.call),
            web.get("/emulator/log", self.log),
            web.get("/emulator/faults", self.get_faults),
            web.post("/emulator/faults", self.set_faults),
            web.post("/emulator/reset", self.reset),
        ]

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "api": self._config.api})

    async def state(self, request: web.Request) -> web.Response:
        codes = CURRENT_CODES if self._config.api == "current" else LEGACY_CODES
        return web.json_response(
            {
                "api": self._config.api,
                "webhook_url": self._config.webhook_url,
                "sender": self._config.addressable[0],
                # Whom a contact may write to: several senders on the current API.
                "senders": list(self._config.addressable),
                "faults": self._faults.to_json(),
                "codes": [{"code": c, "meaning": i.meaning} for c, i in sorted(codes.items())],
                **self._store.snapshot(),
            }
        )

    async def conversations(self, request: web.Request) -> web.Response:
        return web.json_response([c.to_json() for c in self._store.conversations.values()])

    async def messages(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        if key not in self._store.conversations:
            return _error(404, f"no conversation {key!r}")
        return web.json_response([m.to_json() for m in self._store.messages_in(key)])

    async def create_group(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            participants = [_contact(p) for p in _list(body, "participants")]
            if len(participants) < 2:
                raise DevError("a group needs at least two participants")
            name = _text(body, "name") or None
        except DevError as exc:
            return _error(400, str(exc))
        group = self._store.create_group(name, participants)
        return web.json_response(group.to_json(), status=201)

    async def send_inbound(self, request: web.Request) -> web.Response:
        try:
            inbound = self._inbound(await _body(request))
        except DevError as exc:
            return _error(400, str(exc))
        message = self._lifecycle.receive(inbound)
        return web.json_response(message.to_json(), status=201)

    def _inbound(self, body: Mapping[str, Any]) -> Inbound:
        contact = _contact(_text(body, "contact"))
        group = _text(body, "group") or None
        if group and self._store.group(group) is None:
            raise DevError(f"no group {group!r}; create it with POST /emulator/groups")
        text = _text(body, "text")
        attachments = _list(body, "attachments")
        message_type = "attachments" if attachments and not text else "text"
        speech = None
        voice = body.get("voice")
        if voice is not None:
            if not isinstance(voice, dict) or not isinstance(voice.get("url"), str):
                raise DevError('voice must be {"url": "...", "transcript": "..."}')
            attachments, message_type = [voice["url"], *attachments], "audio"
            speech = _text(voice, "transcript") or None
        requested = _text(body, "message_type")
        if requested:
            if requested not in _EXTRA_TYPES:
                raise DevError(f"message_type must be one of {', '.join(_EXTRA_TYPES)}")
            message_type = requested
        if not (text or attachments):
            raise DevError("a message needs text, attachments or a voice note")
        reply_to = _text(body, "reply_to_id") or None
        if reply_to and reply_to not in self._store.messages:
            raise DevError(f"no message {reply_to!r} to reply to")
        via = self._via(body)
        return Inbound(
            contact=contact,
            text=text,
            conversation=group,
            attachments=attachments,
            subject=_text(body, "subject") or None,
            message_type=message_type,
            speech=speech,
            reply_to_id=reply_to,
            via=via,
        )

    def _via(self, body: Mapping[str, Any]) -> str | None:
        """The sender a person writes to or calls, if they name one (current API)."""
        via = _text(body, "sender") or None
        if via is not None and self._config.api != "current":
            raise DevError("sender is for the current API; the legacy API has one sender_name")
        if via is not None and via not in self._config.senders:
            raise DevError(f"sender must be one of {', '.join(self._config.senders)}")
        return via

    async def react(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            target = self._store.messages.get(_text(body, "message_id"))
            if target is None or target.direction != "outbound" or target.reaction:
                raise DevError("message_id must name a message the bot sent")
            reaction = _text(body, "reaction")
            if reaction not in REACTIONS["current"]:
                raise DevError("reaction must be love, like, dislike, laugh, emphasize or question")
            conversation = self._store.conversations[target.conversation]
            contact = _text(body, "contact")
            who = _contact(contact) if contact else conversation.participants[0]
        except DevError as exc:
            return _error(400, str(exc))
        self._lifecycle.react(target, who, reaction)
        return web.json_response(target.to_json())

    async def opt_in(self, request: web.Request) -> web.Response:
        try:
            contact = _contact(_text(await _body(request), "contact"))
        except DevError as exc:
            return _error(400, str(exc))
        self._lifecycle.opt_in(contact)
        return web.json_response({"contact": contact}, status=201)

    async def call(self, request: web.Request) -> web.Response:
        try:
            body = await _body(request)
            contact = _contact(_text(body, "contact"))
            via = self._via(body)
        except DevError as exc:
            return _error(400, str(exc))
        self._lifecycle.call(contact, via)
        return web.json_response({"contact": contact}, status=201)

    async def log(self, request: web.Request) -> web.Response:
        return web.json_response([entry.to_json() for entry in self._store.log])

    async def get_faults(self, request: web.Request) -> web.Response:
        return web.json_response(self._faults.to_json())

    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            self._faults.update(await _body(request))
        except (DevError, ValueError) as exc:
            return _error(400, str(exc))
        return web.json_response(self._faults.to_json())

    async def reset(self, request: web.Request) -> web.Response:
        self._faults.clear()
        self._store.reset()
        return web.json_response({"ok": True})


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise DevError("the body must be JSON") from exc
    if not isinstance(body, dict):
        raise DevError("the body must be a JSON object")
    return body


def _text(body: Mapping[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DevError(f"{name} must be a string")
    return value


def _list(body: Mapping[str, Any], name: str) -> list[str]:
    value = body.get(name) or []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DevError(f"{name} must be a list of strings")
    return list(value)


def _contact(raw: str) -> str:
    if not raw:
        raise DevError("contact is required: a phone with country code or an email")
    try:
        return normalize_contact(raw)[0]
    except ContactError as exc:
        raise DevError(f"{exc}; use a phone with country code or an email") from exc


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)
