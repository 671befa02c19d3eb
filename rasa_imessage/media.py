"""What kind of media a URL points at, judged from its file extension.

LoopMessage sends attachments as bare download URLs and takes them the same way, so the
extension is all there is to go on (the webhook never fetches an inbound URL).
"""

from __future__ import annotations

import posixpath
from typing import Optional
from urllib.parse import urlsplit

__all__ = ["VOICE_EXTENSIONS", "extension_of", "kind_of"]

IMAGE_EXTENSIONS = frozenset(
    {"png", "jpg", "jpeg", "heic", "heif", "gif", "webp", "tif", "tiff", "bmp"}
)
VIDEO_EXTENSIONS = frozenset({"mov", "mp4", "m4v", "3gp", "avi", "webm"})
AUDIO_EXTENSIONS = frozenset({"mp3", "wav", "m4a", "caf", "aac", "amr", "ogg", "opus", "aiff"})
# The formats LoopMessage accepts for a voice message (`media_url`).
VOICE_EXTENSIONS = frozenset({"mp3", "wav", "m4a", "caf", "aac"})


def extension_of(url: str) -> Optional[str]:
    """Lower-case extension of the URL's path, ignoring query and fragment."""
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    ext = posixpath.splitext(path)[1]
    return ext[1:].lower() if len(ext) > 1 else None


def kind_of(url: str) -> str:
    """`image`, `video`, `audio` or `file`."""
    ext = extension_of(url)
    if ext in IMAGE_EXTENSIONS:
        return "image"
    if ext in VIDEO_EXTENSIONS:
        return "video"
    if ext in AUDIO_EXTENSIONS:
        return "audio"
    return "file"
