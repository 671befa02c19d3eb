"""SendRequest validation and the exact wire bodies of both generations."""

from __future__ import annotations

from typing import Any, Dict

import lm_samples as S
import pytest

from rasa_imessage.loopmessage import (
    EFFECTS,
    REACTIONS,
    InvalidRequestError,
    SendRequest,
    is_loopback_url,
    to_current_body,
    to_legacy_body,
)
from rasa_imessage.loopmessage._compat import model_dump, parse_obj

URL = "https://cdn.example.com/"


def test_create_builds_a_request_with_defaults():
    req = SendRequest.create(contact="+13231112233", text="hi")
    assert (req.contact, req.group, req.text, req.attachments) == ("+13231112233", None, "hi", [])


@pytest.mark.parametrize(
    "fields",
    [
        {"contact": "+13231112233", "text": "hi"},
        {"group": "g-1", "text": "", "attachments": (URL + "a.png",), "channel": "SMS"},
        {"contact": "a@b.co", "media_url": URL + "v.mp3", "subject": "s", "effect": "slam"},
        {"contact": "+1", "reaction": "love", "message_id": "m", "passthrough": "p", "sender": "x"},
    ],
)
def test_create_builds_what_pydantic_validation_builds(fields):
    made = SendRequest.create(**fields)  # pydantic 1: built without validation
    checked = parse_obj(SendRequest, model_dump(made, exclude_unset=True))
    for name in vars(checked):
        assert type(getattr(made, name)) is type(getattr(checked, name)), name
    assert made == checked
    assert model_dump(made, exclude_unset=True) == model_dump(checked, exclude_unset=True)


def test_create_treats_none_and_empty_strings_as_not_given():
    req = SendRequest.create(contact="+1", text="hi", subject="", effect=None)
    assert req.subject is None
    assert req.effect is None


def test_channel_is_lower_cased():
    assert SendRequest.create(contact="+1", text="hi", channel="SMS").channel == "sms"


@pytest.mark.parametrize("effect", EFFECTS)
def test_every_documented_effect_is_accepted(effect):
    assert SendRequest.create(contact="+1", text="x", effect=effect).effect == effect


@pytest.mark.parametrize("reaction", REACTIONS)
def test_every_reaction_and_its_removal_is_accepted(reaction):
    req = SendRequest.create(contact="+1", reaction=reaction, message_id="m1")
    assert req.reaction == reaction


@pytest.mark.parametrize("ext", ["mp3", "wav", "m4a", "caf", "AAC"])
def test_voice_extensions_ignore_case_and_query(ext):
    url = f"{URL}voice.{ext}?token=abc#t"
    assert SendRequest.create(contact="+1", media_url=url).media_url == url


def test_limits_are_inclusive():
    long_url = URL + "a" * (256 - len(URL))
    req = SendRequest.create(
        group="g", text="x" * 10_000, attachments=[long_url], passthrough="p" * 1000
    )
    assert len(req.text) == 10_000


