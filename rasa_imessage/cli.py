"""The ``rasa-imessage`` command: a thin argparse layer over library functions.

Each subcommand is one ``_add_<name>`` function that declares its options and one handler
of about ten lines that calls a library function (which the tests call directly) and turns
the outcome into a line of output and a named exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from rasa_imessage.credentials_file import (
    CLIENT_KEYS,
    client_config,
    message_status,
    read_channel_block,
    send_test_message,
)
from rasa_imessage.emulator import EmulatorConfig, serve
from rasa_imessage.emulator.simulate import KINDS, Simulation, post_webhook
from rasa_imessage.loopmessage import (
    APIConnectionError,
    APIError,
    ClientConfig,
    LoopMessageError,
    mask_contact,
)

EXIT_OK = 0
EXIT_FAILURE = 1  # the command ran and the thing it tried failed
EXIT_USAGE = 2  # argparse's own code for bad arguments
EXIT_STARTUP_FAILURE = 3  # a server or process could not start
EXIT_BAD_CONFIG = 4  # credentials or options are missing or wrong
EXIT_REFUSED = 5  # LoopMessage or the bot answered with an error
EXIT_UNREACHABLE = 6  # no answer at all: connection refused, DNS, timeout
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT

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
    parser.set_defaults(handler=_emulator)


def _emulator(args: argparse.Namespace) -> int:
    names = ("host", "port", "api", "webhook_url", "webhook_auth", "retry_scale", "api_keys",
             "authorization_key", "secret_key", "sender_name")  # fmt: skip
    given = {name: value for name, value in _pick(args, names).items() if value is not None}
    config = EmulatorConfig(**{**given, "api_keys": tuple(args.api_keys or ("emulator-key",))})

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
    _add_api_flag(parser)
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
    )
    try:
        run_demo(options)
    except RasaProcessError as exc:  # the demo's own checks' DemoError too
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_STARTUP_FAILURE
    return EXIT_OK


def _add_check(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="validate a credentials.yml, the API keys and the bot's webhook",
        description="Offline: keys, types, ${VAR}s. Online: LoopMessage accepts the keys; "
        "with --bot-url, the webhook refuses a wrong Authorization and accepts the right one.",
    )
    parser.add_argument("credentials", type=Path, nargs="?", default=Path("credentials.yml"),
                        help="path to credentials.yml (default: ./credentials.yml)")  # fmt: skip
    parser.add_argument("--offline", action="store_true", help="do not contact LoopMessage")
    parser.add_argument("--bot-url", help="the running bot, e.g. https://bot.example.com")
    parser.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from rasa_imessage.checks import check_credentials

    try:
        block = read_channel_block(args.credentials)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    report = asyncio.run(check_credentials(block, online=not args.offline, bot_url=args.bot_url))
    print(report.render())
    return EXIT_OK if report.ok else EXIT_BAD_CONFIG


def _add_send(commands: Any) -> None:
    parser = commands.add_parser(
        "send",
        help="send a test iMessage through the LoopMessage API",
        description="Test the connection: send one message with the credentials the bot uses.",
    )
    parser.add_argument("--to", required=True, help="phone with country code, or Apple ID email")
    parser.add_argument("--text", default="Hello from rasa-imessage 👋", help="message text")
    _add_credential_flags(parser)
    parser.set_defaults(handler=_send)


def _send(args: argparse.Namespace) -> int:
    config = _config_or_exit(args)
    if isinstance(config, int):
        return config
    try:
        result = asyncio.run(send_test_message(config, args.to, args.text))
    except LoopMessageError as exc:
        return _api_failure("send", exc)
    to = mask_contact(args.to)
    print(f"✓ LoopMessage accepted the message to {to}: message_id {result.message_id}")
    print(f"  Delivery is reported by webhook; or run: rasa-imessage status {result.message_id}")
    return EXIT_OK


def _add_status(commands: Any) -> None:
    parser = commands.add_parser("status", help="show the delivery status of a sent message")
    parser.add_argument("message_id", help="the message_id a send returned")
    _add_credential_flags(parser)
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    config = _config_or_exit(args)
    if isinstance(config, int):
        return config
    try:
        status = asyncio.run(message_status(config, args.message_id))
    except LoopMessageError as exc:
        return _api_failure("status", exc)
    print(
        f"{status.message_id}: {status.status}"
        + (f" (updated {status.last_update})" if status.last_update else "")
    )
    if status.error is not None:
        print(f"  error {status.error.code}: {status.error.meaning}; {status.error.hint}")
    return EXIT_OK if status.status != "failed" else EXIT_FAILURE


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
    simulation = Simulation(**_pick(args, names))
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


def _add_credential_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--credentials",
        type=Path,
        help="a credentials.yml with a rasa_imessage.IMessageInput block",
    )
    parser.add_argument(
        "--api",
        choices=("current", "legacy"),
        help="API generation (default: from the file, else current)",
    )
    for flag in ("api-key", "sender", "authorization-key", "secret-key", "sender-name", "base-url"):
        parser.add_argument(f"--{flag}", help="overrides the file's value")


def _pick(args: argparse.Namespace, names: Sequence[str]) -> dict[str, Any]:
    return {name: getattr(args, name) for name in names}


def _config_or_exit(args: argparse.Namespace) -> ClientConfig | int:
    try:
        return client_config(args.credentials, _pick(args, CLIENT_KEYS))
    except ValueError as exc:  # includes the connector's ConfigError
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG


def _api_failure(action: str, exc: LoopMessageError) -> int:
    if isinstance(exc, APIError):
        code = f" code {exc.code}" if exc.code is not None else ""
        print(
            f"✗ LoopMessage refused the {action} (HTTP {exc.status}{code}): {exc.meaning}",
            file=sys.stderr,
        )
        if exc.hint:
            print(f"  what to do: {exc.hint}", file=sys.stderr)
        return EXIT_REFUSED
    if isinstance(exc, APIConnectionError):
        print(f"✗ could not reach LoopMessage: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    print(f"✗ {action} failed: {exc}", file=sys.stderr)
    return EXIT_FAILURE


# Each entry adds one subcommand.
COMMANDS: Sequence[Callable[[Any], None]] = (
    _add_emulator,
    _add_demo,
    _add_check,
    _add_send,
    _add_status,
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
