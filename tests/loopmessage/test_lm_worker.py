"""WorkerClient: LoopMessage calls made by a child process, against the stand-in on 127.0.0.1.

The child is a real process running the real `LoopMessageClient`; these tests check what
crosses the pipe (results, every kind of error, cancellations), and what happens when the
child dies, hangs up or is asked to stop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from typing import AsyncIterator, List

import lm_samples as S
import pytest
from lm_standin import LoopMessageStandIn, Reply, Reset, Stall
from pydantic import SecretStr
from servers import process_alive

from rasa_imessage.loopmessage import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    AuthenticationError,
    ClientConfig,
    InvalidRequestError,
    LoopMessageClient,
    RecipientError,
    RetryPolicy,
    SendRequest,
    SendResult,
    UnsupportedError,
    WorkerClient,
)
from rasa_imessage.loopmessage import _worker as worker_module
from rasa_imessage.loopmessage._frames import frame, take_frames

SEND = "/api/v1/message/send/"
TYPING = "/api/v1/message/show-typing/"
API_KEY = "org-key-in-the-worker-DO-NOT-LEAK"
OK = Reply(200, json={"success": True, "message_id": "M-1", "contact": "+13231112233"})


def config_at(url: str) -> ClientConfig:
    return ClientConfig(api_key=SecretStr(API_KEY), sender=S.SENDER_ID, base_url=url)


def text(body: str = "hello") -> SendRequest:
    return SendRequest.create(contact="+13231112233", text=body)


async def call_in_hand(lm: LoopMessageStandIn, worker: WorkerClient) -> asyncio.Future[SendResult]:
    """A send under way: LoopMessage (which `Stall`s it) has the request."""
    call = asyncio.ensure_future(worker.send_message(text()))
    deadline = time.monotonic() + 30
    while not lm.post(SEND).called:
        if call.done():  # it failed before reaching LoopMessage: say how, do not wait on
            call.result()
        assert time.monotonic() < deadline, "the call never reached LoopMessage"
        await asyncio.sleep(0.01)
    return call


@pytest.fixture
async def worker(lm: LoopMessageStandIn) -> AsyncIterator[WorkerClient]:
    client = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0))
    yield client
    await client.aclose()


async def test_a_send_comes_back_as_the_in_process_client_returns_it(lm, worker):
    lm.post(SEND).respond(OK.status, json=OK.json)
    async with LoopMessageClient(config_at(lm.url)) as direct:
        expected = await direct.send_message(text())
    result = await worker.send_message(text())
    assert isinstance(result, SendResult)
    assert result == expected
    assert lm.sends()[-1] == lm.sends()[0]  # the same body, written by the same code
    assert lm.post(SEND).calls[-1].headers["Authorization"] == API_KEY


async def test_typing_and_status_calls_go_through(lm, worker):
    lm.post(TYPING).respond(200, json={"success": True})
    lm.get("/v1/message/status/M-1/").respond(200, json=S.F6_CURRENT_STATUS)
    await worker.show_typing(message_id="M-0", seconds=3, read=True)
    status = await worker.get_status("M-1")
    assert lm.post(TYPING).calls[0].json == {"message_id": "M-0", "read": True, "typing": 3}
    assert (status.status, status.error_code) == ("failed", 1020)


@pytest.mark.parametrize(
    ("answer", "error", "code"),
    [
        (Reply(400, json={"success": False, "code": 130}), AuthenticationError, 130),
        (Reply(400, json={"success": False, "code": 180}), RecipientError, 180),
    ],
)
async def test_errors_come_back_as_themselves(lm, worker, answer, error, code):
    lm.post(SEND).queue(answer, answer)
    async with LoopMessageClient(config_at(lm.url), retry=RetryPolicy(0)) as direct:
        with pytest.raises(error) as expected:
            await direct.send_message(text())
    with pytest.raises(error) as raised:
        await worker.send_message(text())
    assert type(raised.value) is type(expected.value)
    assert raised.value.code == code
    assert vars(raised.value) == vars(expected.value)
    assert str(raised.value) == str(expected.value)


async def test_messages_in_one_call_cross_as_one_frame_and_their_error_as_itself(
    lm, worker, monkeypatch
):
    failed = Reply(400, json={"success": False, "code": 180})
    lm.post(SEND).queue(OK, failed, OK, failed)
    requests = [text("one"), text("two"), text("three")]
    async with LoopMessageClient(config_at(lm.url), retry=RetryPolicy(0)) as direct:
        expected = await direct.send_messages(requests)
    calls = 0
    real_call = worker._call_for

    async def counted(*args, **kwargs):
        nonlocal calls
        calls += 1
        return await real_call(*args, **kwargs)

    monkeypatch.setattr(worker, "_call_for", counted)
    sent = await worker.send_messages(requests)
    assert calls == 1
    assert [body["text"] for body in lm.sends()] == ["one", "two"] * 2  # "three" never tried
    assert sent.results == expected.results
    assert type(sent.error) is RecipientError
    assert vars(sent.error) == vars(expected.error)
    assert str(sent.error) == str(expected.error)
    assert (await worker.send_messages([])).results == ()


async def test_errors_raised_before_any_request_keep_their_fields(lm):
    legacy = ClientConfig(
        api="legacy",
        authorization_key=SecretStr("a"),
        secret_key=SecretStr("s"),
        sender_name="b",
        base_url=lm.url,
    )
    client = WorkerClient(legacy)
    try:
        with pytest.raises(UnsupportedError, match="show-typing"):
            await client.show_typing(message_id="M")
        many = SendRequest.create(
            contact="+1", attachments=[f"https://x.co/{n}.png" for n in "abcd"]
        )
        with pytest.raises(InvalidRequestError) as info:
            await client.send_message(many)
        assert info.value.field == "attachments"
        assert "at most 3" in info.value.reason
    finally:
        await client.aclose()
    assert not lm.post(SEND).called


async def test_the_child_retries_and_honours_retry_after_as_the_client_does(lm):
    """The retry policy crosses with the configuration: a 500 and a 429 are retried."""
    lm.post(SEND).queue(Reply(500), Reply(429, headers={"Retry-After": "0.2"}), OK)
    client = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=2, first_delay=0.05))
    try:
        started = time.monotonic()
        assert (await client.send_message(text())).message_id == "M-1"
        assert lm.post(SEND).call_count == 3
        assert time.monotonic() - started >= 0.2  # Retry-After was waited out
    finally:
        await client.aclose()
    lm.post(SEND).queue(Reply(500), OK)
    no_retries = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0))
    try:
        with pytest.raises(APIError):
            await no_retries.send_message(text())
        assert lm.post(SEND).call_count == 4  # one attempt, as the policy says
    finally:
        await no_retries.aclose()


async def test_a_dropped_connection_is_a_connection_error(lm, worker):
    lm.post(SEND).queue(Reset())
    with pytest.raises(APIConnectionError):
        await worker.send_message(text())


async def test_calls_run_side_by_side_in_the_child(lm, worker):
    """Ten sends that each take 0.3 s at LoopMessage finish together, not one after another."""
    lm.post(SEND).handle(lambda call: Stall(0.3, OK))
    await worker.start()
    started = time.monotonic()
    results = await asyncio.gather(*(worker.send_message(text(str(n))) for n in range(10)))
    assert len(results) == 10
    assert time.monotonic() - started < 2.5  # sequential would be 3 s at the least
    assert sorted(body["text"] for body in lm.sends()) == [str(n) for n in range(10)]


async def test_a_cancelled_call_is_cancelled_in_the_child(lm, worker):
    """The child drops the request, so closing does not wait for LoopMessage's answer."""
    lm.post(SEND).queue(Stall(30, OK))
    call = await call_in_hand(lm, worker)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    started = time.monotonic()
    await worker.aclose()
    assert time.monotonic() - started < 10  # the stall would hold it for 30 s


