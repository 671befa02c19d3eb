"""The sample payloads of PART F of the LoopMessage reference, as Python dicts.

Named by number and role; `WEBHOOKS` lists every webhook sample with its generation.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

SENDER_ID = "f41c27d2-1251-488f-bf10-267945199555"
ORG_ID = "e2229e7b-29df-486d-924e-7dae925b0796"
MESSAGE_ID = "2BC4FD6A-CE49-439F-81DF-E895C09CA49C"
TARGET_ID = "59c55Ce8-41d6-43Cc-9116-8cfb2e696D7b"

# 1. New: send text (request)
F1_CURRENT_SEND_REQUEST: Dict[str, Any] = {
    "contact": "+1 (323) 111-2233",
    "text": "Your table is ready 🍽️",
    "sender": SENDER_ID,
    "effect": "confetti",
    "attachments": ["https://cdn.example.com/menu.png"],
    "passthrough": '{"order":"A-1042"}',
}
# 2. New: send text (200)
F2_CURRENT_SEND_OK: Dict[str, Any] = {
    "message_id": MESSAGE_ID,
    "contact": "+13231112233",
    "text": "Your table is ready 🍽️",
}
# 3. New: error (400)
F3_CURRENT_ERROR: Dict[str, Any] = {
    "success": False,
    "code": 520,
    "message": "Unable to send outbound messages until this recipient initiates a conversation",
}
# 4. New: reaction request and voice request
F4_CURRENT_REACTION_REQUEST: Dict[str, Any] = {
    "contact": "+13231112233",
    "message_id": TARGET_ID,
    "reaction": "emphasize",
}
F4_CURRENT_VOICE_REQUEST: Dict[str, Any] = {
    "contact": "+13231112233",
    "media_url": "https://cdn.example.com/hello.m4a",
    "passthrough": "voice-1",
}
# 5. New: show typing
F5_CURRENT_TYPING_REQUEST: Dict[str, Any] = {"message_id": TARGET_ID, "typing": 8, "read": True}
# 6. New: status (200)
F6_CURRENT_STATUS: Dict[str, Any] = {
    "message_id": MESSAGE_ID,
    "status": "failed",
    "contact": "+13231112233",
    "text": "Your table is ready",
    "error_code": 1020,
    "last_update": "2026-05-02T18:04:11.120Z",
}
# 7. New: webhook message_inbound (audio, in a group, with transcription)
F7_CURRENT_INBOUND_AUDIO_GROUP: Dict[str, Any] = {
    "event": "message_inbound",
    "webhook_id": "ab5Ae733-cCFc-4025-9987-7279b26bE71b",
    "message_id": "7D0E1F4A-2C3B-4A59-9E61-0F2B9C3D4E5F",
    "contact": "+13231112233",
    "text": "",
    "message_type": "audio",
    "channel": "imessage",
    "sender": SENDER_ID,
    "attachments": ["https://files.example-loop.com/a/7D0E1F4A.caf"],
    "group": {
        "id": "A1B2C3D4-0000-4000-8000-000000000001",
        "name": "Dinner crew",
        "participants": ["+13231112233", "+13233332211", "friend@icloud.com"],
    },
    "speech": {
        "text": "Can we move it to eight?",
        "language": {"code": "en", "name": "English"},
        "metadata": {
            "speaking_rate": 152.0,
            "average_pause_duration": 0.21,
            "speech_start_timestamp": 0.4,
            "speech_duration": 2.3,
            "jitter": 1.1,
            "shimmer": 0.35,
            "pitch": 4.9,
            "voicing": 0.92,
        },
    },
    "language": {"code": "en", "name": "English"},
    "api_version": "1.0",
}
# 8. New: webhooks message_delivered / message_failed / message_reaction
F8_CURRENT_DELIVERED: Dict[str, Any] = {
    "event": "message_delivered",
    "contact": "+13231112233",
    "text": "Your table is ready",
    "message_id": MESSAGE_ID,
    "webhook_id": "0c9b2f7e-1111-4a2b-9c3d-4e5f60718293",
    "passthrough": '{"order":"A-1042"}',
    "api_version": "1.0",
}
F8_CURRENT_FAILED: Dict[str, Any] = {
    "event": "message_failed",
    "contact": "+13231112233",
    "text": "Your table is ready",
    "error_code": 1030,
    "message_id": MESSAGE_ID,
    "webhook_id": "5e6f7a8b-2222-4c3d-8e9f-0a1b2c3d4e5f",
    "api_version": "1.0",
}
F8_CURRENT_REACTION: Dict[str, Any] = {
    "event": "message_reaction",
    "contact": "+13231112233",
    "text": "Your table is ready",
    "reaction": "love",
    "message_type": "reaction",
    "channel": "imessage",
    "message_id": MESSAGE_ID,
    "webhook_id": "9a8b7c6d-3333-4e5f-a0b1-c2d3e4f5a6b7",
    "api_version": "1.0",
}
# 9. New: opt-in webhook and sender webhook
F9_CURRENT_OPT_IN: Dict[str, Any] = {
    "event": "message_inbound",
    "type": "opt_in",
    "contact": "+13231112233",
    "text": "Subscribe me",
    "language": {"code": "en", "name": "English"},
    "message_id": "2a12f7ed-da37-49fd-bbf9-e2965adfb01d",
    "organization_id": ORG_ID,
    "parameters": {"click_id": "abc123", "utm_campaign": "spring"},
    "webhook_id": "d37985d1-d648-4d42-ac69-ae72e08da86e",
}
F9_CURRENT_SENDER_UPDATED: Dict[str, Any] = {
    "event": "sender_name_updated",
    "organization_id": ORG_ID,
    "phone_number": "+13231110000",
    "sender": SENDER_ID,
    "status": "active",
    "webhook_id": "b1c2d3e4-4444-4f5a-8b9c-0d1e2f3a4b5c",
}
# 10. Legacy: send (request / 200 / error)
F10_LEGACY_SEND_REQUEST: Dict[str, Any] = {
    "recipient": "+13231112233",
    "text": "Hi!",
    "sender_name": "brand@imsg.co",
    "service": "imessage",
    "timeout": 30,
    "status_callback": "https://hooks.example.com/loop",
    "status_callback_header": "Bearer cb-secret",
    "passthrough": "req-77",
}
F10_LEGACY_SEND_OK: Dict[str, Any] = {
    "message_id": MESSAGE_ID,
    "success": True,
    "recipient": "+13231112233",
    "text": "Hi!",
}
F10_LEGACY_ERROR: Dict[str, Any] = {"success": False, "code": 220, "message": "Invalid sender name"}
# 11. Legacy: reaction and audio requests
F11_LEGACY_REACTION_REQUEST: Dict[str, Any] = {
    "recipient": "+13231112233",
    "text": "",
    "message_id": TARGET_ID,
    "reaction": "-exclaim",
    "sender_name": "brand@imsg.co",
}
F11_LEGACY_AUDIO_REQUEST: Dict[str, Any] = {
    "group": TARGET_ID,
    "text": "voice note",
    "media_url": "https://cdn.example.com/n.mp3",
    "sender_name": "brand@imsg.co",
    "audio_message": True,
}
# 12. Legacy: webhooks (inbound, sent, timeout, group_created)
F12_LEGACY_INBOUND: Dict[str, Any] = {
    "alert_type": "message_inbound",
    "recipient": "+13231112233",
    "text": "hello",
    "message_type": "text",
    "delivery_type": "imessage",
    "sender_name": "brand@imsg.co",
    "thread_id": "E3F4A5B6-7777-4C8D-9E0F-1A2B3C4D5E6F",
    "language": {"code": "en", "name": "English"},
    "message_id": TARGET_ID,
    "webhook_id": "ab5Ae733-cCFc-4025-9987-7279b26bE71b",
    "api_version": "1.0",
}
F12_LEGACY_SENT_FAILED: Dict[str, Any] = {
    "alert_type": "message_sent",
    "success": False,
    "recipient": "+13231112233",
    "text": "Hi!",
    "delivery_type": "imessage",
    "sender_name": "brand@imsg.co",
    "passthrough": "req-77",
    "message_id": MESSAGE_ID,
    "webhook_id": "c0ffee00-5555-4a6b-8c7d-9e0f1a2b3c4d",
    "api_version": "1.0",
}
F12_LEGACY_TIMEOUT: Dict[str, Any] = {
    "alert_type": "message_timeout",
    "recipient": "+13231112233",
    "text": "Hi!",
    "error_code": 130,
    "message_id": MESSAGE_ID,
    "webhook_id": "d00dfeed-6666-4b7c-9d8e-0f1a2b3c4d5e",
    "api_version": "1.0",
}
F12_LEGACY_GROUP_CREATED: Dict[str, Any] = {
    "alert_type": "group_created",
    "group": {
        "group_id": TARGET_ID,
        "name": "Group name",
        "participants": ["+13231112233", "+13233332211", "participant@icloud.com"],
    },
    "recipient": "+13231112233",
    "sender_name": "brand@imsg.co",
    "text": "text",
    "message_id": TARGET_ID,
    "webhook_id": "ab5Ae733-cCFc-4025-9987-7279b26bE71b",
}
# 13. Legacy: receiver's 200 response body (typing + read)
F13_LEGACY_WEBHOOK_REPLY: Dict[str, Any] = {"typing": 5, "read": True}
# 14. Legacy: status (200)
F14_LEGACY_STATUS: Dict[str, Any] = {
    "message_id": MESSAGE_ID,
    "status": "sent",
    "recipient": "+13231112233",
    "text": "Hi!",
    "sandbox": False,
    "sender_name": "brand@imsg.co",
    "passthrough": "req-77",
    "last_update": "2024-03-01T12:00:00.000Z",
}

# Every webhook sample: (name, generation, body).
WEBHOOKS: List[Tuple[str, str, Dict[str, Any]]] = [
    ("F7 inbound audio group", "current", F7_CURRENT_INBOUND_AUDIO_GROUP),
    ("F8 delivered", "current", F8_CURRENT_DELIVERED),
    ("F8 failed", "current", F8_CURRENT_FAILED),
    ("F8 reaction", "current", F8_CURRENT_REACTION),
    ("F9 opt-in", "current", F9_CURRENT_OPT_IN),
    ("F9 sender updated", "current", F9_CURRENT_SENDER_UPDATED),
    ("F12 inbound", "legacy", F12_LEGACY_INBOUND),
    ("F12 sent failed", "legacy", F12_LEGACY_SENT_FAILED),
    ("F12 timeout", "legacy", F12_LEGACY_TIMEOUT),
    ("F12 group created", "legacy", F12_LEGACY_GROUP_CREATED),
]
