"""demo.py without Rasa: a fake `rasa` executable plays train and run, the rest is real."""

from __future__ import annotations

import asyncio
import os
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
import yaml

from rasa_imessage.config import load_config
from rasa_imessage.demo import (
    HEALTH_PATH,
    WEBHOOK_PATH,
    DemoError,
    DemoOptions,
    credentials_yaml,
    demo_stack,
)
from rasa_imessage.rasa_process import (
    PACKAGE_ROOT,
    RasaProcessError,
    rasa_environment,
    wait_healthy,
)

# `rasa train` prints and exits with TRAIN_EXIT; `rasa run` serves the channel's health
# route on --port after checking the credentials file, or exits with RUN_EXIT if set.
FAKE_RASA = textwrap.dedent(
    """
    import asyncio, os, sys
    from aiohttp import web

    command, args = sys.argv[1], sys.argv[2:]
    if command == "train":
        print("training output")
        sys.exit(int(os.environ.get("TRAIN_EXIT", "0")))
    if os.environ.get("RUN_EXIT"):
        print("cannot load the model")
        sys.exit(int(os.environ["RUN_EXIT"]))
    credentials = open(args[args.index("--credentials") + 1]).read()
    assert "rasa_imessage.IMessageInput:" in credentials
    print(credentials, flush=True)  # into the demo's rasa log, for the tests to read
    app = web.Application()
    app.router.add_get("/webhooks/imessage/", lambda request: web.json_response({"ok": True}))
    ports = [int(args[args.index("--port") + 1])]
    if "webhook_port:" in credentials:  # the connector's own port serves the route too
        ports.append(int(credentials.split("webhook_port:")[1].split()[0]))
    runner = web.AppRunner(app)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(runner.setup())
    for port in ports:
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    loop.run_forever()
    """
)


@pytest.fixture
def options(tmp_path):
    bot = tmp_path / "bot"
    bot.mkdir()
    (bot / "domain.yml").write_text('version: "3.1"\n', encoding="utf-8")
    script = tmp_path / "fake_rasa.py"
    script.write_text(FAKE_RASA, encoding="utf-8")
    return DemoOptions(bot_dir=bot, rasa_command=(sys.executable, str(script)), startup_timeout=60)


async def test_demo_stack_trains_starts_wires_and_stops(options):
    lines: list[str] = []
    async with demo_stack(options, lines.append) as stack:
        async with httpx.AsyncClient() as http:
            health = await http.get(stack.rasa_url + HEALTH_PATH)
            page = await http.get(stack.page_url)
        assert health.status_code == 200
        assert page.status_code == 200
        assert stack.emulator.config.webhook_url == stack.rasa_url + WEBHOOK_PATH
        assert stack.emulator.config.webhook_auth
        process = stack.process
    assert process.returncode is not None
    assert lines[0] == "… Training bot (skipped by Rasa when nothing changed)"
    assert lines[1].startswith("✓ Training bot")
    assert lines[-1].startswith(f"✓ Starting rasa run on {stack.rasa_url} (")


async def test_with_webhook_port_the_emulator_posts_to_the_connectors_own_port(options):
    lines: list[str] = []
    with_port = DemoOptions(**{**options.__dict__, "webhook_port": 0})
    async with demo_stack(with_port, lines.append) as stack:
        async with httpx.AsyncClient() as http:
            own = await http.get(stack.webhook_url.replace(WEBHOOK_PATH, HEALTH_PATH))
        assert own.status_code == 200
        assert stack.emulator.config.webhook_url == stack.webhook_url
        assert not stack.webhook_url.startswith(stack.rasa_url)
        port = int(stack.webhook_url.split(":")[2].split("/")[0])
    assert lines[-1].startswith(f"✓ Starting rasa run on {stack.rasa_url} (")
    document = yaml.safe_load(credentials_yaml(
        "current", "http://127.0.0.1:7357", "s3cr3t", {"webhook_port": port,
                                                       "webhook_host": "127.0.0.1"}))  # fmt: skip
    config = load_config(document["rasa_imessage.IMessageInput"])
    assert (config.webhook_port, config.webhook_host) == (port, "127.0.0.1")


async def test_a_webhook_port_out_of_range_is_refused_before_anything_starts(options):
    with pytest.raises(DemoError, match=r"--webhook-port 70000 is not a port"):
        async with demo_stack(DemoOptions(**{**options.__dict__, "webhook_port": 70000})):
            pass


