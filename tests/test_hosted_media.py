"""The bot's own files and `data:` URLs, served to LoopMessage (hosted_media.py), and how a
response's references to them are planned (responses.py) and configured (config.py)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
from pathlib import Path
from typing import Any, List, Optional, Tuple
from urllib.parse import urlsplit

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from rasa_imessage import hosted_media
from rasa_imessage.config import ConfigError, IMessageConfig, load_config
from rasa_imessage.hosted_media import (
    MEDIA_PATH,
    MediaHost,
    MediaRefused,
    Served,
    is_local_reference,
    media_host_for,
    signing_key,
)
from rasa_imessage.hosted_route import media_answer, media_url_parts
from rasa_imessage.responses import Plan, plan_response

PUBLIC = "https://bot.example.com"
PNG = b"\x89PNG\r\n\x1a\n-a-tiny-picture"
KEY = signing_key("org-key")


def data_url(body: bytes = PNG, media_type: str = "image/png") -> str:
    return f"data:{media_type};base64,{base64.b64encode(body).decode()}"


def parts_of(url: str) -> Tuple[str, str, str]:
    """(kind, signature, name) of a hosted URL, split and decoded as the route does."""
    parts = media_url_parts(urlsplit(url).path)
    assert parts is not None
    return parts


def found(host: MediaHost, kind: str, signature: str, name: str) -> Optional[Served]:
    """What the media route gets for these parts (no shared store in these tests)."""
    return asyncio.run(host.fetch(kind, signature, name))


def fetch(host: MediaHost, url: str) -> Optional[Served]:
    """What the media route gets for `url`."""
    return found(host, *parts_of(url))


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    (folder / "menus").mkdir(parents=True)
    (folder / "menus" / "lunch menu.pdf").write_bytes(b"%PDF-1.4 lunch")
    (folder / "picture.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_text("not for sending")
    return folder


@pytest.fixture
def host(media_dir: Path) -> MediaHost:
    return MediaHost(PUBLIC, KEY, str(media_dir))


# -- files in media_dir -------------------------------------------------------------------


def test_a_file_gets_a_signed_url_under_the_public_address_and_is_found_again(
    host: MediaHost, media_dir: Path
) -> None:
    url = host.url_for("picture.png")
    assert url.startswith(f"{PUBLIC}{MEDIA_PATH}/f/")
    assert url.endswith("/picture.png")  # the extension tells LoopMessage the kind
    assert fetch(host, url) == Served("image/png", path=media_dir / "picture.png")


def test_spaces_and_folders_are_percent_encoded_and_found_again(
    host: MediaHost, media_dir: Path
) -> None:
    url = host.url_for("menus/lunch menu.pdf")
    assert url.endswith("/menus/lunch%20menu.pdf") and " " not in url
    served = fetch(host, url)
    assert served == Served("application/pdf", path=media_dir / "menus" / "lunch menu.pdf")


def test_a_file_url_and_an_absolute_path_inside_the_folder_name_the_same_file(
    host: MediaHost, media_dir: Path
) -> None:
    url = host.url_for("picture.png")
    assert host.url_for(f"file://{media_dir / 'picture.png'}") == url
    assert host.url_for(str(media_dir / "picture.png")) == url


def test_replicas_with_the_same_credential_and_folder_serve_each_others_urls(
    media_dir: Path,
) -> None:
    made_here = MediaHost(PUBLIC, KEY, str(media_dir)).url_for("picture.png")
    elsewhere = MediaHost(PUBLIC, signing_key("org-key"), str(media_dir))
    other_org = MediaHost(PUBLIC, signing_key("another-key"), str(media_dir))
    assert fetch(elsewhere, made_here) is not None
    assert fetch(other_org, made_here) is None


@pytest.mark.parametrize(
    "reference",
    ["../secret.txt", "menus/../../secret.txt", "menus", ".", "missing.png", "/etc/hostname",
     "file:///etc/hostname", "picture.png\0.jpg"],
)  # fmt: skip
def test_nothing_outside_the_folder_and_no_folder_or_missing_file_is_served(
    host: MediaHost, reference: str
) -> None:
    with pytest.raises(MediaRefused, match="no such file in media_dir"):
        host.url_for(reference)


def test_a_link_out_of_the_folder_is_refused(host: MediaHost, media_dir: Path) -> None:
    os.symlink(media_dir.parent / "secret.txt", media_dir / "innocent.png")
    with pytest.raises(MediaRefused):
        host.url_for("innocent.png")


def test_a_signed_name_that_leads_out_of_the_folder_is_still_not_served(
    media_dir: Path,
) -> None:
    """The route re-checks the path: a link made after the URL was signed stays inside."""
    host = MediaHost(PUBLIC, KEY, str(media_dir))
    url = host.url_for("picture.png")
    (media_dir / "picture.png").unlink()
    os.symlink(media_dir.parent / "secret.txt", media_dir / "picture.png")
    assert fetch(host, url) is None


def test_a_path_without_media_dir_is_refused_with_what_to_set() -> None:
    with pytest.raises(MediaRefused, match="needs media_dir"):
        MediaHost(PUBLIC, KEY).url_for("picture.png")


@given(name=st.text(min_size=1, max_size=40))
@settings(max_examples=300, deadline=None)
def test_any_reference_is_refused_or_served_from_inside_the_folder(name: str) -> None:
    folder = Path(__file__).resolve().parent.parent / "example_bot" / "media"
    host = MediaHost(PUBLIC, KEY, str(folder))
    try:
        url = host.url_for(name)
    except MediaRefused:
        return
    served = fetch(host, url)
    assert served is not None and served.path is not None
    assert folder in served.path.parents


# -- data: URLs -----------------------------------------------------------------------------


def test_a_data_url_is_kept_and_served_with_its_type_under_a_name_from_its_content(
    host: MediaHost,
) -> None:
    url = host.url_for(data_url())
    assert url.startswith(f"{PUBLIC}{MEDIA_PATH}/d/") and url.endswith(".png")
    assert fetch(host, url) == Served("image/png", body=PNG)
    assert host.url_for(data_url()) == url  # the same picture twice: one URL, kept once
    assert host.kept_bytes == len(PNG)


@pytest.mark.parametrize(
    ("media_type", "extension"),
    [("image/jpeg", ".jpg"), ("audio/mpeg", ".mp3"), ("audio/x-m4a", ".m4a"),
     ("audio/wav", ".wav"), ("video/quicktime", ".mov"), ("application/pdf", ".pdf"),
     ("IMAGE/PNG", ".png")],
)  # fmt: skip
def test_the_url_ends_in_the_extension_of_the_type(media_type: str, extension: str) -> None:
    url = MediaHost(PUBLIC, KEY).url_for(data_url(media_type=media_type))
    assert url.endswith(extension)


@pytest.mark.parametrize(
    ("reference", "reason"),
    [
        ("data:text/html;base64,PGI+aGk8L2I+", "type 'text/html' are not sent"),
        ("data:,hello", "type 'text/plain' are not sent"),
        ("data:image/png,rawbytes", "must be base64-encoded"),
        ("data:image/png;base64,not*base64", "not valid base64"),
        ("data:image/png;base64,", "is empty"),
        ("data:image/png;base64", "needs a comma"),
    ],
)
def test_data_urls_that_cannot_be_sent_are_refused_with_the_reason(
    reference: str, reason: str
) -> None:
    with pytest.raises(MediaRefused, match=reason):
        MediaHost(PUBLIC, KEY).url_for(reference)


def test_a_data_url_over_the_size_limit_is_refused_before_decoding(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hosted_media, "MAX_DATA_BYTES", 1024)
    host = MediaHost(PUBLIC, KEY)
    host.url_for(data_url(b"x" * 1024))
    with pytest.raises(MediaRefused, match="at most"):
        host.url_for(data_url(b"x" * 1100))


def test_kept_bytes_expire_and_then_the_url_is_not_found() -> None:
    now = [1000.0]
    host = MediaHost(PUBLIC, KEY, clock=lambda: now[0], kept_for=60)
    url = host.url_for(data_url())
    now[0] += 59
    assert fetch(host, url) is not None
    now[0] += 1
    assert fetch(host, url) is None
    host.url_for(data_url(b"another"))  # storing drops what has expired
    assert host.kept_bytes == len(b"another")


def test_kept_files_are_handed_on_with_the_seconds_they_have_left() -> None:
    """What a restarted webhook_port process is given: it must drop each file when this
    process does, not keep it a full term again."""
    now = [1000.0]
    host = MediaHost(PUBLIC, KEY, clock=lambda: now[0], kept_for=60)
    host.url_for(data_url(b"old"))
    now[0] += 40
    host.url_for(data_url(b"new"))
    now[0] += 5
    assert sorted((body, left) for _, body, left in host.kept_files()) == [
        (b"new", 55.0), (b"old", 15.0)]  # fmt: skip
    now[0] += 15
    assert [body for _, body, _ in host.kept_files()] == [b"new"]  # "old" ran out


def test_past_the_bound_the_oldest_go_first_and_the_newest_always_stays() -> None:
    host = MediaHost(PUBLIC, KEY, max_kept_bytes=25)
    urls = [host.url_for(data_url(bytes([n]) * 10)) for n in range(3)]
    assert [fetch(host, url) is not None for url in urls] == [False, True, True]
    assert host.kept_bytes == 20
    big = host.url_for(data_url(b"B" * 40))  # larger than the bound alone
    assert [fetch(host, url) is not None for url in [*urls, big]] == [False] * 3 + [True]
    assert host.kept_bytes == 40


def test_sending_the_same_bytes_again_renews_them() -> None:
    now = [0.0]
    host = MediaHost(PUBLIC, KEY, clock=lambda: now[0], kept_for=60, max_kept_bytes=25)
    first = host.url_for(data_url(b"a" * 10))
    host.url_for(data_url(b"b" * 10))
    now[0] = 50
    host.url_for(data_url(b"a" * 10))  # now the newest: "b" goes first
    host.url_for(data_url(b"c" * 10))
    assert fetch(host, first) is not None
    now[0] = 100  # 60 s after "b" was kept, 50 s after "a" was kept again
    assert fetch(host, first) is not None


# -- what a URL may not do ----------------------------------------------------------------


def test_a_tampered_signature_kind_or_name_finds_nothing(host: MediaHost) -> None:
    kind, signature, name = parts_of(host.url_for(data_url()))
    assert found(host, kind, signature, name) is not None
    assert found(host, kind, "A" * len(signature), name) is None
    assert found(host, "f", signature, name) is None
    assert found(host, "x", signature, name) is None
    assert found(host, kind, signature, "0" * 32 + ".png") is None


@given(
    kind=st.sampled_from(["f", "d", "x", "é"]),
    signature=st.text(max_size=30),
    name=st.text(alphabet=st.characters(), max_size=30),  # surrogates too, as a URL may decode
)
@settings(max_examples=300, deadline=None)
@example(kind="f", signature="é", name="picture.png")  # once a TypeError (compare_digest)
@example(kind="d", signature="AAAA", name="\ud800.png")  # once a UnicodeEncodeError
def test_any_fetched_url_finds_nothing_or_a_signed_file_and_never_raises(
    kind: str, signature: str, name: str
) -> None:
    host = MediaHost(PUBLIC, KEY, str(Path(__file__).resolve().parent.parent / "example_bot"))
    assert found(host, kind, signature, name) is None  # unsigned: nothing, whatever it holds


def test_a_url_longer_than_loopmessage_takes_is_refused(media_dir: Path) -> None:
    long_name = "m" * 200 + ".png"
    (media_dir / long_name).write_bytes(PNG)
    with pytest.raises(MediaRefused, match="at most 256"):
        MediaHost(PUBLIC, KEY, str(media_dir)).url_for(long_name)
    # At the edge: 256 characters are taken, 257 are not.
    short = MediaHost(PUBLIC, KEY).url_for(data_url())
    padding = "p" * (256 - len(short) - 1)  # with its "/", the path makes the URL 256 long
    assert len(MediaHost(f"{PUBLIC}/{padding}", KEY).url_for(data_url())) == 256
    with pytest.raises(MediaRefused, match="257 characters long and LoopMessage takes at most"):
        MediaHost(f"{PUBLIC}/{padding}p", KEY).url_for(data_url())


def test_the_signature_says_nothing_of_the_credential() -> None:
    url = MediaHost(PUBLIC, signing_key("org-key-5d1e2b"), None).url_for(data_url())
    assert "org-key" not in url and "5d1e2b" not in url


@pytest.mark.parametrize(
    ("reference", "local"),
    [("data:image/png;base64,AA==", True), ("DATA:image/png;base64,AA==", True),
     ("file:///srv/a.png", True), ("menu.png", True), ("media/menu.png", True),
     ("https://cdn.example.com/a.png", False), ("http://example.com/a.png", False)],
)  # fmt: skip
def test_local_references_are_data_and_file_urls_and_paths(reference: str, local: bool) -> None:
    assert is_local_reference(reference) is local


# -- configuration ------------------------------------------------------------------------


def config(**extra: Any) -> IMessageConfig:
    return load_config({"api_key": "org-key", "webhook_auth": "h", **extra}, environ={})


@pytest.mark.parametrize(
    "url",
    ["https://bot.example.com", "https://bot.example.com/", "https://example.com/bot",
     "http://127.0.0.1:5005", "http://localhost:5005", "http://[::1]:5005"],
)  # fmt: skip
def test_public_url_takes_https_or_a_loopback_http_address(url: str) -> None:
    emulator = "http://127.0.0.1:8686"  # only a stand-in on this machine fetches from loopback
    assert config(public_url=url, base_url=emulator).public_url == url.rstrip("/")


@pytest.mark.parametrize(
    "url",
    ["http://bot.example.com", "bot.example.com", "https://", "https://bot.example.com?x=1",
     "https://bot.example.com/#top", "https://user:pw@bot.example.com", "ftp://bot.example.com",
     "https://bot.example.com:99999"],
)  # fmt: skip
def test_public_url_refuses_what_loopmessage_could_not_fetch_from(url: str) -> None:
    with pytest.raises(ConfigError, match="public_url"):
        config(public_url=url)


def test_media_dir_is_made_absolute_and_must_be_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "media").mkdir()
    monkeypatch.chdir(tmp_path)
    loaded = config(public_url=PUBLIC, media_dir="media")
    assert loaded.media_dir == str(tmp_path / "media")
    with pytest.raises(ConfigError, match="'nowhere' is not a folder"):
        config(public_url=PUBLIC, media_dir="nowhere")


@pytest.mark.parametrize("path", ["\x00", "media\x00/x", "~no-such-user-here/media"])
def test_a_media_dir_no_path_can_name_is_a_config_error_not_a_crash(path: str) -> None:
    with pytest.raises(ConfigError, match=r"'media_dir': .* is not a usable path"):
        config(public_url=PUBLIC, media_dir=path)


def test_media_dir_needs_public_url() -> None:
    with pytest.raises(ConfigError, match="'media_dir' needs public_url"):
        config(media_dir=".")


def test_the_host_exists_only_with_public_url_and_signs_with_the_apis_credential(
    media_dir: Path,
) -> None:
    assert media_host_for(config()) is None
    current = media_host_for(config(public_url=PUBLIC, media_dir=str(media_dir)))
    legacy = media_host_for(
        load_config(
            {"api": "legacy", "authorization_key": "a", "secret_key": "org-key",
             "sender_name": "b@imsg.co", "webhook_auth": "h", "public_url": PUBLIC,
             "media_dir": str(media_dir)},
            environ={},
        )
    )  # fmt: skip
    assert current is not None and legacy is not None
    assert current.url_for("picture.png") == MediaHost(PUBLIC, KEY, str(media_dir)).url_for(
        "picture.png"
    )
    assert legacy.url_for("picture.png") == current.url_for("picture.png")


# -- planning a response ------------------------------------------------------------------


def plan(message: Any, host: Optional[MediaHost], **extra: Any) -> Plan:
    return plan_response({"text": None, **message}, "+15551234567", config(**extra), media=host)


def attachments(result: Plan) -> List[List[str]]:
    return [list(send.attachments or []) for send in result.sends]


def test_an_image_the_bot_made_rides_with_its_text_as_a_served_url(host: MediaHost) -> None:
    result = plan({"text": "Your chart:", "image": data_url()}, host)
    assert result.refused == []
    (send,) = result.sends
    assert send.text == "Your chart:"
    (url,) = send.attachments or []
    assert fetch(host, url) == Served("image/png", body=PNG)


def test_a_file_by_path_and_a_voice_note_by_data_url_go_as_attachment_and_voice(
    host: MediaHost,
) -> None:
    result = plan(
        {"attachment": "menus/lunch menu.pdf", "image": data_url(b"RIFF", "audio/wav")}, host
    )
    assert result.refused == []
    assert [send.media_url is not None for send in result.sends] == [False, True]
    assert attachments(result)[0][0].endswith("/menus/lunch%20menu.pdf")
    assert (result.sends[1].media_url or "").endswith(".wav")


def test_without_public_url_the_text_still_goes_and_the_log_says_what_to_set() -> None:
    result = plan({"text": "Here:", "image": "picture.png"}, None)
    assert [send.text for send in result.sends] == ["Here:"] and attachments(result) == [[]]
    assert result.refused == [
        "image: a data: URL or a file path (this is not an https:// URL) needs public_url, "
        "the address the connector serves the bot's files at"
    ]


def test_a_missing_file_is_refused_alone_and_the_rest_of_the_response_goes(
    host: MediaHost,
) -> None:
    result = plan({"text": "Two:", "image": "missing.png", "attachment": "picture.png"}, host)
    assert result.refused == ["image: no such file in media_dir (paths are relative to it)"]
    assert [url.endswith("/picture.png") for url in attachments(result)[0]] == [True]


def test_custom_payloads_host_attachments_and_media_url_or_send_nothing(
    host: MediaHost,
) -> None:
    good = plan({"custom": {"attachments": ["picture.png", data_url()], "text": "Both"}}, host)
    assert good.refused == [] and [len(urls) for urls in attachments(good)] == [2]
    voice = plan({"custom": {"media_url": data_url(b"ID3", "audio/mpeg")}}, host)
    assert (voice.sends[0].media_url or "").endswith(".mp3")
    bad = plan({"custom": {"attachments": ["picture.png", "missing.png"], "text": "x"}}, host)
    assert bad.sends == [] and bad.refused == [
        "custom: no such file in media_dir (paths are relative to it)"
    ]
    bad_voice = plan({"custom": {"media_url": "data:audio/mpeg;base64,%%"}}, host)
    assert bad_voice.sends == [] and len(bad_voice.refused) == 1


def test_a_carousel_element_image_by_path_is_served(host: MediaHost) -> None:
    result = plan({"elements": [{"title": "Lunch", "image_url": "picture.png"}]}, host)
    assert result.refused == []
    assert attachments(result)[0][0].endswith("/picture.png")


def test_https_urls_are_untouched_with_or_without_a_host(host: MediaHost) -> None:
    url = "https://cdn.example.com/a.png"
    for media in (host, None):
        assert attachments(plan({"text": "x", "image": url}, media)) == [[url]]


def test_a_loopback_public_url_is_only_for_a_local_emulator() -> None:
    emulated = config(public_url="http://127.0.0.1:5005", base_url="http://127.0.0.1:8686")
    assert emulated.public_url == "http://127.0.0.1:5005"
    with pytest.raises(ConfigError, match="only a local emulator"):
        config(public_url="http://127.0.0.1:5005")
    with pytest.raises(ConfigError, match="only a local emulator"):
        config(public_url="https://localhost", base_url="https://proxy.example.com")


# -- replicas: data: files shared through Redis (redis_media.py) -------------------------------


async def test_a_file_one_replica_made_is_served_by_another_through_redis(
    redis_url: str, raw: Any
) -> None:
    from rasa_imessage.redis_media import RedisMedia

    made_here = MediaHost(PUBLIC, KEY, shared=RedisMedia(redis_url), kept_for=600)
    elsewhere = MediaHost(PUBLIC, KEY, shared=RedisMedia(redis_url))
    try:
        url = made_here.url_for(data_url())
        assert made_here.unshared
        assert await elsewhere.fetch(*parts_of(url)) is None  # not shared before its send
        await made_here.share()
        assert not made_here.unshared
        assert await elsewhere.fetch(*parts_of(url)) == Served("image/png", body=PNG)
        name = parts_of(url)[2]
        assert 0 < await raw.pttl(RedisMedia.prefix + name) <= 600_000  # expires with it
        kind, signature, _ = parts_of(url)
        assert await elsewhere.fetch(kind, "A" * len(signature), name) is None
    finally:
        await made_here.aclose()
        await elsewhere.aclose()


async def test_with_redis_down_the_file_is_still_served_here_and_nothing_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from rasa_imessage.rasa_process import free_port
    from rasa_imessage.redis_media import RedisMedia

    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    made_here = MediaHost(PUBLIC, KEY, shared=RedisMedia(nowhere))
    elsewhere = MediaHost(PUBLIC, KEY, shared=RedisMedia(nowhere))
    try:
        url = made_here.url_for(data_url())
        await made_here.share()
        assert await made_here.fetch(*parts_of(url)) == Served("image/png", body=PNG)
        assert await elsewhere.fetch(*parts_of(url)) is None
    finally:
        await made_here.aclose()
        await elsewhere.aclose()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("served by this replica only" in w and "redis call failed" in w for w in warnings)
    assert any("shared store of the bot's files failed" in w for w in warnings)
    assert not any(nowhere in w for w in warnings)


async def test_data_files_are_shared_only_when_dedupe_store_is_redis() -> None:
    alone = media_host_for(config(public_url=PUBLIC))
    replicated = media_host_for(config(public_url=PUBLIC, dedupe_store="redis://127.0.0.1:1/0"))
    assert alone is not None and replicated is not None
    alone.url_for(data_url())
    replicated.url_for(data_url())
    assert not alone.unshared and replicated.unshared
    await replicated.aclose()


def test_public_url_may_name_either_port_since_both_serve_the_files() -> None:
    emulator = "http://127.0.0.1:8686"
    for public_url in ("http://127.0.0.1:5006", "http://127.0.0.1:5005"):
        loaded = config(public_url=public_url, webhook_port=5006, base_url=emulator)
        assert (loaded.public_url, loaded.webhook_port) == (public_url, 5006)


@pytest.mark.parametrize("range_header", [None, "bytes=0-1"])
async def test_a_file_removed_after_it_was_found_is_not_found_rather_than_an_error(
    tmp_path: Path, range_header: Optional[str]
) -> None:
    gone = Served("image/png", path=tmp_path / "removed meanwhile.png")
    answer = await media_answer(gone, range_header)
    assert (answer.status, answer.outcome) == (404, "not_found")
    assert json.loads(answer.body) == {"error": "not found"}


async def test_bytes_named_by_their_content_are_cached_for_good_and_a_file_for_minutes(
    tmp_path: Path,
) -> None:
    """A `data:` file's URL names its bytes; a file in media_dir may be edited in place."""
    (tmp_path / "menu.pdf").write_bytes(b"%PDF")
    kept = await media_answer(Served("image/png", body=b"png"), None)
    on_disk = await media_answer(Served("application/pdf", path=tmp_path / "menu.pdf"), None)
    assert kept.headers["Cache-Control"] == f"public, max-age={hosted_media.KEPT_FOR}, immutable"
    assert on_disk.headers["Cache-Control"] == "public, max-age=300"
    assert (kept.body, on_disk.body) == (b"png", b"%PDF")
