"""Media kinds from URLs: the extension is all LoopMessage gives us."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rasa_imessage.loopmessage import AUDIO_EXTENSIONS
from rasa_imessage.media import AUDIO_EXTENSIONS as AUDIO
from rasa_imessage.media import VOICE_EXTENSIONS, extension_of, kind_of


@pytest.mark.parametrize(
    ("url", "extension", "kind"),
    [
        ("https://f.example.com/a/IMG_0001.PNG", "png", "image"),
        ("https://f.example.com/a/photo.jpeg", "jpeg", "image"),
        ("https://f.example.com/a/photo.jpg?sig=abc.pdf", "jpg", "image"),
        ("https://f.example.com/a/IMG_0002.HEIC", "heic", "image"),
        ("https://f.example.com/a/anim.gif#frame.mov", "gif", "image"),
        ("https://f.example.com/a/clip.MOV", "mov", "video"),
        ("https://f.example.com/a/clip.mp4", "mp4", "video"),
        ("https://files.example-loop.com/a/7D0E1F4A.caf", "caf", "audio"),
        ("https://f.example.com/a/note.m4a", "m4a", "audio"),
        ("https://f.example.com/a/song.ogg", "ogg", "audio"),
        ("https://f.example.com/a/report.pdf", "pdf", "file"),
        ("https://f.example.com/a/archive.tar.gz", "gz", "file"),
        ("https://f.example.com/a/no-extension", None, "file"),
        ("https://f.example.com/a/dir.png/", None, "file"),
        ("https://f.example.com/a/.png", None, "file"),
        ("https://f.example.com/a/trailing.", None, "file"),
        ("https://f.example.com/", None, "file"),
        ("http://[::1", None, "file"),  # not a URL at all
        ("", None, "file"),
    ],
)
def test_extension_and_kind(url, extension, kind):
    assert extension_of(url) == extension
    assert kind_of(url) == kind


def test_voice_extensions_are_what_loopmessage_takes_for_a_voice_message():
    assert frozenset(AUDIO_EXTENSIONS) == VOICE_EXTENSIONS
    assert VOICE_EXTENSIONS <= AUDIO


@given(st.text())
def test_any_string_has_a_kind(url):
    assert kind_of(url) in {"image", "video", "audio", "file"}
