"""The correlation id the connector puts in LoopMessage's `passthrough` field.

LoopMessage echoes `passthrough` on every status webhook of an outbound message, so a
`message_failed` can be tied back to the Rasa conversation that sent it, group sends included.
"""

from __future__ import annotations

import json
from typing import Optional

from .loopmessage import MAX_PASSTHROUGH_LENGTH

__all__ = ["decode_conversation", "encode_conversation"]

_TAG = "rasa_imessage"


def encode_conversation(conversation_id: str) -> Optional[str]:
    """A passthrough value naming the conversation, or None if it would not fit."""
    if not conversation_id:  # decode_conversation reads "" as "not ours"
        return None
    value = json.dumps({_TAG: 1, "conversation": conversation_id}, separators=(",", ":"))
    return value if len(value) <= MAX_PASSTHROUGH_LENGTH else None


def decode_conversation(passthrough: Optional[str]) -> Optional[str]:
    """The conversation id in a passthrough we wrote; None for anything else."""
    if not passthrough or _TAG not in passthrough:
        return None
    try:
        data = json.loads(passthrough)
    except ValueError:
        return None
    if isinstance(data, dict) and data.get(_TAG) == 1:
        conversation = data.get("conversation")
        if isinstance(conversation, str) and conversation:
            return conversation
    return None
