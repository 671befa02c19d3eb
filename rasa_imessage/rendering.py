"""Bot text made to read well as iMessage bubbles.

iMessage shows plain text, so Markdown markers are removed (links become "text (url)"), and
LoopMessage truncates anything past 10,000 characters, so long text is cut at word
boundaries before it gets there.
"""

from __future__ import annotations

import re
from typing import List

__all__ = ["MAX_TEXT", "chunk_text", "markdown_to_text", "paragraphs"]

MAX_TEXT = 9999  # LoopMessage: text must be under 10,000 characters

_FENCE = re.compile(r"^```[^\n]*\n?(.*?)\n?```[ \t]*$", re.DOTALL | re.MULTILINE)
_IMAGE = re.compile(r"!\[([^\]]*)\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_LINK = re.compile(r"\[([^\]]+)\]\(\s*(<[^>]*>|[^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+|mailto:[^>\s]+)>")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]+(.*?)[ \t]*#*[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]{0,3}>[ \t]?", re.MULTILINE)
_RULE = re.compile(r"^[ \t]*([-*_])([ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EMPHASIS_STAR = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", re.DOTALL)
_EMPHASIS_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", re.DOTALL)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.DOTALL)
_CODE = re.compile(r"`([^`\n]+)`")
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n+")
# What every pattern above needs at least one of: without any, the text is plain already
# and the fourteen substitutions are skipped (most bot replies; BENCHMARKS.md section 6).
_MARKUP = re.compile(r"[`\[<#*_~>\x00]|^[ \t]*[-+]", re.MULTILINE)


def _link(text: str, url: str) -> str:
    url = url.strip("<>")
    if url.startswith("mailto:"):
        url = url[len("mailto:") :]
    return url if text.strip() in ("", url) else f"{text} ({url})"


def markdown_to_text(text: str) -> str:
    """Plain text that reads the way the Markdown was meant to."""
    return text if _MARKUP.search(text) is None else _converted(text)


def _converted(text: str) -> str:
    # NUL marks the code spans set aside below; one in the input would be taken for a mark.
    # It has no place in an iMessage anyway.
    text = text.replace("\x00", "")
    codes: List[str] = []

    def keep(match: re.Match[str]) -> str:
        codes.append(match.group(1))
        return f"\x00{len(codes) - 1}\x00"

    text = _FENCE.sub(keep, text)
    text = _CODE.sub(keep, text)
    text = _IMAGE.sub(lambda m: _link(m.group(1), m.group(2)), text)
    text = _LINK.sub(lambda m: _link(m.group(1), m.group(2)), text)
    text = _AUTOLINK.sub(lambda m: _link("", m.group(1)), text)
    text = _HEADING.sub(r"\1", text)
    text = _RULE.sub("", text)
    text = _QUOTE.sub("", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    for pattern in (_STRONG,):
        text = pattern.sub(r"\2", text)
    for pattern in (_EMPHASIS_STAR, _EMPHASIS_UNDERSCORE, _STRIKE):
        text = pattern.sub(r"\1", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)


def paragraphs(text: str) -> List[str]:
    """Text split on blank lines, as Rasa's built-in channels do; no empty parts."""
    return [part.strip() for part in _PARAGRAPH_BREAK.split(text) if part.strip()]


def chunk_text(text: str, limit: int = MAX_TEXT) -> List[str]:
    """Pieces of at most `limit` characters, cut at a line break or space where possible."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    text = text.strip()
    chunks: List[str] = []
    while len(text) > limit:
        window = text[: limit + 1]
        cut = max(window.rfind("\n"), window.rfind(" "))
        if cut <= limit // 2:
            cut = limit
        chunks.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        chunks.append(text)
    return chunks
