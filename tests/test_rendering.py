"""Bot text for iMessage: Markdown made plain, paragraphs, chunks under the length limit."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rasa_imessage import rendering
from rasa_imessage.loopmessage import MAX_TEXT_LENGTH
from rasa_imessage.rendering import MAX_TEXT, chunk_text, markdown_to_text, paragraphs


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**bold** and __strong__", "bold and strong"),
        ("*it* and _em_", "it and em"),
        ("~~gone~~ here", "gone here"),
        ("***both***", "both"),
        ("`**not bold**` kept", "**not bold** kept"),
        ("```python\nx = a_b_c * 2\n```", "x = a_b_c * 2"),
        ("[docs](https://x.io/d)", "docs (https://x.io/d)"),
        ('[docs](https://x.io/d "Title")', "docs (https://x.io/d)"),
        ("[https://x.io](https://x.io)", "https://x.io"),
        ("[mail me](mailto:a@b.co)", "mail me (a@b.co)"),
        ("![a cat](https://x.io/c.png)", "a cat (https://x.io/c.png)"),
        ("![](https://x.io/c.png)", "https://x.io/c.png"),
        ("<https://x.io/a>", "https://x.io/a"),
        ("<mailto:a@b.co>", "a@b.co"),
        ("# Title\n## Sub ##", "Title\nSub"),
        ("#hashtag stays", "#hashtag stays"),
        ("- one\n* two\n+ three\n  - nested", "• one\n• two\n• three\n  • nested"),
        ("1. first\n2. second", "1. first\n2. second"),
        ("> quoted\n> more", "quoted\nmore"),
        ("above\n\n---\n\nbelow", "above\n\n\n\nbelow"),
        ("snake_case_name and 2 * 3 * 4", "snake_case_name and 2 * 3 * 4"),
        ("https://x.io/a_b_c?q=*x*", "https://x.io/a_b_c?q=x"),
        ("price: $5 * 2", "price: $5 * 2"),
        ("plain text", "plain text"),
        ("", ""),
        ("\x000\x00 and `code`", "0 and code"),  # NUL marks code internally
    ],
)
def test_markdown_to_text(markdown, plain):
    assert markdown_to_text(markdown) == plain


@given(
    st.text(alphabet=st.sampled_from(list('*_~`[]()<>!#->+ \n\t\x00\x01ab1:/."')) | st.characters())
)
@example("\x000\x00")
@example("\x009\x00`x`")
def test_markdown_to_text_never_raises(text):
    assert isinstance(markdown_to_text(text), str)


@given(st.text(alphabet=st.sampled_from(list("-+=|!()/:;.,'\"ab1 \n\t#>*_~`[<")) | st.characters()))
@example("- item")
@example("  + item\nmore")
@example("---")
@example("a - b + c")
@example("# title")
@example("> quoted")
@example("~~gone~~")
@example("`code`")
@example("[a](https://b.example)")
@example("<https://b.example>")
@example("*stress*")
@example("_stress_")
@example("***")
def test_plain_text_skips_the_substitutions_without_changing_the_result(text):
    """The shortcut for text without any Markdown marker gives what the full conversion
    gives: on text of the characters that are markers only at a line's start, and of
    markers one at a time."""
    assert markdown_to_text(text) == rendering._converted(text)


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("one\n\ntwo", ["one", "two"]),
        ("one\n \t\n\n\ntwo\n", ["one", "two"]),
        ("line one\nline two", ["line one\nline two"]),
        ("\n\n  only  \n\n", ["only"]),
        ("", []),
        ("  \n\n  ", []),
    ],
)
def test_paragraphs(text, parts):
    assert paragraphs(text) == parts


@pytest.mark.parametrize(
    ("text", "limit", "chunks"),
    [
        ("short", 10, ["short"]),
        ("  padded  ", 10, ["padded"]),
        ("", 10, []),
        ("   \n ", 10, []),
        ("exactly10!", 10, ["exactly10!"]),
        ("aaaa bbbb cccc", 10, ["aaaa bbbb", "cccc"]),
        ("aaaa bbbbb cccc", 10, ["aaaa bbbbb", "cccc"]),  # the space just past the limit
        ("aaaa\nbbbb cccc", 10, ["aaaa\nbbbb", "cccc"]),
        ("aaaaaaa\nb cc", 10, ["aaaaaaa\nb", "cc"]),
        ("abcdefghijklmnop", 10, ["abcdefghij", "klmnop"]),  # no space: a hard cut
        ("ab cdefghijklmnop", 10, ["ab cdefghi", "jklmnop"]),  # space too early: hard cut
        ("aaaa bbbbbbbbbbbb", 10, ["aaaa bbbbb", "bbbbbbb"]),  # in the first half: hard cut
        ("aaaaa bbbbbbbbbb", 10, ["aaaaa bbbb", "bbbbbb"]),  # at half (5): still too early
        ("aaaaaa bbbbbbbbb", 10, ["aaaaaa", "bbbbbbbbb"]),  # past half: cut there
        ("aaaaaa bbb", 10, ["aaaaaa bbb"]),  # exactly the limit, a space in it: one piece
        ("aaa bbbb\ncccc", 10, ["aaa bbbb", "cccc"]),  # the line break is the last break
        ("x", 1, ["x"]),
        ("xy z", 1, ["x", "y", "z"]),
    ],
)
def test_chunk_text(text, limit, chunks):
    assert chunk_text(text, limit) == chunks


def test_default_limit_is_under_loopmessages():
    assert MAX_TEXT < MAX_TEXT_LENGTH
    assert [len(c) for c in chunk_text("a" * (MAX_TEXT + 1))] == [MAX_TEXT, 1]


@pytest.mark.parametrize("limit", [0, -5])
def test_chunk_limit_must_be_positive(limit):
    with pytest.raises(ValueError, match="limit must be at least 1"):
        chunk_text("text", limit)


@given(
    text=st.text(alphabet=st.sampled_from(list("ab \n\t.")) | st.characters(), max_size=400),
    limit=st.integers(1, 60),
)
def test_chunks_keep_every_visible_character_and_fit_the_limit(text, limit):
    chunks = chunk_text(text, limit)
    assert all(0 < len(chunk) <= limit for chunk in chunks)
    assert all(chunk == chunk.strip() for chunk in chunks)
    visible = [char for char in text if not char.isspace()]
    assert [char for chunk in chunks for char in chunk if not char.isspace()] == visible
