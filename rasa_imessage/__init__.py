"""Rasa channel connector for Apple iMessage over the LoopMessage API.

`rasa_imessage.IMessageInput` is the credentials.yml key. The channel classes are imported on
first use, so `import rasa_imessage` works without Rasa installed (for the emulator and CLI),
and an import error inside them surfaces as itself instead of Rasa's "Failed to find input
channel class".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "ChannelImportError",
    "IMessageInput",
    "IMessageOutput",
    "LoopMessageInput",
    "__version__",
]

if TYPE_CHECKING:  # pragma: no cover
    from .channel import IMessageInput, LoopMessageInput
    from .outbound import IMessageOutput


class ChannelImportError(RuntimeError):
    """The channel could not be imported; raised instead of ImportError, which Rasa hides."""


def __getattr__(name: str) -> Any:
    if name not in ("IMessageInput", "LoopMessageInput", "IMessageOutput"):
        raise AttributeError(f"module 'rasa_imessage' has no attribute {name!r}")
    try:
        from . import channel, outbound
    except ImportError as exc:
        raise ChannelImportError(
            f"rasa_imessage could not load its Rasa channel: {exc}. Install Rasa and the "
            "connector into the same environment: pip install 'rasa-imessage[rasa]' "
            "(Rasa Open Source 3.6) or pip install rasa-pro rasa-imessage"
        ) from exc
    return outbound.IMessageOutput if name == "IMessageOutput" else getattr(channel, name)