@pytest.mark.parametrize(
    ("fields", "field", "reason"),
    [
        ({"text": "hi"}, "contact", "needs a contact"),
        ({"contact": "+1", "group": "g", "text": "hi"}, "contact", "not both"),
        ({"contact": "", "text": "hi"}, "contact", "needs a contact"),
        ({"contact": "+1"}, "text", "needs text, attachments, media_url or a reaction"),
        ({"contact": "+1", "text": ""}, "text", "needs text"),
        ({"contact": "+1", "text": "x" * 10_001}, "text", "under 10 000"),
        ({"contact": 13231112233, "text": "hi"}, "contact", "must be a string, not int"),
        ({"contact": "+1", "text": 5}, "text", "must be a string"),
        ({"contact": "+1", "attachments": "https://a.b/c.png"}, "attachments", "must be a list"),
        ({"contact": "+1", "attachments": [5]}, "attachments", "must be a list"),
        ({"contact": "+1", "attachments": ["http://a.b/c.png"]}, "attachments", "https://"),
        (
            {"contact": "+1", "attachments": [URL + "a.png", URL + "b" * 300]},
            "attachments",
            "item 1 is 324 characters",
        ),
        ({"contact": "+1", "text": "x", "effect": "Confetti"}, "effect", "case-sensitive"),
        ({"contact": "+1", "text": "x", "effect": "sparkle"}, "effect", "must be one of slam"),
        ({"contact": "+1", "reaction": "heart", "message_id": "m"}, "reaction", "must be one of"),
        ({"contact": "+1", "reaction": "exclaim", "message_id": "m"}, "reaction", "emphasize"),
        ({"contact": "+1", "reaction": "LOVE", "message_id": "m"}, "reaction", "must be one of"),
        ({"contact": "+1", "reaction": "love"}, "message_id", "needs the message_id"),
        (
            {"contact": "+1", "reaction": "love", "message_id": "m", "effect": "slam"},
            "effect",
            "620",
        ),
        (
            {"contact": "+1", "reaction": "love", "message_id": "m", "text": "also"},
            "reaction",
            "on its own",
        ),
        ({"contact": "+1", "text": "x", "message_id": "m"}, "message_id", "reply_to_id"),
        ({"contact": "+1", "media_url": "http://a.b/v.mp3"}, "media_url", "https://"),
        ({"contact": "+1", "media_url": URL + "v.ogg"}, "media_url", ".mp3, .wav"),
        ({"contact": "+1", "media_url": URL + "v.mp3/x"}, "media_url", ".mp3"),
        ({"contact": "+1", "media_url": URL + "v" * 300 + ".mp3"}, "media_url", "at most 256"),
        (
            {"contact": "+1", "media_url": URL + "v.mp3", "attachments": [URL + "a.png"]},
            "media_url",
            "cannot carry attachments",
        ),
        ({"contact": "+1", "text": "x", "passthrough": "p" * 1001}, "passthrough", "at most 1000"),
        ({"contact": "+1", "text": "x", "channel": "telegram"}, "channel", "imessage, sms, rcs"),
        ({"contact": "+1", "text": "x", "colour": "red"}, "colour", "unknown field"),
        ({"contact": "+1", "text": "x", "sender": 5}, "sender", "must be a string"),
    ],
)
def test_create_refuses_naming_the_field(fields, field, reason):
    with pytest.raises(InvalidRequestError) as info:
        SendRequest.create(**fields)
    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value).startswith(f"{field}: ")


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("file:///etc/passwd", "https://"),
        ("javascript:alert(1)", "https://"),
        ("data:image/png;base64,iVBORw0KGgo=", "https://"),
        ("https:///etc/passwd", "no host name"),
        ("https://user:s3cr3t@cdn.example.com/a.png", "user name or password"),
        ("https://s3cr3t@cdn.example.com/a.png", "user name or password"),  # a token alone
        ("https://:s3cr3t@cdn.example.com/a.png", "user name or password"),
        ("https://cdn.example.com/a b.png", "spaces or control characters"),
        ("https://cdn.example.com/a.png\r\nX-Injected: 1", "spaces or control characters"),
        ("https://cdn.example.com:http/a.png", "not a valid URL"),
        ("https://localhost/a.png", "public host"),
        ("https://127.0.0.1/a.png", "public host"),
        ("https://10.0.0.8/a.png", "public host"),
        ("https://169.254.169.254/latest/meta-data", "public host"),
        ("https://[::1]/a.png", "public host"),
    ],
)
@pytest.mark.parametrize("field", ["attachments", "media_url"])
def test_urls_loopmessage_cannot_or_should_not_fetch_are_refused(url, reason, field):
    value = [url] if field == "attachments" else url
    with pytest.raises(InvalidRequestError) as info:
        fields: Dict[str, Any] = {field: value}
        SendRequest.create(contact="+1", **fields)
    assert info.value.field == field and reason in info.value.reason
    assert "s3cr3t" not in str(info.value) and "etc/passwd" not in str(info.value)


@pytest.mark.parametrize(
    ("url", "loopback"),
    [
        ("http://127.0.0.1:8686/u/a.png", True),
        ("http://127.9.9.9/a.png", True),
        ("https://localhost/a.png", True),
        ("http://LOCALHOST:5005/a.png", True),
        ("http://[::1]:5005/a.png", True),
        ("ftp://127.0.0.1/a.png", False),
        ("127.0.0.1/a.png", False),
        ("http://10.0.0.8/a.png", False),
        ("http://localhost.example.com/a.png", False),
        ("https://cdn.example.com/a.png", False),
        ("http://[::1/a.png", False),  # not a URL at all
        ("", False),
    ],
)
def test_loopback_urls_are_those_of_this_machine(url, loopback):
    """What a local emulator, and it alone, may be sent (`local_urls`)."""
    assert is_loopback_url(url) is loopback


