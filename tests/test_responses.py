"""plan_response: one Rasa bot response → the LoopMessage sends that show it, in order."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from rasa_imessage import responses
from rasa_imessage.config import IMessageConfig, load_config
from rasa_imessage.passthrough import decode_conversation
from rasa_imessage.rendering import MAX_TEXT
from rasa_imessage.responses import CUSTOM_KEYS, Plan, plan_response

PHONE = "+15551234567"
LEGACY = {"api": "legacy", "authorization_key": "a", "secret_key": "s", "sender_name": "b@imsg.co"}


def config(**extra: Any) -> IMessageConfig:
    base = LEGACY if extra.get("api") == "legacy" else {"api_key": "k"}
    return load_config({**base, "webhook_auth": "h", **extra}, environ={})


def plan(
    message: Dict[str, Any],
    conversation: str = PHONE,
    last_user_message_id: Optional[str] = "USER-MSG-1",
    **extra: Any,
) -> Plan:
    return plan_response(
        {"text": None, **message},
        conversation,
        config(**extra),
        last_user_message_id=last_user_message_id,
    )


def texts(result: Plan) -> List[str]:
    return [send.text for send in result.sends]


def url(name: str) -> str:
    return f"https://cdn.example.com/{name}"


# -- text ----------------------------------------------------------------------------------------


def test_text_is_split_on_blank_lines():
    result = plan({"text": "Hello!\n\nHow can I help?\n \n\nBye"})
    assert texts(result) == ["Hello!", "How can I help?", "Bye"]
    assert result.refused == []


def test_text_is_kept_whole_when_split_paragraphs_is_off():
    result = plan({"text": "Hello!\n\nHow can I help?"}, split_paragraphs=False)
    assert texts(result) == ["Hello!\n\nHow can I help?"]


def test_markdown_is_made_plain():
    result = plan({"text": "**Order** [status](https://x.io/s) is _ready_\n- one\n- two"})
    assert texts(result) == ["Order status (https://x.io/s) is ready\n• one\n• two"]


@pytest.mark.parametrize("text", [None, "", "   ", "\n\n\n", "---", "\n \n"])
def test_no_empty_bubbles(text):
    assert plan({"text": text}).sends == []


def test_long_text_is_chunked_at_word_boundaries():
    words = [f"word{index}" for index in range(4000)]  # about 35,000 characters
    result = plan({"text": " ".join(words)})
    assert len(result.sends) == 4
    assert all(len(text) <= MAX_TEXT for text in texts(result))
    assert " ".join(texts(result)).split() == words  # no word cut, none lost


def test_each_paragraph_is_chunked_on_its_own():
    long = "x " * 6000
    result = plan({"text": f"short\n\n{long}"})
    assert texts(result)[0] == "short"
    assert len(result.sends) == 3


# -- images, attachments, voice ------------------------------------------------------------------


def test_text_and_image_go_in_one_send():
    result = plan({"text": "Here it is", "image": url("a.png")})
    [send] = result.sends
    assert (send.text, send.attachments) == ("Here it is", [url("a.png")])


def test_the_image_rides_with_the_last_paragraph():
    result = plan({"text": "One\n\nTwo", "image": url("a.png")})
    assert [(s.text, s.attachments) for s in result.sends] == [
        ("One", []),
        ("Two", [url("a.png")]),
    ]


def test_image_only():
    [send] = plan({"image": url("a.jpg")}).sends
    assert (send.text, send.attachments) == ("", [url("a.jpg")])


@pytest.mark.parametrize(
    "attachment",
    [
        url("doc.pdf"),
        f"  {url('doc.pdf')}  ",
        {"url": url("doc.pdf")},
        {"type": "file", "payload": {"src": url("doc.pdf")}},
        {"payload": url("doc.pdf")},
        {"link": url("doc.pdf")},
    ],
)
def test_attachment_as_url_or_mapping(attachment):
    [send] = plan({"text": "Your invoice", "attachment": attachment}).sends
    assert send.attachments == [url("doc.pdf")]


def test_image_and_attachment_together_and_deduplicated():
    both = plan({"image": url("a.png"), "attachment": url("b.pdf")}).sends
    assert [s.attachments for s in both] == [[url("a.png"), url("b.pdf")]]
    same = plan({"image": url("a.png"), "attachment": url("a.png")}).sends
    assert [s.attachments for s in same] == [[url("a.png")]]


def test_an_attachment_without_a_url_is_refused_by_name():
    result = plan({"text": "hi", "attachment": {"kind": "file"}})
    assert texts(result) == ["hi"]
    assert result.refused == ["attachment: no URL found in dict"]


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("http://cdn.example.com/a.png", "must be a public https:// URL"),
        ("https://cdn.example.com/" + "a" * 250 + ".png", "at most 256"),
    ],
)
def test_a_bad_image_is_refused_but_the_text_still_goes(bad, says):
    result = plan({"text": "Here it is", "image": bad})
    assert [(s.text, s.attachments) for s in result.sends] == [("Here it is", [])]
    [reason] = result.refused
    assert reason.startswith("text: attachments: item 0 ")
    assert says in reason


@pytest.mark.parametrize(
    ("api", "batches"),
    [("current", [5, 2]), ("legacy", [3, 3, 1])],
)
def test_more_attachments_than_the_limit_are_split_in_order(api, batches):
    urls = [url(f"{index}.png") for index in range(7)]
    result = plan({"custom": {"text": "Album", "attachments": urls}}, api=api)
    assert [len(s.attachments) for s in result.sends] == batches
    assert [u for s in result.sends for u in s.attachments] == urls
    assert texts(result) == ["Album"] + [""] * (len(batches) - 1)


@pytest.mark.parametrize("ext", ["mp3", "wav", "m4a", "caf", "aac", "M4A"])
def test_voice_urls_go_out_as_voice_messages(ext):
    voice = url(f"note.{ext}")
    result = plan({"text": "Listen", "attachment": voice})
    assert [(s.text, s.attachments, s.media_url) for s in result.sends] == [
        ("Listen", [], None),
        ("", [], voice),
    ]


def test_voice_urls_are_attachments_when_voice_messages_are_off():
    voice = url("note.mp3")
    [send] = plan({"text": "Listen", "attachment": voice}, voice_messages=False).sends
    assert (send.attachments, send.media_url) == ([voice], None)


def test_audio_that_cannot_be_a_voice_message_is_an_attachment():
    [send] = plan({"attachment": url("note.ogg")}).sends
    assert (send.attachments, send.media_url) == ([url("note.ogg")], None)


# -- buttons, quick replies, elements ------------------------------------------------------------

YES_NO = [{"title": "Yes", "payload": "/affirm"}, {"title": "No", "payload": "/deny"}]


def test_buttons_are_numbered_under_the_text():
    result = plan({"text": "Shall I book it?", "buttons": YES_NO})
    assert texts(result) == ["Shall I book it?\n\n1. Yes\n2. No"]


def test_buttons_join_the_last_paragraph():
    result = plan({"text": "Found it.\n\nShall I book it?", "buttons": YES_NO})
    assert texts(result) == ["Found it.", "Shall I book it?\n\n1. Yes\n2. No"]


def test_buttons_without_text():
    assert texts(plan({"buttons": YES_NO})) == ["1. Yes\n2. No"]


def test_quick_replies_win_over_buttons():
    quick = [{"title": "Later", "payload": "/later"}]
    result = plan({"text": "Now?", "buttons": YES_NO, "quick_replies": quick})
    assert texts(result) == ["Now?\n\n1. Later"]


def test_a_button_without_a_title_shows_its_payload():
    assert texts(plan({"buttons": [{"payload": "/affirm"}, "junk"]})) == ["1. /affirm"]


ELEMENTS = [
    {
        "title": "Margherita",
        "subtitle": "**Classic** tomato",
        "image_url": url("m.jpg"),
        "buttons": [{"title": "Order", "payload": "/order_m"}],
    },
    {
        "title": "Diavola",
        "subtitle": "Spicy",
        "buttons": [
            {"title": "Order", "payload": "/order_d"},
            {"title": "Details", "payload": "/details_d"},
        ],
    },
]


def test_elements_are_one_bubble_each_numbered_on_from_the_text():
    result = plan({"text": "Menu:", "buttons": YES_NO, "elements": ELEMENTS})
    assert [(s.subject, s.text, s.attachments) for s in result.sends] == [
        (None, "Menu:\n\n1. Yes\n2. No", []),
        ("Margherita", "Classic tomato\n\n3. Order", [url("m.jpg")]),
        ("Diavola", "Spicy\n\n4. Order\n5. Details", []),
    ]
    assert result.refused == []


def test_element_shapes():
    result = plan(
        {
            "elements": [
                {"title": "Only a title"},
                {"title": "Pic", "image": {"url": url("p.png")}},
                {"subtitle": "No title"},
                "not a mapping",
                {"title": "Bad pic", "subtitle": "still here", "image_url": "http://x/p.png"},
            ]
        }
    )
    assert [(s.subject, s.text, s.attachments) for s in result.sends] == [
        (None, "Only a title", []),
        ("Pic", "", [url("p.png")]),
        (None, "No title", []),
        ("Bad pic", "still here", []),
    ]
    assert result.refused[0] == "elements: an element is not a mapping"
    assert result.refused[1].startswith("element: attachments: item 0 must be a public https://")


# -- custom payloads -----------------------------------------------------------------------------


# DESIGN.md's custom payload keys; `service` is another name for `channel`.
DESIGN_KEYS = "text subject effect reply_to_id attachments media_url reaction message_id channel"
SEND_FIELDS = DESIGN_KEYS.split()


def fields(result: Plan) -> List[Dict[str, Any]]:
    """Each send's fields that were given (passthrough and recipient aside)."""
    return [
        {key: getattr(s, key) for key in SEND_FIELDS if getattr(s, key) not in (None, "", [])}
        for s in result.sends
    ]


