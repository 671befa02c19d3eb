"""The ``rasa-imessage`` command: a thin argparse layer over library functions.

Each subcommand is one ``_add_<name>`` function that declares its options and one handler
of about ten lines that calls a library function (which the tests call directly) and turns
the outcome into a line of output and a named exit code (exit_codes.py). The local tools
(emulator, demo, simulate) are here; the ones that check credentials or call LoopMessage
(check, send, status) are in cli_api.py.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from rasa_imessage.cli_api import add_check, add_opt_in_link, add_send, add_senders, add_status
from rasa_imessage.emulator import DEFAULT_SENDERS, EmulatorConfig, serve
from rasa_imessage.emulator.simulate import KINDS, Simulation, post_webhook
from rasa_imessage.exit_codes import (
    EXIT_BAD_CONFIG,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_STARTUP_FAILURE,
    EXIT_UNREACHABLE,
)

__all__ = ["build_parser", "main"]

Handler = Callable[[argparse.Namespace], int]


# subcommands -------------------------------------------------------------------------------
def _add_emulator(commands: Any) -> None:
    parser = commands.add_parser(
        "emulator",
        help="run a local LoopMessage emulator with a chat page",
        description="Serve the LoopMessage API and a Messages-style chat page on this machine.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="interface to bind (default: %(default)s)"
    )
    parser.add_argument(
        "--port", type=int, default=7357, help="port; 0 picks a free one (default: %(default)s)"
    )
    _add_api_flag(parser)
    parser.add_argument(
        "--webhook-url",
        help="the bot's webhook, e.g. http://127.0.0.1:5005/webhooks/imessage/webhook",
    )
    parser.add_argument("--webhook-auth", help="the Authorization header value sent with webhooks")
    parser.add_argument(
        "--retry-scale",
        type=float,
        default=0.01,
        help="compress LoopMessage's 3-hour retry schedule (default: %(default)s)",
    )
    keys = parser.add_argument_group("keys the emulator accepts (to reuse a bot's own)")
    keys.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        help="current API key; repeatable (default: emulator-key)",
    )
    keys.add_argument("--authorization-key", help="legacy (default: emulator-auth)")
    keys.add_argument("--secret-key", help="legacy (default: emulator-secret)")
    keys.add_argument("--sender-name", help="legacy sender name (default: bot@imsg.co)")
    _add_sender_flag(parser)
    parser.set_defaults(handler=_emulator)


def _add_sender_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--sender",
        dest="senders",
        action="append",
        metavar="ID",
        help="current API: a sender id of the emulated organization; repeat it for several, "
        "and the chat page lets you pick whom to write to (default: emulator-sender)",
    )


def _emulator(args: argparse.Namespace) -> int:
    names = ("host", "port", "api", "webhook_url", "webhook_auth", "retry_scale", "api_keys",
             "authorization_key", "secret_key", "sender_name")  # fmt: skip
    given = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.senders:
        given["senders"] = tuple(args.senders)
    try:  # the settings' own checks (several senders are the current API's)
        config = EmulatorConfig(**{**given, "api_keys": tuple(args.api_keys or ("emulator-key",))})
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILURE

    def ready(url: str) -> None:
        print(f"LoopMessage emulator ({args.api} API) at {url}")
        print(f"  chat page:  {url}/")
        print(f"  base_url:   {url}   (credentials.yml)")
        print(f"  webhooks →  {args.webhook_url or 'nowhere yet: pass --webhook-url'}")
        print("Press Ctrl-C to stop.", flush=True)

    try:
        asyncio.run(serve(config, ready))
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    return EXIT_OK


def _add_demo(commands: Any) -> None:
    parser = commands.add_parser(
        "demo",
        help="chat with the example bot in your browser (emulator + rasa run)",
        description="Train the example bot if needed, start the emulator and `rasa run` wired "
        "together, and print the chat page's URL. Ctrl-C stops both.",
    )
    parser.add_argument(
        "--bot-dir", type=Path, help="the Rasa project to run (default: example_bot)"
    )
    parser.add_argument(
        "--port", type=int, default=7357, help="emulator and chat page port (default: %(default)s)"
    )
    parser.add_argument(
        "--rasa-port", type=int, default=0, help="rasa run's port; 0 picks a free one"
    )
    parser.add_argument("--no-train", action="store_true", help="use the existing model as is")
    parser.add_argument(
        "--webhook-port",
        type=int,
        metavar="PORT",
        help="answer the webhooks on a port and process of their own (the connector's "
        "webhook_port setting); 0 picks a free one",
    )
    parser.add_argument(
        "--merge-window",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="bubbles sent less than this apart reach the bot as one message (the "
        "connector's merge_window setting; default: off)",
    )
    parser.add_argument(
        "--merge-mode",
        choices=("lead_ins", "all"),
        default="lead_ins",
        help="with --merge-window, which bubbles wait for the next: only those that "
        "announce more, such as 'look at this' (lead_ins, the default), or all",
    )
    parser.add_argument(
        "--bubble-pause",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="seconds between the bubbles of one turn's replies, as a person sends them "
        "(the connector's bubble_pause setting; default: none)",
    )
    _add_api_flag(parser)
    _add_sender_flag(parser)
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace) -> int:
    from rasa_imessage.demo import DemoOptions, default_bot_dir, run_demo
    from rasa_imessage.rasa_process import RasaProcessError

    options = DemoOptions(
        bot_dir=args.bot_dir or default_bot_dir(),
        emulator_port=args.port,
        rasa_port=args.rasa_port,
        train=not args.no_train,
        api=args.api,
        webhook_port=args.webhook_port,
        merge_window=args.merge_window,
        merge_mode=args.merge_mode,
        bubble_pause=args.bubble_pause,
        senders=tuple(args.senders) if args.senders else DEFAULT_SENDERS,
    )
    try:
        run_demo(options)
    except RasaProcessError as exc:  # the demo's own checks' DemoError too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    return EXIT_OK


def _add_simulate(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="post a realistic LoopMessage webhook to a running bot",
        description="Post one webhook, shaped and sent as LoopMessage would; print the answer.",
    )
    parser.add_argument(
        "url",
        nargs="?",
        default="http://127.0.0.1:5005/webhooks/imessage/webhook",
        help="the bot's webhook URL (default: %(default)s)",
    )
    parser.add_argument(
        "--kind", choices=KINDS, default="text", help="what happened (default: %(default)s)"
    )
    parser.add_argument("--auth", help="the Authorization header value (the bot's webhook_auth)")
    _add_api_flag(parser)
    parser.add_argument("--contact", default="+13231112233", help="who it is from")
    parser.add_argument(
        "--text", default="Hello from the simulator", help="message text or transcript"
    )
    parser.add_argument(
        "--message-id", help="the bot message a reaction/delivered/failed refers to"
    )
    parser.add_argument("--reaction", default="love", help="tapback for --kind reaction")
    parser.add_argument("--error-code", type=int, help="error_code for --kind failed")
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace) -> int:
    names = ("kind", "api", "contact", "text", "message_id", "reaction", "error_code")
    simulation = Simulation(**{name: getattr(args, name) for name in names})
    try:
        result = asyncio.run(post_webhook(args.url, simulation, args.auth))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    except (OSError, asyncio.TimeoutError) as exc:
        print(f"✗ no answer from {args.url}: {exc or 'timed out'}", file=sys.stderr)
        return EXIT_UNREACHABLE
    event = result.webhook.get("event") or result.webhook.get("alert_type")
    mark = "✓" if result.status == 200 else "✗"
    print(f"{mark} {event} → HTTP {result.status} {result.body[:200]}".rstrip())
    return EXIT_OK if result.status == 200 else EXIT_REFUSED


# shared flags and reporting ---------------------------------------------------------------
def _add_api_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--api",
        choices=("current", "legacy"),
        default="current",
        help="LoopMessage API generation (default: %(default)s)",
    )


# Each entry adds one subcommand.
COMMANDS: Sequence[Callable[[Any], None]] = (
    _add_emulator,
    _add_demo,
    add_check,
    add_send,
    add_status,
    add_opt_in_link,
    add_senders,
    _add_simulate,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rasa-imessage",
        description="Rasa on iMessage through LoopMessage: tools for developers.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug details")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS:
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
