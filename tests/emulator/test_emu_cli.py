"""The rasa-imessage command: its library functions and its exit codes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from rasa_imessage import cli, exit_codes
from rasa_imessage.emulator import EmulatorConfig, EmulatorThread
from rasa_imessage.emulator.simulate import KINDS, Simulation, build_webhook, post_webhook
from rasa_imessage.loopmessage import EventKind, parse_webhook

ALICE = "+13231112233"
EXPECTED_KIND = {
    "text": EventKind.message,
    "image": EventKind.message,
    "voice": EventKind.message,
    "reaction": EventKind.reaction,
    "delivered": EventKind.delivered,
    "failed": EventKind.failed,
    "opt-in": EventKind.conversation_started,
    "call": EventKind.inbound_call,
}


@pytest.mark.parametrize("api", ["current", "legacy"])
@pytest.mark.parametrize("kind", KINDS)
def test_simulated_webhooks_parse_as_the_connector_reads_them(api, kind):
    event = parse_webhook(build_webhook(Simulation(kind=kind, api=api, contact="+1 323 111 2233")))
    assert event.kind == EXPECTED_KIND[kind]
    assert event.contact == ALICE
    assert event.api == api
    if kind == "voice":
        assert event.speech is not None and event.speech.text == "Hello from the simulator"
        assert event.message_type == "audio"
    if kind == "failed":
        assert event.error_code == (1020 if api == "current" else 110)


async def test_post_webhook_sends_loopmessages_headers(receiver):
    result = await post_webhook(receiver.url, Simulation(kind="reaction", api="legacy"), "s3cret")
    hook = await receiver.next()
    assert result.status == 200
    assert hook.headers["Authorization"] == "s3cret"
    assert hook.headers["User-Agent"] == "LoopServer"
    assert hook.body == result.webhook
    assert hook.body["reaction"] == "love"


async def test_simulate_command_reports_the_status(receiver, capsys):
    args = ["simulate", receiver.url, "--kind", "voice", "--auth", "x"]
    code = await asyncio.to_thread(cli.main, args)
    assert code == exit_codes.EXIT_OK
    assert "✓ message_inbound → HTTP 200" in capsys.readouterr().out


async def test_simulate_command_non_200_is_refused(receiver, capsys):
    receiver.replies = [(401, '{"error": "bad auth"}')]
    assert await asyncio.to_thread(cli.main, ["simulate", receiver.url]) == exit_codes.EXIT_REFUSED
    assert "HTTP 401" in capsys.readouterr().out


def test_simulate_command_unreachable(unused_tcp_port, capsys):
    code = cli.main(["simulate", f"http://127.0.0.1:{unused_tcp_port}/x"])
    assert code == exit_codes.EXIT_UNREACHABLE
    assert "no answer" in capsys.readouterr().err


@pytest.fixture
def emulator_thread():
    thread = EmulatorThread(EmulatorConfig())
    url = thread.start()
    httpx.post(f"{url}/emulator/messages", json={"contact": ALICE, "text": "hi"}).raise_for_status()
    yield url
    thread.stop()


def test_send_and_status_commands_against_the_emulator(emulator_thread, capsys):
    flags = ["--api-key", "emulator-key", "--base-url", emulator_thread]
    assert (
        cli.main(["send", "--to", "+1 (323) 111-2233", "--text", "ping", *flags])
        == exit_codes.EXIT_OK
    )
    out = capsys.readouterr().out
    assert "✓ LoopMessage accepted the message to +1•••2233" in out
    message_id = out.split("message_id ")[1].split()[0]
    assert cli.main(["status", message_id, *flags]) in (exit_codes.EXIT_OK,)
    assert f"{message_id}: " in capsys.readouterr().out


def test_send_to_a_contact_who_never_wrote_is_refused_with_the_code(emulator_thread, capsys):
    flags = ["--api-key", "emulator-key", "--base-url", emulator_thread]
    assert cli.main(["send", "--to", "+14155550100", *flags]) == exit_codes.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "code 520" in err and "what to do:" in err


def test_send_with_a_bad_key_is_refused(emulator_thread, capsys):
    code = cli.main(["send", "--to", ALICE, "--api-key", "nope", "--base-url", emulator_thread])
    assert code == exit_codes.EXIT_REFUSED
    assert "code 130" in capsys.readouterr().err


def test_send_reads_credentials_yml_with_env_vars(emulator_thread, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TEST_LOOP_KEY", "emulator-key")
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(
        "rest:\nrasa_imessage.IMessageInput:\n"
        "  api_key: ${TEST_LOOP_KEY}\n  webhook_auth: whatever\n"
        f"  base_url: {emulator_thread}\n",
        encoding="utf-8",
    )
    assert (
        cli.main(["send", "--to", ALICE, "--credentials", str(credentials)]) == exit_codes.EXIT_OK
    )
    assert "message_id" in capsys.readouterr().out


@pytest.mark.parametrize("content", ["rest:\n", "rasa_imessage.IMessageInput: [1]\n", "a: [\n"])
def test_send_with_unusable_credentials_is_bad_config(tmp_path, capsys, content):
    credentials = tmp_path / "credentials.yml"
    credentials.write_text(content, encoding="utf-8")
    assert (
        cli.main(["send", "--to", ALICE, "--credentials", str(credentials)])
        == exit_codes.EXIT_BAD_CONFIG
    )
    assert capsys.readouterr().err.startswith("error: ")


def test_missing_key_is_bad_config(capsys):
    assert cli.main(["send", "--to", ALICE]) == exit_codes.EXIT_BAD_CONFIG
    assert "api_key" in capsys.readouterr().err
    assert cli.main(["status", "any-id"]) == exit_codes.EXIT_BAD_CONFIG
    assert "api_key" in capsys.readouterr().err


def test_status_of_an_unknown_message_is_refused(emulator_thread, capsys):
    flags = ["--api-key", "emulator-key", "--base-url", emulator_thread]
    assert cli.main(["status", "no-such-id", *flags]) == exit_codes.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "refused the status (HTTP 404)" in err and "what to do:" in err


def test_status_of_a_failed_delivery_shows_the_error_and_fails(emulator_thread, capsys):
    flags = ["--api-key", "emulator-key", "--base-url", emulator_thread]
    httpx.post(f"{emulator_thread}/emulator/faults", json={"fail_next_delivery": True})
    assert cli.main(["send", "--to", ALICE, *flags]) == exit_codes.EXIT_OK
    message_id = capsys.readouterr().out.split("message_id ")[1].split()[0]
    deadline = time.monotonic() + 20
    while (code := cli.main(["status", message_id, *flags])) == exit_codes.EXIT_OK:
        assert time.monotonic() < deadline, "the delivery never failed"
        capsys.readouterr()
        time.sleep(0.1)
    out = capsys.readouterr().out
    assert code == exit_codes.EXIT_FAILURE
    assert f"{message_id}: failed" in out and "  error " in out


def test_send_when_loopmessage_cannot_be_reached(unused_tcp_port, capsys):
    flags = ["--api-key", "k", "--base-url", f"http://127.0.0.1:{unused_tcp_port}"]
    assert cli.main(["send", "--to", ALICE, *flags]) == exit_codes.EXIT_UNREACHABLE
    assert "could not reach LoopMessage" in capsys.readouterr().err


def test_every_command_has_help():
    parser = cli.build_parser()
    for command in ("emulator", "demo", "send", "status", "simulate"):
        with pytest.raises(SystemExit) as exit_info:
            parser.parse_args([command, "--help"])
        assert exit_info.value.code == 0


def test_emulator_thread_starts_on_a_free_port_and_stops():
    thread = EmulatorThread()
    url = thread.start()
    assert httpx.get(f"{url}/emulator/health").json() == {"ok": True, "api": "current"}
    assert "<title>" in httpx.get(f"{url}/").text
    thread.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/emulator/health")


def test_emulator_command_prints_its_url_and_stops_on_sigint(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parent.parent)}
    command = ["emulator", "--port", "0", "--api", "legacy", "--authorization-key", "mine"]
    process = subprocess.Popen(
        [sys.executable, "-m", "rasa_imessage.cli", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert process.stdout is not None and process.stderr is not None
    try:
        first = process.stdout.readline()
        assert first.startswith("LoopMessage emulator (legacy API) at http://127.0.0.1:")
        url = first.rsplit(" ", 1)[1].strip()
        assert httpx.get(f"{url}/emulator/health").json()["api"] == "legacy"
        keys = {"Authorization": "mine", "Loop-Secret-Key": "emulator-secret"}
        status = httpx.get(f"{url}/api/v1/message/status/NOPE/", headers=keys)
        assert status.status_code == 404  # past the key check: the key given was accepted
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == exit_codes.EXIT_OK
        assert "Traceback" not in process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_emulator_command_reports_a_busy_port(capsys):
    async def hold() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        code = await asyncio.to_thread(cli.main, ["emulator", "--port", str(port)])
        server.close()
        assert code == exit_codes.EXIT_STARTUP_FAILURE

    asyncio.run(hold())
    assert "cannot listen" in capsys.readouterr().err


def test_emulator_command_refuses_senders_on_the_legacy_api(capsys):
    code = cli.main(["emulator", "--port", "0", "--api", "legacy", "--sender", "x"])
    assert code == exit_codes.EXIT_STARTUP_FAILURE
    assert "several senders are the current API's" in capsys.readouterr().err