@pytest.mark.parametrize("nested", [False, True], ids=["top level", "under imessage"])
@pytest.mark.parametrize(
    ("custom", "sent"),
    [
        (
            {"text": "Party!", "effect": "confetti", "subject": "News", "reply_to_id": "R-1"},
            {"text": "Party!", "effect": "confetti", "subject": "News", "reply_to_id": "R-1"},
        ),
        ({"attachments": [url("a.png")]}, {"attachments": [url("a.png")]}),
        ({"media_url": url("hi.m4a")}, {"media_url": url("hi.m4a")}),
        ({"reaction": "love"}, {"reaction": "love", "message_id": "USER-MSG-1"}),
        (
            {"reaction": "-like", "message_id": "OTHER"},
            {"reaction": "-like", "message_id": "OTHER"},
        ),
        ({"text": "by sms", "service": "sms"}, {"text": "by sms", "channel": "sms"}),
        ({"text": "by sms", "channel": "SMS"}, {"text": "by sms", "channel": "sms"}),
        (
            {"text": "t", "channel": "imessage", "service": "sms"},
            {"text": "t", "channel": "imessage"},
        ),
    ],
)
def test_custom_payload_is_a_loopmessage_send(custom, sent, nested):
    result = plan({"custom": {"imessage": custom} if nested else custom})
    assert result.refused == []
    assert fields(result) == [sent]


