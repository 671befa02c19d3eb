"""Files the bot has on disk or makes itself, served to LoopMessage at unguessable URLs.

LoopMessage takes attachments and voice messages only as public https URLs that it
downloads. A bot's own files have none: a menu in the bot's folder, a chart or a QR code a
custom action draws. With `public_url` set, the connector serves them itself, under the
channel's `/webhooks/imessage/media/`:
- a path under `media_dir` is served from disk. Its URL is signed, so it works on every
  replica that has the same folder and credentials, and no other file can be guessed;
- a `data:` URL is decoded and kept in memory for `KEPT_FOR` seconds, named by its content.
  With a store the replicas share (`SharedMedia`: Redis, redis_media.py), it is written
  there too before its send goes out, so any replica answers LoopMessage's fetch.

Nothing here imports Rasa or a web framework: hosted_route.py answers what `fetch` returns.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Protocol, Tuple
from urllib.parse import quote, unquote, urlsplit

from .idempotency import StoreUnavailable
from .loopmessage import MAX_URL_LENGTH

if TYPE_CHECKING:
    from .config import IMessageConfig

__all__ = [
    "CONTENT_TYPES",
    "KEPT_FOR",
    "MAX_DATA_BYTES",
    "MAX_KEPT_BYTES",
    "MEDIA_PATH",
    "MediaHost",
    "MediaRefused",
    "Served",
    "SharedMedia",
    "is_local_reference",
    "media_host_for",
]

# Under the channel's URL prefix; channel.py routes it.
MEDIA_PATH = "/webhooks/imessage/media"
# A `data:` URL's file: long enough for LoopMessage's retries of a send (about 3 h).
KEPT_FOR = 6 * 3600
MAX_DATA_BYTES = 25 * 1024 * 1024  # one decoded `data:` URL
MAX_KEPT_BYTES = 256 * 1024 * 1024  # all of them; the oldest go first beyond it

# The types a bot may make, each with the extension its URL ends in: LoopMessage and the
# phone judge a file by its URL's extension (media.py), so it must be the right one.
CONTENT_TYPES: Dict[str, str] = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/heic": "heic",
    "image/heif": "heif",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/tiff": "tiff",
    "image/bmp": "bmp",
    "video/quicktime": "mov",
    "video/mp4": "mp4",
    "video/x-m4v": "m4v",
    "video/3gpp": "3gp",
    "video/webm": "webm",
    "audio/mpeg": "mp3",
    "audio/wav": "wav",
    "audio/x-wav": "wav",
    "audio/wave": "wav",
    "audio/mp4": "m4a",
    "audio/x-m4a": "m4a",
    "audio/x-caf": "caf",
    "audio/aac": "aac",
    "audio/amr": "amr",
    "audio/ogg": "ogg",
    "audio/opus": "opus",
    "application/pdf": "pdf",
    "text/vcard": "vcf",
    "text/calendar": "ics",
}
_TYPE_OF_EXTENSION: Dict[str, str] = {}
for _type, _extension in CONTENT_TYPES.items():
    _TYPE_OF_EXTENSION.setdefault(_extension, _type)
_TYPE_OF_EXTENSION["jpeg"] = "image/jpeg"
_TYPE_OF_EXTENSION["txt"] = "text/plain; charset=utf-8"
_UNKNOWN_TYPE = "application/octet-stream"

logger = logging.getLogger(__name__)

_FILE, _DATA = "f", "d"
_SIGNATURE_BYTES = 16


class MediaRefused(ValueError):
    """A reference to the bot's own media that cannot be served; the message says why."""


@dataclass(frozen=True)
class Served:
    """What the media route answers with: bytes kept in memory, or a file on disk."""

    content_type: str
    body: Optional[bytes] = None
    path: Optional[Path] = None


class SharedMedia(Protocol):
    """Where the replicas keep `data:` files for each other."""

    async def put(self, name: str, body: bytes, ttl_seconds: float) -> None: ...

    async def get(self, name: str) -> Optional[bytes]: ...

    async def aclose(self) -> None: ...


def is_local_reference(reference: str) -> bool:
    """A `data:` URL, a `file:` URL or a path: what only this server can serve."""
    head = reference[:8].lower()
    return head.startswith(("data:", "file:")) or "://" not in reference


def content_type_of(name: str) -> str:
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return _TYPE_OF_EXTENSION.get(extension, _UNKNOWN_TYPE)


