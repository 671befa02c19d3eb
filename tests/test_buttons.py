"""Buttons on iMessage: a numbered list out; a number, keycap or title back in → the payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.buttons import (
    MAX_REPLY_LENGTH,
    buttons_from_events,
    match_button,
    offered_buttons,
    render_buttons,
)

TEN = [{"title": f"Option {n}", "payload": f'/pick{{"n":{n}}}'} for n in range(1, 11)]
THREE = [
    {"title": "Yes", "payload": "/affirm"},
    {"title": "No thanks", "payload": "/deny"},
    {"title": "Café ﬁne", "payload": "/cafe"},
]


@pytest.mark.parametrize(
    ("reply", "index"),
    [
        ("2", 2),
        ("2.", 2),
        ("2)", 2),
        (" 2 ", 2),
        ("#2", 2),
        ("# 2", 2),
        ("02", 2),
        ("2\ufe0f\u20e3", 2),  # 2️⃣
        ("2\u20e3", 2),  # keycap without the variation selector
        ("\U0001f51f", 10),  # 🔟
        ("10", 10),
        ("\uff12", 2),  # a full-width digit
        ("1", 1),
    ],
)
def test_numbers_pick_that_button(reply, index):
    assert match_button(reply, TEN) == TEN[index - 1]["payload"]


@pytest.mark.parametrize("reply", ["0", "11", "99", "00", "4", "-1", "1.5", "2 3", "#", "#\u20e3"])
def test_numbers_out_of_range_pick_nothing(reply):
    buttons = TEN if reply not in ("4",) else THREE
    assert match_button(reply, buttons) is None


def test_an_out_of_range_number_can_still_be_a_title():
    amounts = [{"title": str(n), "payload": f'/amount{{"n":{n}}}'} for n in (10, 20, 30)]
    assert match_button("20", amounts) == '/amount{"n":20}'
    assert match_button("2", amounts) == '/amount{"n":20}'  # a number in range is a position
    assert match_button("40", amounts) is None


@pytest.mark.parametrize(
    ("reply", "payload"),
    [
        ("yes", "/affirm"),
        ("YES", "/affirm"),
        ("  Yes  ", "/affirm"),
        ("yes!", "/affirm"),
        ("no   THANKS.", "/deny"),
        ("no\tthanks", "/deny"),
        ("\uff39\uff45\uff53", "/affirm"),  # "Yes" in full-width letters
        ("café fine", "/cafe"),  # the ﬁ ligature in the title
        ("CAFE\u0301 FINE", "/cafe"),  # combining accent
    ],
)
def test_titles_match_case_and_whitespace_insensitively_after_nfkc(reply, payload):
    assert match_button(reply, THREE) == payload


@pytest.mark.parametrize(
    "reply",
    ["yes please", "y", "", "   ", "!!!", "no thanks yes", "1" + " " * MAX_REPLY_LENGTH],
)
def test_other_replies_pick_nothing(reply):
    assert match_button(reply, THREE) is None


def test_long_text_is_never_a_button_answer():
    title = "x" * (MAX_REPLY_LENGTH + 1)
    assert match_button(title, [{"title": title, "payload": "/long"}]) is None
    fits = "x" * MAX_REPLY_LENGTH
    assert match_button(fits, [{"title": fits, "payload": "/fits"}]) == "/fits"


@pytest.mark.parametrize(
    ("button", "reply", "expected"),
    [
        ({"title": "Go"}, "1", None),
        ({"title": "Go", "payload": None}, "go", None),
        ({"title": "Go", "payload": ""}, "1", None),
        ({"payload": "/affirm"}, "/affirm", "/affirm"),  # no title: the payload is shown
        ({"title": "", "payload": "/affirm"}, "1", "/affirm"),
        ({"title": 42, "payload": 7}, "42", "7"),
    ],
)
def test_button_shapes(button, reply, expected):
    assert match_button(reply, [button]) == expected


def test_no_buttons_no_match():
    assert match_button("1", []) is None


@given(st.text(max_size=MAX_REPLY_LENGTH + 5))
def test_a_match_is_always_one_of_the_payloads(reply):
    found = match_button(reply, THREE + TEN)
    assert found is None or found in {b["payload"] for b in THREE + TEN}


# -- rendering -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "start", "shown"),
    [
        ("Pick one:", 1, "Pick one:\n\n1. Yes\n2. No thanks\n3. Café ﬁne"),
        ("Pick one:  \n", 1, "Pick one:\n\n1. Yes\n2. No thanks\n3. Café ﬁne"),
        (None, 1, "1. Yes\n2. No thanks\n3. Café ﬁne"),
        ("  ", 4, "4. Yes\n5. No thanks\n6. Café ﬁne"),
    ],
)
def test_render_buttons(text, start, shown):
    assert render_buttons(text, THREE, start=start) == shown


def test_rendered_numbers_map_back():
    for number in range(1, 4):
        assert f"{number}. {THREE[number - 1]['title']}" in render_buttons(None, THREE)
        assert match_button(str(number), THREE) == THREE[number - 1]["payload"]


# -- what the last bot turn offered --------------------------------------------------------------


@dataclass
class Event:
    """Quacks like a Rasa tracker event: `type_name` and `data`."""

    type_name: str
    data: Optional[Dict[str, Any]] = None


def bot(**data: Any) -> Event:
    return Event("bot", {"elements": None, "quick_replies": None, "buttons": None, **data})


YES = [{"title": "Yes", "payload": "/affirm"}]
SIZES = [{"title": "Small", "payload": "/small"}, {"title": "Large", "payload": "/large"}]
ELEMENT = {"title": "Card", "buttons": [{"title": "Buy", "payload": "/buy"}]}


def test_offered_buttons_quick_replies_win_and_elements_follow():
    message = {"buttons": YES, "quick_replies": SIZES, "elements": [ELEMENT, "junk"]}
    assert offered_buttons(message) == [*SIZES, *ELEMENT["buttons"]]
    assert offered_buttons({"buttons": [YES[0], "junk", None]}) == YES
    assert offered_buttons({}) == []


@pytest.mark.parametrize(
    ("events", "offered"),
    [
        ([], []),
        ([bot(buttons=YES)], YES),
        ([bot(buttons=YES), bot()], YES),  # a later plain message keeps the offer
        ([bot(buttons=YES), bot(buttons=SIZES)], SIZES),  # the last offer counts
        ([bot(buttons=YES), Event("user")], []),  # answered: off the table
        ([bot(buttons=YES), Event("user"), bot()], []),
        ([bot(buttons=YES), Event("user"), bot(quick_replies=SIZES)], SIZES),
        ([bot(elements=[ELEMENT])], ELEMENT["buttons"]),
        ([bot(buttons=YES), Event("action"), Event("slot"), Event("bot", None)], YES),
        ([Event("user"), bot(buttons=YES), Event("action_execution_rejected")], YES),
        ([object(), bot(buttons=YES)], YES),  # no type_name at all
    ],
)
def test_buttons_from_events_reads_the_last_bot_turn(events, offered):
    assert buttons_from_events(events) == offered