async def test_a_call_cancelled_as_it_arrives_does_not_keep_the_child_from_stopping(
    lm, worker, monkeypatch, caplog
):
    """The child reads the call and its cancel at once, so the call's task never starts.
    It used to stay listed as in hand: the closing child then spun on it until killed."""
    monkeypatch.setattr(worker_module, "CLOSE_TIMEOUT", 3.0)
    lm.post(SEND).respond(OK.status, json=OK.json)
    await worker.send_message(text())  # up and answering
    pid = worker.pid
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)  # both frames wait in the pipe
    try:
        call = asyncio.ensure_future(worker.send_message(text("never")))
        await asyncio.sleep(0.1)
        call.cancel()
        with pytest.raises(asyncio.CancelledError):
            await call
    finally:
        os.kill(pid, signal.SIGCONT)
    with caplog.at_level(logging.WARNING, logger="rasa_imessage"):
        await worker.aclose()
    assert "did not stop" not in caplog.text  # it stopped on its own, not killed
    assert not process_alive(pid)
    assert [body["text"] for body in lm.sends()] == ["hello"]  # the cancelled call never went


async def test_closing_lets_the_calls_in_hand_finish(lm, worker):
    lm.post(SEND).queue(Stall(0.5, OK))
    call = await call_in_hand(lm, worker)
    pid = worker.pid
    await worker.aclose()
    assert (await call).message_id == "M-1"
    assert pid is not None and not process_alive(pid)
    with pytest.raises(RuntimeError, match="closed"):
        await worker.send_message(text())