def test_custom_keys_are_designs_contract():
    # DESIGN.md's keys, and `sender`: which of several senders a send goes from
    assert {*SEND_FIELDS, "service", "sender"} == CUSTOM_KEYS


@pytest.mark.parametrize(
    ("custom", "says"),
    [
        ({"text": "x", "effect": "sparkle"}, "custom: effect: must be one of"),
        ({"text": "x", "channel": "fax"}, "custom: channel: must be one of"),
        ({"text": 5}, "custom: text: must be a string, not int"),
        ({"text": "x" * 10_001}, "custom: text: is 10001 characters"),
        ({"attachments": url("a.png")}, "custom: attachments must be a list of URLs"),
        ({"attachments": ["http://x/a.png"]}, "custom: attachments: item 0 must be a public"),
        ({"attachments": [7]}, "custom: attachments: must be a list of https:// URL strings"),
        ({"attachments": [None]}, "custom: attachments: must be a list of https://"),  # was silent
        ({"media_url": url("a.txt")}, "custom: media_url: must end in .mp3"),
        ({"reaction": "hug"}, "custom: reaction: must be one of"),
        ({"reaction": "love", "effect": "slam"}, "custom: effect: cannot go with a reaction"),
        ({"reaction": "love", "text": "and words"}, "custom: reaction: is sent on its own"),
        ({"message_id": "M", "text": "x"}, "custom: message_id: is the message a reaction"),
        ({"subject": "only a subject"}, "custom: text: a send needs text"),
        ({"text": "hi", "buttons": []}, "custom: unknown field(s) buttons; allowed: attachments"),
        ({"text": "hi", "to": "x", "from": "y"}, "custom: unknown field(s) from, to;"),
        ({"imessage": "hi"}, "custom: imessage must be a mapping of send fields, not str"),
    ],
)
def test_invalid_custom_payloads_are_refused_naming_the_field(custom, says):
    result = plan({"custom": custom})
    assert result.sends == []
    [reason] = result.refused
    assert reason.startswith(says)


def test_a_reaction_with_no_message_to_react_to_is_refused():
    result = plan({"custom": {"reaction": "love"}}, last_user_message_id=None)
    assert result.sends == []
    assert result.refused == [
        "custom: message_id: a reaction needs the message_id of the message it reacts to"
    ]


def test_a_refused_custom_part_does_not_stop_the_rest_of_the_response():
    result = plan(
        {"text": "Hello", "custom": {"effect": "nope", "text": "x"}, "image": url("i.png")}
    )
    assert [(s.text, s.attachments) for s in result.sends] == [("Hello", [url("i.png")])]
    assert len(result.refused) == 1


