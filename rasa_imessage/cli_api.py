"""The subcommands that check credentials or call LoopMessage's API: check, send, status.

Each is one ``add_<name>`` function that declares its options (cli.py adds them to the
parser) and one short handler that calls a library function and turns the outcome into a
line of output and a named exit code (exit_codes.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any, Callable, Coroutine, TypeVar

from rasa_imessage.credentials_file import (
    CLIENT_KEYS,
    client_config,
    message_status,
    opt_in_links,
    organization_senders,
    read_channel_block,
    send_test_message,
)
from rasa_imessage.exit_codes import (
    EXIT_BAD_CONFIG,
    EXIT_FAILURE,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
)
from rasa_imessage.loopmessage import (
    OPT_IN_CODE,
    APIConnectionError,
    APIError,
    ClientConfig,
    LoopMessageError,
    mask_contact,
)

__all__ = ["add_check", "add_opt_in_link", "add_send", "add_senders", "add_status"]

T = TypeVar("T")


def add_check(commands: Any) -> None:
    parser = commands.add_parser(
        "check",
        help="validate a credentials.yml, the API keys and the bot's webhook",
        description="Offline: keys, types, ${VAR}s. Online: LoopMessage accepts the keys "
        "(and the sender); with --bot-url, the webhook refuses a wrong Authorization and "
        "accepts the right one; with public_url, it reaches the bot and serves media_dir's "
        "files; a Redis dedupe_store takes a write.",
    )
    parser.add_argument("credentials", type=Path, nargs="?", default=Path("credentials.yml"),
                        help="path to credentials.yml (default: ./credentials.yml)")  # fmt: skip
    parser.add_argument("--offline", action="store_true",
                        help="do not contact LoopMessage, the bot or Redis")  # fmt: skip
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


def add_send(commands: Any) -> None:
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
    result = _call_api(args, "send", lambda config: send_test_message(config, args.to, args.text))
    if isinstance(result, int):
        return result
    to = mask_contact(args.to)
    print(f"✓ LoopMessage accepted the message to {to}: message_id {result.message_id}")
    print(f"  Delivery is reported by webhook; or run: rasa-imessage status {result.message_id}")
    return EXIT_OK


def add_status(commands: Any) -> None:
    parser = commands.add_parser("status", help="show the delivery status of a sent message")
    parser.add_argument("message_id", help="the message_id a send returned")
    _add_credential_flags(parser)
    parser.set_defaults(handler=_status)


def _status(args: argparse.Namespace) -> int:
    status = _call_api(args, "status", lambda config: message_status(config, args.message_id))
    if isinstance(status, int):
        return status
    print(
        f"{status.message_id}: {status.status}"
        + (f" (updated {status.last_update})" if status.last_update else "")
    )
    if status.error is not None:
        print(f"  error {status.error.code}: {status.error.meaning}; {status.error.hint}")
    return EXIT_OK if status.status != "failed" else EXIT_FAILURE


def add_opt_in_link(commands: Any) -> None:
    parser = commands.add_parser(
        "opt-in-link",
        help="make a link that starts a conversation with your bot (current API)",
        description="LoopMessage may only text contacts who wrote first. This asks it for an "
        "opt-in link: a contact who taps it gets your message ready to send, and once they "
        "send it the bot gets imessage_conversation_started, with --param values in the "
        "metadata's `parameters`.",
    )
    parser.add_argument(
        "--text",
        default=f"Hi! Send this to start chatting {OPT_IN_CODE}",
        help=f"the message the contact sends; it must hold {OPT_IN_CODE} (default: %(default)s)",
    )
    parser.add_argument(
        "--param",
        dest="params",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a value the opt-in webhook carries back, e.g. utm_campaign=spring; repeatable",
    )
    parser.add_argument("--shared", action="store_true", help="the sender is a shared one")
    _add_credential_flags(parser)
    parser.set_defaults(handler=_opt_in_link)


def _opt_in_link(args: argparse.Namespace) -> int:
    parameters = {}
    for item in args.params:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            print(f"error: --param {item!r}: write KEY=VALUE", file=sys.stderr)
            return EXIT_BAD_CONFIG
        parameters[key.strip()] = value
    links = _call_api(
        args, "opt-in link", lambda config: opt_in_links(config, args.text, parameters, args.shared)
    )
    if isinstance(links, int):
        return links
    print(f"✓ opt-in link {links.id}")
    for label, link in (("page", links.url), ("iMessage", links.imessage), ("SMS", links.sms),
                        ("WhatsApp", links.whatsapp)):  # fmt: skip
        if link:
            print(f"  {label + ':':<10} {link}")
    print("  A contact who sends the message starts a conversation: the bot gets "
          "imessage_conversation_started,")  # fmt: skip
    print("  and the --param values in the metadata's `parameters`.")
    return EXIT_OK


def add_senders(commands: Any) -> None:
    parser = commands.add_parser(
        "senders",
        help="list your organization's senders and their ids (current API)",
        description="The sender ids are what `sender` in credentials.yml and a custom "
        "payload's `sender` name; only an active sender sends.",
    )
    _add_credential_flags(parser)
    parser.set_defaults(handler=_senders)


def _senders(args: argparse.Namespace) -> int:
    senders = _call_api(args, "sender list", organization_senders)
    if isinstance(senders, int):
        return senders
    if not senders:
        print("no senders in this organization: add one in the LoopMessage dashboard")
        return EXIT_FAILURE
    for sender in senders:
        line = f"{sender.id}  {sender.status or 'unknown':<9}  {sender.name or ''}"
        print(line.rstrip() + (f"  {sender.imessage_link}" if sender.imessage_link else ""))
    return EXIT_OK


# shared flags and reporting ---------------------------------------------------------------
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


def _call_api(
    args: argparse.Namespace, action: str, call: Callable[[ClientConfig], Coroutine[Any, Any, T]]
) -> T | int:
    """`call` with the client config the flags and file give; an exit code if either fails."""
    try:
        config = client_config(args.credentials, {key: getattr(args, key) for key in CLIENT_KEYS})
    except ValueError as exc:  # includes the connector's ConfigError
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG
    try:
        return asyncio.run(call(config))
    except LoopMessageError as exc:
        return _api_failure(action, exc)


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