async def test_a_closing_child_is_not_taken_for_stuck_while_it_drains(lm):
    """Its stdin is closed, so it gets no more pings: silence then says nothing."""
    client = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0), stuck_after=0.4)
    lm.post(SEND).queue(Stall(1.5, OK))
    call = await call_in_hand(lm, client)
    await client.aclose()
    assert (await call).message_id == "M-1"


async def test_a_dead_child_fails_its_calls_and_the_next_call_starts_another(lm, worker, caplog):
    lm.post(SEND).queue(Stall(30, OK))
    call = await call_in_hand(lm, worker)
    first = worker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    with pytest.raises(APIConnectionError, match="may or may not have reached"):
        await call
    lm.post(SEND).respond(OK.status, json=OK.json)
    with caplog.at_level(logging.WARNING, logger="rasa_imessage.loopmessage"):
        assert (await worker.send_message(text())).message_id == "M-1"
    assert f"send worker process {first} exited" in caplog.text
    assert worker.pid not in (None, first)
    assert lm.post(SEND).call_count == 2  # the lost call was not sent again


async def test_a_silent_child_is_killed_and_the_next_call_starts_another(lm, caplog):
    """A stopped or wedged child (here: SIGSTOP) fails its calls within `stuck_after`, not
    after their deadline, and is replaced; the call it had in hand is not sent again."""
    client = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0), stuck_after=1.0)
    lm.post(SEND).respond(OK.status, json=OK.json)
    try:
        await client.send_message(text())  # up and answering
        pid = client.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        caplog.set_level(logging.ERROR, logger="rasa_imessage.loopmessage")
        with pytest.raises(APIConnectionError, match="may or may not have reached"):
            await client.send_message(text())
        assert 1.0 <= time.monotonic() - started < 5  # 1 s of silence, checked every 0.25 s
        assert f"send worker process {pid}: no answer for 1 s with 1 call(s) in hand" in caplog.text
        assert (await client.send_message(text())).message_id == "M-1"
        assert client.pid not in (None, pid)
        assert not process_alive(pid)
        assert lm.post(SEND).call_count == 2  # the stopped child never sent its call
    finally:
        await client.aclose()


async def test_a_child_waiting_on_a_slow_loopmessage_is_not_taken_for_stuck(lm, worker):
    """Its loop answers the pings while its calls wait: only silence kills a child."""
    slow = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0), stuck_after=0.4)
    lm.post(SEND).queue(Stall(1.5, OK))
    try:
        assert (await slow.send_message(text())).message_id == "M-1"  # 1.5 s > 0.4 s
        assert slow.pid is not None and process_alive(slow.pid)
    finally:
        await slow.aclose()


async def test_a_late_check_asks_again_instead_of_taking_the_child_for_stuck(lm):
    """A check that runs late (the bot's loop was blocked, here by `time.sleep`) while the
    child's answer to its ping waits unread in the pipe must not kill a live child."""
    client = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0), stuck_after=0.4)
    lm.post(SEND).queue(Stall(1.0, OK))
    try:
        call = await call_in_hand(lm, client)
        assert client._child is not None
        pid, pipes = client.pid, client._child[1]
        assert pid is not None
        deadline = time.monotonic() + 30
        while not pipes._heard:  # the child has answered a ping: its silence counts now
            assert time.monotonic() < deadline, "the child never answered a ping"
            await asyncio.sleep(0.01)
        if pipes._check is not None:
            pipes._check.cancel()
        pipes.send(("ping",))
        now = asyncio.get_running_loop().time()
        pipes._pinged, pipes._due = now - 1.0, now - 0.8  # a ping, and a check, long overdue
        time.sleep(0.3)  # the answer lands in the pipe; this loop does not read it yet
        pipes._check_on()
        assert (await call).message_id == "M-1"
        assert client.pid == pid and process_alive(pid)
    finally:
        await client.aclose()


async def test_a_child_still_starting_is_not_taken_for_stuck(lm):
    """Silence before a child's first answer is its start (slow on a loaded machine), not a
    wedged loop: here it is stopped (SIGSTOP) before it has said anything, for over twice
    `stuck_after`, and its call still goes through once it runs."""
    client = WorkerClient(config_at(lm.url), retry=RetryPolicy(max_retries=0), stuck_after=0.4)
    lm.post(SEND).respond(OK.status, json=OK.json)
    try:
        await client.start()
        pid = client.pid
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        call = asyncio.ensure_future(client.send_message(text()))
        await asyncio.sleep(1.0)
        assert not call.done() and process_alive(pid)
        os.kill(pid, signal.SIGCONT)
        assert (await call).message_id == "M-1"
        assert client.pid == pid
    finally:
        await client.aclose()


