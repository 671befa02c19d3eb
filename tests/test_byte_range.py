"""`Range` headers and media paths, as the bot's own files read them (RFC 9110 §14.1.2,
§14.4; hosted_route.py)."""

from __future__ import annotations

from typing import Optional, Tuple, Union

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.byte_range import UNSATISFIABLE, Part, part_to_send, requested_range
from rasa_imessage.hosted_media import MEDIA_PATH
from rasa_imessage.hosted_route import media_url_parts


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        ("bytes=0-99", 1000, (0, 99)),
        ("bytes=0-", 1000, (0, 999)),  # what browsers ask first for audio and video
        ("bytes=990-2000", 1000, (990, 999)),  # a last byte past the end means the end
        ("bytes=-100", 1000, (900, 999)),  # the last 100
        ("bytes=-5000", 1000, (0, 999)),  # more than there is: all of it
        ("Bytes = 5-5", 1000, (5, 5)),
        ("bytes=1000-", 1000, UNSATISFIABLE),
        ("bytes=1000-1005", 1000, UNSATISFIABLE),
        ("bytes=-0", 1000, UNSATISFIABLE),
        ("bytes=0-", 0, UNSATISFIABLE),
        ("bytes=-10", 0, UNSATISFIABLE),
        (None, 1000, None),
        ("", 1000, None),
        ("bytes=5-1", 1000, None),  # invalid: ignored
        ("bytes=0-1,5-6", 1000, None),  # several ranges: the whole file
        ("items=0-1", 1000, None),
        ("bytes=-", 1000, None),
        ("bytes=a-b", 1000, None),
        ("bytes=+1-2", 1000, None),
        ("bytes=\u0661-\u0662", 1000, None),  # Arabic-Indic digits: digits, not ASCII ones
        ("bytes=0-" + "9" * 80, 1000, None),
    ],
)
def test_a_range_header_reads_as_the_rfc_says(
    header: Optional[str], size: int, expected: Union[str, Tuple[int, int], None]
) -> None:
    assert requested_range(header, size) == expected


@given(header=st.one_of(st.none(), st.text(max_size=40), st.from_regex(r"bytes=\d*-\d*", fullmatch=True)),
       size=st.integers(min_value=0, max_value=10**6))  # fmt: skip
def test_any_header_gives_the_whole_file_a_range_inside_it_or_416(
    header: Optional[str], size: int
) -> None:
    wanted = requested_range(header, size)
    if isinstance(wanted, tuple):
        first, last = wanted
        assert 0 <= first <= last < size
    else:
        assert wanted in (None, UNSATISFIABLE)


@given(rest=st.text(max_size=60))
def test_any_media_path_splits_into_kind_signature_and_name_or_nothing(rest: str) -> None:
    parts = media_url_parts(MEDIA_PATH + "/" + rest)
    if parts is not None:
        kind, signature, name = parts
        assert "/" not in kind and "/" not in signature and name


def test_a_media_path_is_decoded_once() -> None:
    assert media_url_parts(MEDIA_PATH + "/f/SIG/menu%20100%25.pdf") == ("f", "SIG", "menu 100%.pdf")
    assert media_url_parts(MEDIA_PATH + "/f/SIG/a%252F.pdf") == ("f", "SIG", "a%2F.pdf")
    assert media_url_parts(MEDIA_PATH + "/f/SIG/") is None
    assert media_url_parts("/webhooks/imessage/webhook") is None


@pytest.mark.parametrize(
    ("header", "size", "part"),
    [
        (None, 10, Part(200, 0, 10)),
        ("bytes=0-1,4-5", 10, Part(200, 0, 10)),  # several ranges: the whole file
        ("bytes=2-4", 10, Part(206, 2, 3, "bytes 2-4/10")),
        ("bytes=-3", 10, Part(206, 7, 3, "bytes 7-9/10")),
        ("bytes=8-99", 10, Part(206, 8, 2, "bytes 8-9/10")),
        ("bytes=10-", 10, Part(416, 0, 0, "bytes */10")),
        (None, 0, Part(200, 0, 0)),
    ],
)
def test_the_part_sent_and_its_content_range(header: Optional[str], size: int, part: Part) -> None:
    """What both the bot's files and the emulator's uploads answer with."""
    assert part_to_send(header, size) == part