def test_public_https_urls_pass():
    for url in ("https://cdn.example.com/a.png", "https://8.8.8.8/a.png?sig=x%20y",
                "https://[2606:4700::1111]/v.mp3"):  # fmt: skip
        assert SendRequest.create(contact="+1", attachments=[url]).attachments == [url]


def test_refusals_do_not_echo_urls():
    secret_url = "http://cdn.example.com/a.png?signature=s3cr3t"
    with pytest.raises(InvalidRequestError) as info:
        SendRequest.create(contact="+1", attachments=[secret_url])
    assert "s3cr3t" not in str(info.value)


def _request(sample):
    return SendRequest.create(**{k: v for k, v in sample.items() if k != "sender"})


def test_current_text_body_is_sample_f1():
    req = _request(S.F1_CURRENT_SEND_REQUEST)
    assert to_current_body(req, sender=S.SENDER_ID) == S.F1_CURRENT_SEND_REQUEST


def test_current_reaction_and_voice_bodies_are_sample_f4():
    reaction = _request(S.F4_CURRENT_REACTION_REQUEST)
    assert to_current_body(reaction, sender=None) == S.F4_CURRENT_REACTION_REQUEST
    voice = _request(S.F4_CURRENT_VOICE_REQUEST)
    assert to_current_body(voice, sender=None) == S.F4_CURRENT_VOICE_REQUEST


def test_current_body_sender_override_group_and_optional_fields():
    req = SendRequest.create(
        group="g1",
        text="",
        attachments=[URL + "a.png"],
        subject="Menu",
        reply_to_id="r1",
        channel="sms",
        sender="other-sender",
    )
    assert to_current_body(req, sender="configured") == {
        "group": "g1",
        "text": "",
        "attachments": [URL + "a.png"],
        "subject": "Menu",
        "reply_to_id": "r1",
        "channel": "sms",
        "sender": "other-sender",
    }


def test_current_voice_keeps_text_when_given():
    req = SendRequest.create(contact="+1", media_url=URL + "v.mp3", text="voice note")
    assert to_current_body(req, sender=None) == {
        "contact": "+1",
        "media_url": URL + "v.mp3",
        "text": "voice note",
    }


def test_legacy_reaction_body_is_sample_f11():
    req = SendRequest.create(contact="+13231112233", reaction="-emphasize", message_id=S.TARGET_ID)
    assert to_legacy_body(req, sender_name="brand@imsg.co") == S.F11_LEGACY_REACTION_REQUEST


def test_legacy_audio_body_is_sample_f11():
    req = SendRequest.create(group=S.TARGET_ID, text="voice note", media_url=URL[:-1] + "/n.mp3")
    assert to_legacy_body(req, sender_name="brand@imsg.co") == S.F11_LEGACY_AUDIO_REQUEST


def test_legacy_text_body_names_the_legacy_fields():
    req = SendRequest.create(
        contact="+13231112233", text="Hi!", channel="imessage", passthrough="req-77"
    )
    expected = {
        k: v
        for k, v in S.F10_LEGACY_SEND_REQUEST.items()
        if k not in ("timeout", "status_callback", "status_callback_header")
    }
    assert to_legacy_body(req, sender_name="brand@imsg.co") == expected


def test_legacy_text_is_always_present_and_sender_override_applies():
    req = SendRequest.create(contact="a@b.co", attachments=[URL + "a.png"], sender="x@imsg.co")
    assert to_legacy_body(req, sender_name="brand@imsg.co") == {
        "recipient": "a@b.co",
        "text": "",
        "attachments": [URL + "a.png"],
        "sender_name": "x@imsg.co",
    }


@pytest.mark.parametrize("channel", ["rcs", "whatsapp"])
def test_legacy_refuses_channels_it_does_not_have(channel):
    req = SendRequest.create(contact="+1", text="x", channel=channel)
    with pytest.raises(InvalidRequestError) as info:
        to_legacy_body(req, sender_name="b")
    assert info.value.field == "channel"
