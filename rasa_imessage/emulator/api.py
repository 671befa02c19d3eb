"""The LoopMessage HTTP API as the emulator serves it: send, show-typing and status.

Routes follow the generation the emulator speaks. The current API has show-typing and its
status lives at ``/v1/message/status/{id}/`` (no ``/api``; ``/api/v1/...`` is accepted too);
the legacy API has no show-typing at all. Failures answer HTTP 400 with
``{"success": false, "code": N, "message": ...}``, as LoopMessage does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any, Callable

from aiohttp import web

from rasa_imessage.loopmessage import describe

from .context import Context
from .events import JsonDict
from .faults import SendFault
from .optins import links_json, new_link
from .payloads import group_object
from .store import Message, iso
from .validation import Rejection, SendPlan, check_auth, plan_send, plan_typing, reject

logger = logging.getLogger(__name__)

# Legacy code 400 is "no available requests/credits", which LoopMessage answers with 402.
_PAYMENT_REQUIRED_CODES = {"legacy": {400}, "current": set()}


class LoopMessageRoutes:
    """Request handlers for the API surface; they check, then hand over to the lifecycle."""

    def __init__(self, context: Context, base_url: Callable[[], str]) -> None:
        self._base_url = base_url  # where the emulator serves its opt-in pages
        self._config = context.config
        self._api = context.config.api
        self._store = context.store
        self._faults = context.faults
        self._lifecycle = context.lifecycle
        self._stopping = context.stopping
        self._started = time.time()  # the senders' create_date

    def routes(self) -> list[web.RouteDef]:
        routes = [
            web.post("/api/v1/message/send/", self.send),
            web.get("/api/v1/message/status/{id}/", self.status),
        ]
        if self._api == "current":
            routes += [
                web.post("/api/v1/message/show-typing/", self.show_typing),
                web.post("/api/v1/opt-in/generate-url/", self.opt_in_link),
                web.get("/api/v1/sender/list/", self.senders),
                web.get("/v1/message/status/{id}/", self.status),
            ]
        return routes

    async def send(self, request: web.Request) -> web.StreamResponse:
        try:
            check_auth(self._api, request.headers, self._config)
            body = await _json_body(request, self._api)
            plan = plan_send(self._api, body, self._store, self._config.addressable)
            fault = self._faults.take_send_fault()
            if fault is not None:
                return await self._fault(request, fault)
        except Rejection as rejection:
            return self._refuse(request, rejection)
        message = self._lifecycle.accept_send(plan)
        self._record(request, 200, _describe_send(plan))
        return web.json_response(self._send_response(plan, message))

    def _send_response(self, plan: SendPlan, message: Message) -> JsonDict:
        body: JsonDict = {"message_id": message.id}
        if self._api == "legacy":
            body["success"] = True
        if plan.contact is None:
            conversation = self._store.conversations[plan.conversation]
            body["group"] = group_object(self._api, conversation)
        elif self._api == "legacy" or plan.kind == "voice":
            # The current API's voice example answers with "recipient", not "contact".
            body["recipient"] = plan.contact
        else:
            body["contact"] = plan.contact
        body["text"] = plan.text
        return body

    async def _fault(self, request: web.Request, fault: SendFault) -> web.StreamResponse:
        if fault == "http500":
            self._record(request, 500, "fault: HTTP 500")
            return web.Response(status=500, text="Internal Server Error")
        if fault == "timeout":
            self._record(request, None, "fault: holding the request without an answer")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self._config.send_hang_seconds)
            return web.Response(status=504, text="Gateway Timeout")
        assert isinstance(fault, int)
        status = 402 if fault in _PAYMENT_REQUIRED_CODES[self._api] else 400
        meaning = describe(self._api, fault).meaning
        return self._refuse(request, Rejection(fault, f"{meaning} (fault)", status))

    async def show_typing(self, request: web.Request) -> web.StreamResponse:
        try:
            check_auth(self._api, request.headers, self._config)
            body = await _json_body(request, self._api)
            plan = plan_typing(body, self._store, self._config.addressable)
        except Rejection as rejection:
            return self._refuse(request, rejection)
        if plan.typing:
            self._store.set_typing(plan.conversation, plan.typing)
        if plan.read:
            self._store.mark_read(plan.conversation)
        self._record(request, 200, f"typing {plan.typing} s, read {str(plan.read).lower()}")
        return web.json_response({"success": True})

    async def opt_in_link(self, request: web.Request) -> web.StreamResponse:
        try:
            check_auth(self._api, request.headers, self._config)
            link = new_link(await _json_body(request, self._api))
        except Rejection as rejection:
            return self._refuse(request, rejection)
        self._store.opt_in_links[link.id] = link
        self._record(request, 200, f"opt-in link {link.code}: {link.text[:60]!r}")
        return web.json_response(links_json(link, self._base_url(), self._config))

    async def senders(self, request: web.Request) -> web.StreamResponse:
        """The organization's senders, a page at a time, every one of them active."""
        try:
            check_auth(self._api, request.headers, self._config)
            page = _positive(request.query.get("page", "1"), "page")
            per_page = _positive(request.query.get("per_page", "20"), "per_page")
        except Rejection as rejection:
            return self._refuse(request, rejection)
        senders = self._config.senders
        pages = max(1, -(-len(senders) // per_page))
        items = [
            {"id": sender, "name": sender, "status": "active", "create_date": iso(self._started),
             "imessage_link": f"imessage://{self._config.sender_name}"}
            for sender in senders[(page - 1) * per_page : page * per_page]
        ]  # fmt: skip
        self._record(request, 200, f"{len(items)} sender(s), page {page} of {pages}")
        return web.json_response({"page": page, "num_pages": pages, "per_page": per_page,
                                  "count": len(senders), "items": items})  # fmt: skip

    async def status(self, request: web.Request) -> web.StreamResponse:
        try:
            check_auth(self._api, request.headers, self._config)
        except Rejection as rejection:
            if self._api == "current":  # the current status endpoint says error_code, not code
                self._record(request, 400, rejection.message, rejection.code)
                return web.json_response(
                    {"error_code": rejection.code, "message": rejection.message}, status=400
                )
            return self._refuse(request, rejection)
        message = self._store.messages.get(request.match_info["id"])
        if message is None or message.direction != "outbound":
            self._record(request, 404, "unknown message_id")
            return web.Response(status=404)
        self._record(request, 200, message.status)
        return web.json_response(self._status_body(message))

    def _status_body(self, message: Message) -> JsonDict:
        conversation = self._store.conversations[message.conversation]
        contact_key = "contact" if self._api == "current" else "recipient"
        body: JsonDict = {"message_id": message.id, "status": message.status}
        if conversation.kind == "contact":
            body[contact_key] = conversation.key
        body["text"] = message.text
        if self._api == "legacy":
            body.update(sandbox=False, sender_name=self._config.sender_name)
            if message.passthrough is not None:
                body["passthrough"] = message.passthrough
        if message.error_code is not None:
            body["error_code"] = message.error_code
        body["last_update"] = iso(message.updated)
        return body

    def _refuse(self, request: web.Request, rejection: Rejection) -> web.Response:
        self._record(request, rejection.status, rejection.message, rejection.code)
        body = {"success": False, "code": rejection.code, "message": rejection.message}
        return web.json_response(body, status=rejection.status)

    def _record(
        self, request: web.Request, status: int | None, detail: str, code: int | None = None
    ) -> None:
        ok = status == 200
        self._store.record(
            direction="api",
            title=f"{request.method} {request.path}",
            status=status,
            ok=ok,
            detail=detail,
            code=code,
        )
        logger.debug("%s %s -> %s %s", request.method, request.path, status, code or "")


async def _json_body(request: web.Request, api: Any) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except ValueError as exc:
        raise reject(api, "bad_request", "The request body is not valid JSON") from exc


def _positive(raw: str, name: str) -> int:
    if not raw.isdigit() or int(raw) < 1:
        raise reject("current", "bad_param", f"{name} must be a whole number from 1")
    return int(raw)


def _describe_send(plan: SendPlan) -> str:
    """A one-line summary for the debug panel."""
    parts = [plan.kind, "to", plan.contact or f"group {plan.conversation[:8]}"]
    if plan.reaction:
        parts.append(plan.reaction)
    if plan.attachments:
        parts.append(f"+{len(plan.attachments)} attachment(s)")
    if plan.text:
        parts.append(json.dumps(plan.text[:60], ensure_ascii=False))
    return " ".join(parts)
