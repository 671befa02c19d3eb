"""credentials.yml outside Rasa: how the command line reaches LoopMessage with a bot's keys.

`send`, `status` and `check` read the same `rasa_imessage.IMessageInput` block Rasa would,
with the same coercion and `${VAR}` expansion (config.load_config), so a key that works here
works in `rasa run`. Flags override the file, so real credentials can point at the emulator.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Mapping

from rasa_imessage.loopmessage import (
    ClientConfig,
    LoopMessageClient,
    MessageStatus,
    OptInLinks,
    Sender,
    SendRequest,
    SendResult,
)

__all__ = [
    "CHANNEL_ALIASES",
    "CHANNEL_KEY",
    "CLIENT_KEYS",
    "client_config",
    "message_status",
    "opt_in_links",
    "organization_senders",
    "read_channel_block",
    "send_test_message",
]

CHANNEL_KEY = "rasa_imessage.IMessageInput"
CHANNEL_ALIASES = (CHANNEL_KEY, "rasa_imessage.LoopMessageInput")
# The credentials keys a LoopMessage client needs, named as in credentials.yml.
CLIENT_KEYS = ("api", "api_key", "sender", "authorization_key", "secret_key", "sender_name",
               "base_url")  # fmt: skip


def read_channel_block(path: Path) -> Mapping[str, Any]:
    """The ``rasa_imessage.IMessageInput`` block of a credentials.yml; ValueError if absent."""
    try:
        import yaml
    except ImportError as exc:  # PyYAML comes with Rasa; a bare install may lack it
        raise ValueError("reading credentials.yml needs PyYAML: pip install pyyaml") from exc
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from exc
    for key in CHANNEL_ALIASES:
        if isinstance(document, dict) and key in document:
            block = document[key]
            if not isinstance(block, dict):
                raise ValueError(f"{path}: the {key} block must be a mapping of keys")
            return block
    raise ValueError(f"{path} has no {CHANNEL_KEY} block")


def client_config(credentials: Path | None, overrides: Mapping[str, str | None]) -> ClientConfig:
    """A ClientConfig from a credentials.yml block (``${VAR}`` expanded) and/or flags.

    Flags win over the file, so ``--base-url`` can point real credentials at the emulator.
    """
    flags: dict[str, Any] = {k: v for k, v in overrides.items() if v is not None}
    if credentials is not None:
        from rasa_imessage.config import load_config

        block = dict(read_channel_block(credentials))
        block.setdefault("allow_unauthenticated_webhooks", True)  # not needed to send
        config = dataclasses.replace(load_config(block).client_config(), **flags)
    else:
        config = ClientConfig(**flags)
    missing = config.missing_credentials()
    if missing:
        raise ValueError(
            f"the {config.api} API needs {', '.join(missing)}: pass --credentials credentials.yml "
            f"or --{missing[0].replace('_', '-')}"
        )
    return config


async def send_test_message(config: ClientConfig, contact: str, text: str) -> SendResult:
    """Send one message through the LoopMessage API: the connection test of ``send``."""
    async with LoopMessageClient(config) as client:
        return await client.send_message(SendRequest.create(contact=contact, text=text))


async def message_status(config: ClientConfig, message_id: str) -> MessageStatus:
    async with LoopMessageClient(config) as client:
        return await client.get_status(message_id)


async def opt_in_links(
    config: ClientConfig, text: str, parameters: Mapping[str, str], shared: bool
) -> OptInLinks:
    """An opt-in link from LoopMessage: the ``opt-in-link`` command."""
    async with LoopMessageClient(config) as client:
        return await client.opt_in_links(text, parameters, shared=shared)


async def organization_senders(config: ClientConfig) -> list[Sender]:
    """The organization's senders: the ``senders`` command."""
    async with LoopMessageClient(config) as client:
        return await client.list_senders()