async def test_merge_window_and_mode_reach_the_connectors_credentials_with_metrics_on(options):
    with_window = DemoOptions(**{**options.__dict__, "merge_window": 1.5, "merge_mode": "all",
                                 "bubble_pause": 0.8})  # fmt: skip
    async with demo_stack(with_window) as stack:
        written = stack.log_path.read_text(encoding="utf-8")
    block = yaml.safe_load(written[written.index("rasa_imessage.IMessageInput:") :])
    config = load_config(block["rasa_imessage.IMessageInput"])
    assert (config.merge_window, config.merge_mode, config.metrics) == (1.5, "all", True)
    assert config.bubble_pause == 0.8
    assert stack.metrics_url == stack.rasa_url + "/webhooks/imessage/metrics"


async def test_several_senders_reach_the_emulator(options):
    senders = ("sender-main", "sender-support")
    async with demo_stack(DemoOptions(**{**options.__dict__, "senders": senders})) as stack:
        assert stack.emulator.config.senders == senders
        async with httpx.AsyncClient() as http:
            state = (await http.get(stack.emulator.url + "/emulator/state")).json()
    assert state["senders"] == list(senders)


@pytest.mark.parametrize(
    ("api", "senders", "says"),
    [
        ("legacy", ("a", "b"), "--sender: several senders are the current API's"),
        ("current", ("a", "a"), "--sender: senders must not repeat a sender"),
    ],
)
async def test_unusable_senders_are_refused_before_anything_starts(options, api, senders, says):
    with pytest.raises(DemoError, match=says):
        async with demo_stack(DemoOptions(**{**options.__dict__, "api": api, "senders": senders})):
            pass


async def test_a_bubble_pause_out_of_range_is_refused_before_anything_starts(options):
    with pytest.raises(DemoError, match=r"--bubble-pause: .* 11.0 is above the maximum 10"):
        async with demo_stack(DemoOptions(**{**options.__dict__, "bubble_pause": 11})):
            pass


async def test_a_merge_window_out_of_range_is_refused_before_anything_starts(options):
    with pytest.raises(DemoError, match=r"--merge-window: .* 31.0 is above the maximum 30"):
        async with demo_stack(DemoOptions(**{**options.__dict__, "merge_window": 31})):
            pass


async def test_an_unknown_merge_mode_is_refused_before_anything_starts(options):
    with pytest.raises(DemoError, match=r"--merge-mode: .*some"):
        async with demo_stack(DemoOptions(**{**options.__dict__, "merge_mode": "some"})):
            pass


async def test_a_failed_training_says_why(options, monkeypatch):
    monkeypatch.setenv("TRAIN_EXIT", "1")
    with pytest.raises(
        RasaProcessError, match=r"rasa train failed \(exit 1\):\n\s+training output"
    ):
        async with demo_stack(options):
            pass


async def test_rasa_exiting_at_startup_fails_fast_with_its_log(options, monkeypatch):
    monkeypatch.setenv("RUN_EXIT", "3")
    with pytest.raises(
        RasaProcessError, match=r"rasa run exited with 3:\n\s+cannot load the model"
    ):
        async with demo_stack(DemoOptions(**{**options.__dict__, "train": False})):
            pass


async def test_not_a_rasa_project(tmp_path):
    with pytest.raises(DemoError, match=r"no domain\.yml"):
        async with demo_stack(DemoOptions(bot_dir=tmp_path)):
            pass


@pytest.mark.parametrize("api", ["current", "legacy"])
def test_generated_credentials_are_valid_for_the_connector(api):
    document = yaml.safe_load(credentials_yaml(api, "http://127.0.0.1:7357", "s3cr3t"))
    assert "rest" in document
    config = load_config(document["rasa_imessage.IMessageInput"])
    assert config.api == api
    assert config.base_url == "http://127.0.0.1:7357"
    assert config.webhook_auth is not None
    assert config.webhook_auth.get_secret_value() == "s3cr3t"


def test_rasa_imports_first_on_path_then_this_checkout_then_the_callers_path(monkeypatch):
    monkeypatch.setenv("PYTHONPATH", "/callers/path")
    path = rasa_environment((Path("/other/jsonschema"),))["PYTHONPATH"].split(os.pathsep)
    assert path == ["/other/jsonschema", str(PACKAGE_ROOT), "/callers/path"]
    monkeypatch.delenv("PYTHONPATH")
    assert rasa_environment()["PYTHONPATH"] == str(PACKAGE_ROOT)


async def test_a_child_that_exits_before_it_answers_is_named_with_its_log(tmp_path):
    log_path = tmp_path / "child.log"
    log_path.write_text("listening failed: port taken\n", encoding="utf-8")
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", "raise SystemExit(4)")
    with pytest.raises(
        RasaProcessError, match=r"^the action server exited with 4:\n\s+listening failed"
    ):
        await wait_healthy("http://127.0.0.1:9/health", process, log_path, 30, "the action server")