def test_stuck_after_must_be_positive():
    with pytest.raises(ValueError, match="stuck_after"):
        WorkerClient(config_at("http://127.0.0.1:9"), stuck_after=0)


@pytest.fixture
async def silent_child(lm, monkeypatch) -> AsyncIterator[WorkerClient]:
    """A client whose child answered once, then stopped (SIGSTOP): alive, never answering.
    The pings are made too slow to act, so only a call's deadline ends its wait: 0.8 s a
    request (two timeouts of 0.2 s, a connect timeout of 0.2 s and a margin of 0.2 s)."""
    monkeypatch.setattr(worker_module, "DEADLINE_MARGIN", 0.2)
    config = dataclasses.replace(config_at(lm.url), timeout=0.2, connect_timeout=0.2)
    client = WorkerClient(config, retry=RetryPolicy(max_retries=0), stuck_after=60)
    lm.post(SEND).respond(OK.status, json=OK.json)
    pid = None
    try:
        await client.start()
        pid = client.pid
        assert pid is not None
        await client.send_message(text())  # up and answering
        os.kill(pid, signal.SIGSTOP)
        yield client
    finally:
        if pid is not None:  # it stops on its own at `aclose`, its calls withdrawn
            os.kill(pid, signal.SIGCONT)
        await client.aclose()


async def test_a_call_the_live_child_never_answers_fails_after_its_deadline(silent_child):
    """The last net, behind the pings: no turn waits forever."""
    started = time.monotonic()
    with pytest.raises(APITimeoutError, match="without an answer from the send worker"):
        await silent_child.send_message(text())
    assert 0.75 <= time.monotonic() - started < 10


async def test_messages_in_one_call_may_take_as_long_as_each_of_them(silent_child):
    """The deadline of a call of two messages is twice a message's: each may take its time."""
    started = time.monotonic()
    sent = await silent_child.send_messages([text("one"), text("two")])
    assert 1.55 <= time.monotonic() - started < 10  # two of 0.8 s, not one
    assert sent.results == ()
    assert isinstance(sent.error, APITimeoutError)
    assert "send_messages: 2 s without an answer" in str(sent.error)


async def test_a_child_that_cannot_start_is_a_connection_error(lm, monkeypatch):
    """Not an OSError: the output channel turns LoopMessage errors into the failure intent."""
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    client = WorkerClient(config_at(lm.url))
    with pytest.raises(APIConnectionError, match="could not start the send worker"):
        await client.send_message(text())
    await client.aclose()


async def test_the_child_ignores_the_signals_meant_for_the_bot(lm, worker):
    """Ctrl-C or a service manager's SIGTERM to the group: the bot drains, so replies must go."""
    lm.post(SEND).respond(OK.status, json=OK.json)
    await worker.start()
    pid = worker.pid
    assert pid is not None
    await worker.send_message(text())  # the child is up, its signal handlers set
    for signum in (signal.SIGINT, signal.SIGTERM):
        os.kill(pid, signum)
    await asyncio.sleep(0.2)
    assert (await worker.send_message(text())).message_id == "M-1"
    assert worker.pid == pid
    assert os.getpgid(pid) != os.getpgid(0)  # not in the terminal's foreground group


async def test_the_keys_are_neither_on_the_command_line_nor_in_the_environment(lm, worker):
    await worker.start()
    pid = worker.pid
    assert pid is not None
    for name in ("cmdline", "environ"):
        with open(f"/proc/{pid}/{name}", "rb") as seen:
            assert API_KEY.encode() not in seen.read()
    assert API_KEY not in repr(worker)


async def test_the_child_stops_when_the_bot_side_hangs_up(lm):
    """No `aclose()`, as when the bot's process dies: the child sees its stdin close."""
    client = WorkerClient(config_at(lm.url))
    await client.start()
    pid = client.pid
    assert pid is not None and client._child is not None
    transport, pipes = client._child
    stdin = transport.get_pipe_transport(0)
    assert stdin is not None
    stdin.close()
    await asyncio.wait_for(pipes.gone, 10)
    await client.aclose()
    assert not process_alive(pid)


def test_frames_split_anywhere_are_read_whole():
    messages: List[object] = [("ok", 1, {"a": "b" * 300}), ("error", 2, None), ("ok", 3, [])]
    stream = b"".join(frame(message) for message in messages)
    for chunk in (1, 3, 7, 64, len(stream)):
        buffer, seen = bytearray(), []
        for start in range(0, len(stream), chunk):
            buffer += stream[start : start + chunk]
            seen.extend(take_frames(buffer))
        assert seen == messages
        assert buffer == b""