def test_a_custom_payload_split_over_several_sends_is_all_or_nothing():
    urls = [url(f"{index}.png") for index in range(6)] + ["http://insecure/7.png"]
    result = plan({"custom": {"text": "Album", "attachments": urls}})
    assert result.sends == []
    [reason] = result.refused
    assert reason.startswith("custom: attachments: item 1 must be a public https:// URL")
    voice = plan({"custom": {"media_url": url("v.mp3"), "attachments": urls[:6]}})
    assert voice.sends == []
    assert voice.refused == [
        "custom: media_url: a voice message cannot carry attachments; send them separately"
    ]


def test_every_send_of_a_split_custom_payload_keeps_its_channel_and_thread():
    urls = [url(f"{index}.png") for index in range(7)]
    custom = {"text": "t", "attachments": urls, "service": "sms", "reply_to_id": "R-1"}
    custom["effect"] = "gentle"
    result = plan({"custom": custom})
    assert [(s.channel, s.reply_to_id, s.effect) for s in result.sends] == [
        ("sms", "R-1", "gentle"),
        ("sms", "R-1", None),
    ]


@pytest.mark.parametrize(
    "custom",
    [
        {"blocks": [{"type": "section"}]},
        {"slack": {"text": "hi"}},
        {"payload": "telegram", "data": {"x": 1}},
        {},
    ],
)
def test_foreign_custom_payloads_are_ignored(custom):
    result = plan({"text": "Hi", "custom": custom})
    assert texts(result) == ["Hi"]
    assert result.refused == []


def test_a_custom_payload_that_is_not_a_mapping_is_refused():
    result = plan({"custom": ["text", "hi"]})
    assert result.sends == []
    assert result.refused == ["custom: expected a mapping of LoopMessage send fields"]


# -- where it goes, and in which order -----------------------------------------------------------


@pytest.mark.parametrize(
    ("conversation", "contact", "group"),
    [
        (PHONE, PHONE, None),
        ("jane@icloud.com", "jane@icloud.com", None),
        ("group:G-1", None, "G-1"),
    ],
)
def test_recipient_and_passthrough_of_every_send(conversation, contact, group):
    result = plan(
        {
            "text": "Hi\n\nthere",
            "attachment": url("v.mp3"),
            "custom": {"reaction": "like"},
            "elements": ELEMENTS,
        },
        conversation=conversation,
    )
    assert len(result.sends) == 6
    for send in result.sends:
        assert (send.contact, send.group) == (contact, group)
        assert decode_conversation(send.passthrough) == conversation


def test_order_is_text_voice_custom_elements():
    result = plan(
        {
            "text": "Hi",
            "attachment": url("v.mp3"),
            "custom": {"text": "custom"},
            "elements": ELEMENTS[1:],
        }
    )
    assert [(s.text, s.media_url) for s in result.sends] == [
        ("Hi", None),
        ("", url("v.mp3")),
        ("custom", None),
        ("Spicy\n\n1. Order\n2. Details", None),
    ]


@pytest.mark.parametrize(
    ("base_url", "sent"),
    [
        ("http://127.0.0.1:8686", True),  # the emulator fetches its own uploads
        ("http://localhost:8686", True),
        (None, False),  # LoopMessage itself cannot fetch a loopback or http URL
        ("https://proxy.example.com", False),
    ],
)
def test_loopback_attachment_urls_only_go_to_a_local_stand_in(base_url, sent) -> None:
    url = "http://127.0.0.1:8686/files/ab12/cat.png"
    result = plan({"text": "back", "image": url}, base_url=base_url)
    attachments = [a for send in result.sends for a in send.attachments]
    assert (attachments == [url]) is sent
    assert texts(result) == ["back"]  # the text goes either way
    assert bool(result.refused) is not sent


# -- the cache of recent texts ---------------------------------------------------------------------


def test_a_repeated_text_plans_the_same_whatever_came_between():
    text = "**Found** it.\n\nShall I book it?"
    first = texts(plan({"text": text}))
    with_buttons = texts(plan({"text": text, "buttons": YES_NO}))  # edits its own copy
    assert texts(plan({"text": text})) == first == ["Found it.", "Shall I book it?"]
    assert with_buttons == ["Found it.", "Shall I book it?\n\n1. Yes\n2. No"]
    assert texts(plan({"text": text}, split_paragraphs=False)) == ["Found it.\n\nShall I book it?"]


def test_only_texts_up_to_the_cached_length_are_kept():
    """The cache's memory bound: a long text is planned, not kept."""
    responses._cached_bubbles.cache_clear()  # other tests' texts may have filled it
    text = "*word* " * 400  # over the cached length
    assert texts(plan({"text": text})) == [("word " * 400).strip()]
    assert responses._cached_bubbles.cache_info().currsize == 0
    assert texts(plan({"text": "*a short text* here"})) == ["a short text here"]
    assert responses._cached_bubbles.cache_info().currsize == 1