def signing_key(credential: str) -> bytes:
    """The URLs' key, derived from a LoopMessage credential that every replica shares, so a
    signature proves nothing about the credential itself."""
    return hmac.new(credential.encode(), b"rasa-imessage hosted media", hashlib.sha256).digest()


class MediaHost:
    """Turns the bot's local references into public URLs, and finds what a URL names."""

    def __init__(
        self,
        public_url: str,
        key: bytes,
        media_dir: Optional[str] = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        kept_for: float = KEPT_FOR,
        max_kept_bytes: int = MAX_KEPT_BYTES,
        shared: Optional[SharedMedia] = None,
    ) -> None:
        self._base = public_url.rstrip("/") + MEDIA_PATH
        self._key = key
        self._dir = Path(media_dir).resolve() if media_dir else None
        self._clock = clock
        self._kept_for = kept_for
        self._max_kept_bytes = max_kept_bytes
        self._kept: OrderedDict[str, Tuple[bytes, float]] = OrderedDict()
        self._kept_bytes = 0
        self._shared = shared
        self._unshared: Dict[str, None] = {}  # kept here, not yet written to `shared`

    @property
    def kept_bytes(self) -> int:
        return self._kept_bytes

    @property
    def shared(self) -> Optional[SharedMedia]:
        """Where the `data:` files also go: the replicas' Redis, `webhook_port`'s process,
        or nowhere (None)."""
        return self._shared

    def url_for(self, reference: str) -> str:
        """The public URL LoopMessage fetches `reference` from (`MediaRefused` if none)."""
        if reference[:5].lower() == "data:":
            kind, name = _DATA, self._keep(reference)
        else:
            kind, name = _FILE, self._relative_path(reference)
        url = f"{self._base}/{kind}/{self._sign(kind, name)}/{quote(name)}"
        if len(url) > MAX_URL_LENGTH:
            raise MediaRefused(
                f"its URL would be {len(url)} characters long and LoopMessage takes at most "
                f"{MAX_URL_LENGTH}; shorten public_url or the file's name"
            )
        return url

    @property
    def unshared(self) -> bool:
        """Whether `share` has files to write before a send may name them."""
        return bool(self._unshared)

    async def share(self) -> None:
        """Write the files kept since the last call to the replicas' store. If it fails, the
        send still goes: this replica serves them, which is all a single server needs."""
        while self._unshared and self._shared is not None:
            name = next(iter(self._unshared))
            del self._unshared[name]
            kept = self._kept.get(name)
            if kept is None:
                continue
            try:
                await self._shared.put(name, kept[0], self._kept_for)
            except StoreUnavailable as exc:  # the send still goes: served from here only
                logger.warning(
                    "iMessage: a file the bot made is served by this replica only; the shared "
                    "store did not take it (%s)",
                    exc,
                )

    async def fetch(self, kind: str, signature: str, name: str) -> Optional[Served]:
        """What a media URL names: here, else (a `data:` file another replica kept) in the
        replicas' store."""
        if not self._signed(kind, signature, name):
            return None
        served = self._here(kind, name)
        if served is not None or kind != _DATA or self._shared is None:
            return served
        try:
            body = await self._shared.get(name)
        except StoreUnavailable as exc:  # a 404: LoopMessage's fetch fails, nothing breaks
            logger.warning("iMessage: the shared store of the bot's files failed (%s)", exc)
            return None
        return Served(content_type_of(name), body=body) if body else None

    async def aclose(self) -> None:
        if self._shared is not None:
            await self._shared.aclose()

    def keep(self, name: str, body: bytes, ttl_seconds: float) -> None:
        """A `data:` file another process of this server made (`webhook_port`'s process
        serves what the bot's process pushes to it), for `ttl_seconds`."""
        self._store(name, body, ttl_seconds)

    def kept_files(self) -> List[Tuple[str, bytes, float]]:
        """The `data:` files kept and not expired, with the seconds each has left: what a
        restarted `webhook_port` process is given again."""
        now = self._clock()
        return [(name, body, ends - now) for name, (body, ends) in self._kept.items() if ends > now]

    def _here(self, kind: str, name: str) -> Optional[Served]:
        """What a signed name names in this process: kept bytes, or a file in media_dir."""
        if kind == _DATA:
            kept = self._kept.get(name)
            if kept is None or kept[1] <= self._clock():
                return None
            return Served(content_type_of(name), body=kept[0])
        if self._dir is None:
            return None
        path = self._dir_file(name)
        return None if path is None else Served(content_type_of(name), path=path)

    # -- references -------------------------------------------------------------------------

    def _relative_path(self, reference: str) -> str:
        if self._dir is None:
            raise MediaRefused("a file path needs media_dir: the folder the bot's files are in")
        raw = unquote(urlsplit(reference).path) if reference[:5].lower() == "file:" else reference
        path = self._dir_file(raw)
        if path is None:
            raise MediaRefused("no such file in media_dir (paths are relative to it)")
        return path.relative_to(self._dir).as_posix()

    def _dir_file(self, name: str) -> Optional[Path]:
        """The regular file `name` names inside media_dir, links resolved; None otherwise."""
        assert self._dir is not None
        try:
            path = (self._dir / name).resolve(strict=True)
        except (OSError, RuntimeError, ValueError):  # missing, a link loop, a NUL byte
            return None
        if path == self._dir or self._dir not in path.parents or not path.is_file():
            return None
        return path

    def _keep(self, reference: str) -> str:
        """Decode a `data:` URL and keep its bytes, named by their hash and type."""
        header, comma, payload = reference.partition(",")
        if not comma:
            raise MediaRefused("a data: URL needs a comma before its content")
        params = header[5:].split(";")
        media_type = params[0].strip().lower()
        extension = CONTENT_TYPES.get(media_type)
        if extension is None:
            raise MediaRefused(
                f"data: URLs of type {media_type or 'text/plain'!r} are not sent; "
                "use an image, video, audio, PDF, vCard or calendar type"
            )
        if "base64" not in (param.strip().lower() for param in params[1:]):
            raise MediaRefused("a data: URL must be base64-encoded (data:<type>;base64,...)")
        if len(payload) > (MAX_DATA_BYTES // 3 + 1) * 4 + 64:
            raise MediaRefused(f"a data: URL may hold at most {MAX_DATA_BYTES >> 20} MiB")
        try:
            body = base64.b64decode(payload.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise MediaRefused("a data: URL's content is not valid base64") from None
        if not body:
            raise MediaRefused("a data: URL's content is empty")
        name = f"{hashlib.sha256(body).hexdigest()[:32]}.{extension}"
        self._store(name, body)
        if self._shared is not None:
            self._unshared[name] = None
        return name

    def _store(self, name: str, body: bytes, ttl_seconds: Optional[float] = None) -> None:
        now = self._clock()
        old = self._kept.pop(name, None)
        if old is not None:
            self._kept_bytes -= len(old[0])
        self._kept[name] = (body, now + (self._kept_for if ttl_seconds is None else ttl_seconds))
        self._kept_bytes += len(body)
        # The oldest go first: expired, or past the bound (this one is newest, so it stays).
        while True:
            oldest, (kept, expires) = next(iter(self._kept.items()))
            if oldest == name or (expires > now and self._kept_bytes <= self._max_kept_bytes):
                break
            del self._kept[oldest]
            self._kept_bytes -= len(kept)

    def _signed(self, kind: str, signature: str, name: str) -> bool:
        # compare_digest raises TypeError on non-ASCII str. Sanic hands the signature over
        # still percent-encoded, but fetch() takes any str.
        return (
            kind in (_FILE, _DATA)
            and signature.isascii()
            and hmac.compare_digest(signature, self._sign(kind, name))
        )

    def _sign(self, kind: str, name: str) -> str:
        text = f"{kind}\0{name}".encode("utf-8", "surrogatepass")  # a fetched name may be odd
        digest = hmac.new(self._key, text, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:_SIGNATURE_BYTES]).decode().rstrip("=")


def media_host_for(
    config: IMessageConfig, *, share: bool = True, shared: Optional[SharedMedia] = None
) -> Optional[MediaHost]:
    """The connector's host of the bot's own files, when `public_url` is set. The URLs are
    signed with a key derived from the LoopMessage credential, which every replica shares,
    and `data:` files are shared through `dedupe_store` when it is Redis, else through
    `shared` if given (`webhook_port`'s process on one server); not at all when `share` is
    false (a caller that only makes URLs of files)."""
    if config.public_url is None:
        return None
    secret = config.api_key if config.api == "current" else config.secret_key
    credential = secret.get_secret_value() if secret is not None else ""
    if not share:
        shared = None
    elif config.dedupe_store != "memory":  # replicas: the idempotency store's Redis
        from .redis_media import RedisMedia

        shared = RedisMedia(config.dedupe_store)
    return MediaHost(config.public_url, signing_key(credential), config.media_dir, shared=shared)
