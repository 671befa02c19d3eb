"""Credentials → IMessageConfig: coercion, ${VAR} expansion, checks, and secrets kept out of sight."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Dict

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import SecretStr

from rasa_imessage.config import OPTIONS, ConfigError, IMessageConfig, load_config
from rasa_imessage.contact_lists import ContactList

CURRENT = {"api_key": "org-key-7f3a", "webhook_auth": "hook-secret-91c2"}
LEGACY = {
    "api": "legacy",
    "authorization_key": "auth-key-55d0",
    "secret_key": "loop-secret-e8b4",
    "sender_name": "brand@imsg.co",
    "webhook_auth": "hook-secret-91c2",
}
SECRETS = ("org-key-7f3a", "hook-secret-91c2", "auth-key-55d0", "loop-secret-e8b4")


def load(**extra: Any) -> IMessageConfig:
    return load_config({**CURRENT, **extra}, environ={})


def refused(credentials: Dict[str, Any], environ: Any = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(credentials, environ={} if environ is None else environ)
    return str(info.value)


# (key, value as credentials.yml or Rasa's substitution hands it over, the parsed value)
COERCIONS = [
    ("api", "Current", "current"),
    ("api_key", "  org-key-7f3a\n", "org-key-7f3a"),
    ("sender", " f41c27d2 ", "f41c27d2"),
    ("sender", "", None),
    ("authorization_key", 12345, "12345"),
    ("secret_key", "s3", "s3"),
    ("sender_name", "brand@imsg.co", "brand@imsg.co"),
    ("webhook_auth", "Bearer abc ", "Bearer abc"),
    ("allow_unauthenticated_webhooks", "true", True),
    ("base_url", "http://127.0.0.1:8040", "http://127.0.0.1:8040"),
    ("base_url", "https://proxy.example.com/loop/", "https://proxy.example.com/loop/"),
    ("public_url", " https://bot.example.com/ ", "https://bot.example.com"),
    ("media_dir", " / ", "/"),  # with public_url (below); resolved, so always absolute
    ("bubble_pause", "1.5", 1.5),
    ("bubble_pause", 0, 0.0),
    ("typing_seconds", "5", 5),
    ("typing_seconds", " 60 ", 60),
    ("typing_seconds", 0, 0),
    ("typing_delay", "0.5", 0.5),
    ("typing_delay", 0, 0.0),
    ("merge_window", "1.5", 1.5),
    ("merge_window", 0, 0.0),
    ("merge_mode", "all", "all"),
    ("merge_mode", " LEAD_INS ", "lead_ins"),
    ("mark_read", "false", False),
    ("mark_read", "YES", True),
    ("mark_read", "off", False),
    ("mark_read", "1", True),
    ("metrics", "yes", True),
    ("metrics", False, False),
    ("allow_intent_payloads", "On", True),
    ("split_paragraphs", "no", False),
    ("split_paragraphs", False, False),
    ("request_timeout", "2.5", 2.5),
    ("request_timeout", 3, 3.0),
    ("max_retries", "0", 0),
    ("send_worker", "true", True),
    ("send_worker", False, False),
    ("send_worker", "Auto", None),
    ("webhook_port", "5006", 5006),
    ("webhook_port", 8080, 8080),
    ("webhook_port", " ", None),
    ("webhook_host", " 127.0.0.1 ", "127.0.0.1"),
    ("webhook_host", "[::]", "::"),
    ("webhook_host", "bot.internal", "bot.internal"),
    ("max_concurrent_turns", "16", 16),
    ("max_queued_turns", "1", 1),
    ("cache_action_schema", "false", False),
    ("cache_event_types", "false", False),
    ("dedupe_store", "redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("dedupe_store", "rediss://cache.example.com:6380", "rediss://cache.example.com:6380"),
    ("dedupe_store", "memory", "memory"),
    ("dedupe_store", "unix:///run/redis.sock?db=1", "unix:///run/redis.sock?db=1"),
    (
        "dedupe_store",
        "redis://:pw@[::1]:6379/?socket_timeout=1",
        "redis://:pw@[::1]:6379/?socket_timeout=1",
    ),
    ("dedupe_ttl_seconds", "14400", 14400),
    ("dedupe_lease_seconds", "2.5", 2.5),
    ("dedupe_max_entries", "1000", 1000),
    ("max_body_bytes", "2048", 2048),
    ("shutdown_timeout", "0", 0.0),
    ("shutdown_timeout", "7.5", 7.5),
    ("voice_messages", "false", False),
    ("group_reply", "Mention", "mention"),
    ("bot_names", "Rasa, Loop Bot ,,", ("Rasa", "Loop Bot")),
    ("bot_names", ["Rasa", " Bot ", ""], ("Rasa", "Bot")),
    ("bot_names", [7], ("7",)),
    ("metadata_keys", "contact, group ,", ("contact", "group")),
    ("metadata_keys", ["attachments"], ("attachments",)),
    ("metadata_keys", [], ()),
    (
        "allowed_contacts",
        "+1 (323) 111-2233, team@Example.com",
        ContactList(phones=frozenset({"13231112233"}), emails=frozenset({"team@example.com"})),
    ),
    ("allowed_contacts", "", None),
    (
        "blocked_contacts",
        ["*@spam.example", "group:G-9"],
        ContactList(domains=frozenset({"spam.example"}), groups=frozenset({"G-9"})),
    ),
    ("blocked_contacts", [], None),
    ("metadata_keys", " All ", None),
    ("metadata_keys", "", None),
    ("attachment_intent", "got_file", "got_file"),
    ("reaction_intent", "tap.back-1", "tap.back-1"),
    ("delivery_failed_intent", " not_sent ", "not_sent"),
    ("conversation_started_intent", "hello_there", "hello_there"),
    ("call_intent", "rang", "rang"),
]


@pytest.mark.parametrize(("key", "raw", "expected"), COERCIONS)
def test_each_option_is_coerced_from_what_rasa_hands_over(key, raw, expected):
    needs = {"public_url": "https://bot.example.com"} if key == "media_dir" else {}
    config = load(**{key: raw}, **needs)
    value = getattr(config, key)
    if key in ("api_key", "authorization_key", "secret_key", "webhook_auth"):
        value = value.get_secret_value()
    assert value == expected
    assert type(value) is type(expected)


def test_the_coercion_table_covers_every_option():
    assert {key for key, _, _ in COERCIONS} == {option.key for option in OPTIONS}


def test_legacy_generation_loads_with_its_three_credentials():
    config = load_config(LEGACY, environ={})
    assert config.api == "legacy"
    assert config.sender_name == "brand@imsg.co"
    assert config.authorization_key is not None
    assert config.authorization_key.get_secret_value() == "auth-key-55d0"
    assert config.secret_key is not None
    assert config.secret_key.get_secret_value() == "loop-secret-e8b4"


def test_defaults_when_only_the_required_keys_are_given():
    expected = IMessageConfig(
        api_key=SecretStr("org-key-7f3a"), webhook_auth=SecretStr("hook-secret-91c2")
    )
    assert load() == expected


def test_a_key_without_a_value_means_its_default():
    config = load(
        typing_seconds=None, mark_read=None, bot_names=None, sender=None, metadata_keys=None
    )
    assert (config.typing_seconds, config.mark_read, config.bot_names) == (8, True, ())
    assert config.sender is None and config.metadata_keys is None


# -- ${VAR} --------------------------------------------------------------------------------------


def test_env_reference_is_expanded_then_coerced():
    config = load_config(
        {"api_key": "${LM_KEY}", "webhook_auth": "${LM_HOOK}", "typing_seconds": "${TYPING}"},
        environ={"LM_KEY": "from-env", "LM_HOOK": "hook", "TYPING": "12"},
    )
    assert config.api_key is not None and config.api_key.get_secret_value() == "from-env"
    assert config.typing_seconds == 12


def test_text_around_env_references_is_kept():
    config = load_config(
        {**CURRENT, "webhook_auth": "Bearer ${TOKEN}-${SUFFIX}!", "sender": "x${EMPTY}y"},
        environ={"TOKEN": "abc", "SUFFIX": "z", "EMPTY": ""},
    )
    assert config.webhook_auth is not None
    assert config.webhook_auth.get_secret_value() == "Bearer abc-z!"
    assert config.sender == "xy"


def test_expanded_values_are_not_expanded_again():
    config = load_config({**CURRENT, "sender": "${A}"}, environ={"A": "${B}", "B": "no"})
    assert config.sender == "${B}"


def test_process_environment_is_used_by_default(monkeypatch):
    monkeypatch.setenv("RASA_IMESSAGE_TEST_KEY", "env-key")
    config = load_config({**CURRENT, "api_key": "${RASA_IMESSAGE_TEST_KEY}"})
    assert config.api_key is not None and config.api_key.get_secret_value() == "env-key"


def test_missing_env_variable_names_the_key_and_the_variable():
    message = refused({**CURRENT, "api_key": "pre-${LOOP_KEY_UNSET}"})
    assert "'api_key'" in message
    assert "LOOP_KEY_UNSET" in message
    assert "export LOOP_KEY_UNSET=" in message


# -- what is refused -----------------------------------------------------------------------------


def test_unknown_keys_are_named_all_at_once():
    credentials: Dict[Any, Any] = {**CURRENT, "webhok_auth": "x", "colour": "red", 3: "x"}
    message = refused(credentials)
    assert "unknown credentials key(s): 3, colour, webhok_auth;" in message
    assert "webhook_auth" in message  # the list of known keys says what was meant


@pytest.mark.parametrize(
    ("key", "raw", "says"),
    [
        ("mark_read", "maybe", "expected true or false"),
        ("mark_read", 2, "expected true or false"),
        ("typing_seconds", "5.5", "expected a whole number"),
        ("typing_seconds", True, "expected a whole number"),
        ("typing_seconds", [5], "expected a whole number"),
        ("request_timeout", "fast", "expected a number"),
        ("request_timeout", "nan", "expected a number"),
        ("request_timeout", "inf", "expected a number"),
        ("request_timeout", False, "expected a number"),
        ("sender", {"id": 1}, "expected text, got dict"),
        ("api_key", True, "expected text, got bool"),
        ("bot_names", {"a": 1}, "expected a list of names"),
        ("bot_names", [["nested"]], "expected text, got list"),
        ("merge_mode", "some", "'some' is not one of lead_ins, all"),
        ("api", "v3", "'v3' is not one of current, legacy"),
        ("group_reply", "sometimes", "is not one of always, mention"),
        ("dedupe_store", "postgres://db", "expected 'memory' or a redis://"),
        ("dedupe_store", "redis://cache:port/0", "Port could not be cast to integer"),
        ("dedupe_store", "redis://cache:99999/0", "Port out of range"),
        ("dedupe_store", "redis://[::1/0", "Invalid IPv6 URL"),
        ("dedupe_store", "redis://cache/0?socket_timeout=soon", "socket_timeout"),
        ("dedupe_store", "redis://cache/sessions", "the path names the database by its number"),
        ("dedupe_store", "unix://", "unix:// needs the socket's path"),
        ("base_url", "ftp://files.example.com", "expected an https:// URL with a host"),
        ("base_url", "https://", "expected an https:// URL with a host"),
        ("base_url", "localhost:8040", "expected an https:// URL with a host"),
        ("base_url", "http://[::1", "expected an https:// URL with a host"),
        ("base_url", "http://127.0.0.1:99999", "a port from 1 to 65535"),
        ("base_url", "https://a.loopmessage.com:https", "a port from 1 to 65535"),
        ("attachment_intent", "has space", "not a valid intent name"),
        ("reaction_intent", "/slash", "not a valid intent name"),
        ("delivery_failed_intent", True, "expected text, got bool"),
        ("metadata_keys", "contact, phone", "phone not among channel, api,"),
        ("metadata_keys", {"contact": 1}, "expected a list of names"),
        ("allowed_contacts", "+1 323", "'+1 323' is not a phone number with its country code"),
        ("allowed_contacts", {"a": 1}, "expected a list of phone numbers, emails"),
        ("blocked_contacts", ["bob"], "'bob' is not a phone number"),
        ("blocked_contacts", "group:", "'group:' is not a phone number"),
        ("blocked_contacts", "a@b@c", "'a@b@c' is not a phone number"),
        ("blocked_contacts", "+1 323 111 2233 444 555", "is not a phone number"),
    ],
)
def test_wrong_types_are_refused_naming_the_key(key, raw, says):
    message = refused({**CURRENT, key: raw})
    assert f"credentials key '{key}'" in message
    assert says in message


def test_a_refused_redis_url_does_not_repeat_its_password():
    message = refused({**CURRENT, "dedupe_store": "redis://:hunter2@cache:port/0"})
    assert "Port could not be cast" in message and "hunter2" not in message


@pytest.mark.parametrize(
    ("key", "raw", "says"),
    [
        ("typing_seconds", "61", "61 is above the maximum 60"),
        ("typing_seconds", "-1", "-1 is below the minimum 0"),
        ("typing_delay", "61", "61.0 is above the maximum 60"),
        ("merge_window", "31", "31.0 is above the maximum 30"),
        ("bubble_pause", "10.5", "10.5 is above the maximum 10"),
        ("bubble_pause", "-1", "below the minimum 0"),
        ("merge_window", "-0.5", "-0.5 is below the minimum 0"),
        ("request_timeout", "0.5", "0.5 is below the minimum 1"),
        ("request_timeout", "120.5", "120.5 is above the maximum 120"),
        ("max_retries", "11", "above the maximum 10"),
        ("max_retries", "-1", "below the minimum 0"),
        ("max_concurrent_turns", "0", "below the minimum 1"),
        ("max_concurrent_turns", "1001", "above the maximum 1000"),
        ("max_queued_turns", "0", "below the minimum 1"),
        ("dedupe_ttl_seconds", "3600", "below the minimum 14400"),
        ("dedupe_max_entries", "999", "below the minimum 1000"),
        ("max_body_bytes", "1023", "below the minimum 1024"),
        ("shutdown_timeout", "-0.1", "below the minimum 0"),
        ("shutdown_timeout", "601", "above the maximum 600"),
    ],
)
def test_values_out_of_range_are_refused(key, raw, says):
    message = refused({**CURRENT, key: raw})
    assert f"credentials key '{key}'" in message
    assert says in message


@pytest.mark.parametrize(
    ("credentials", "missing"),
    [
        ({"webhook_auth": "h"}, "api_key"),
        ({"api_key": "", "webhook_auth": "h"}, "api_key"),
        ({"api_key": "  ", "webhook_auth": "h"}, "api_key"),
        ({**LEGACY, "authorization_key": None}, "authorization_key"),
        ({**LEGACY, "secret_key": ""}, "secret_key"),
        ({**LEGACY, "sender_name": " "}, "sender_name"),
        ({"api": "legacy", "webhook_auth": "h"}, "authorization_key, secret_key, sender_name"),
        ({**LEGACY, "api_key": "k", "authorization_key": ""}, "authorization_key"),
    ],
)
def test_each_generation_requires_its_credentials(credentials, missing):
    message = refused(credentials)
    api = credentials.get("api", "current")
    assert f"credentials for api '{api}' need {missing};" in message
    assert "${LOOPMESSAGE_" in message  # says what to write instead


def test_current_api_does_not_need_legacy_keys():
    assert load_config(CURRENT, environ={}).api == "current"


def test_webhook_auth_is_required_unless_unauthenticated_webhooks_are_allowed():
    message = refused({"api_key": "k"})
    assert "'webhook_auth' is required" in message
    assert "allow_unauthenticated_webhooks: true" in message
    config = load_config({"api_key": "k", "allow_unauthenticated_webhooks": "true"}, environ={})
    assert config.webhook_auth is None
    assert config.allow_unauthenticated_webhooks is True


@pytest.mark.parametrize("blank", ["", "   ", "\n"])
def test_an_empty_webhook_auth_is_refused(blank):
    assert "'webhook_auth' is empty" in refused({**CURRENT, "webhook_auth": blank})


@pytest.mark.parametrize(
    ("credentials", "says"),
    [(None, "block in credentials.yml is empty"), (["api_key"], "must be a mapping")],
)
def test_the_block_itself_must_be_a_mapping(credentials, says):
    assert says in refused(credentials)


@pytest.mark.parametrize(
    "key",
    [
        "attachment_intent",
        "reaction_intent",
        "delivery_failed_intent",
        "conversation_started_intent",
        "call_intent",
    ],
)
@pytest.mark.parametrize("off", [False, None, "false", "null", "None", "off", "", "0"])
def test_each_synthetic_intent_can_be_switched_off(key, off):
    config = load(**{key: off})
    assert getattr(config, key) is None
    others = {option.key for option in OPTIONS if option.kind == "intent"} - {key}
    assert all(getattr(config, other) is not None for other in others)


@given(
    key=st.sampled_from([option.key for option in OPTIONS]),
    raw=st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.floats(),
        st.text(),
        st.lists(st.one_of(st.text(), st.integers()), max_size=3),
        st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    ),
)
@example(key="media_dir", raw="\x00")  # once a ValueError from pathlib
@example(key="public_url", raw="https://bot.example.com\x00")
def test_any_value_either_loads_or_raises_config_error(key, raw):
    # Anything else would surface in Rasa as "Failed to find input channel class".
    try:
        load_config({**CURRENT, key: raw}, environ={})
    except ConfigError as exc:
        assert str(exc)


# -- the table and the dataclass, and secrets ----------------------------------------------------


def test_options_and_dataclass_fields_agree_in_names_order_and_defaults():
    table = [(option.key, option.default) for option in OPTIONS]
    dataclass_fields = [(item.name, item.default) for item in fields(IMessageConfig)]
    assert table == dataclass_fields


@pytest.mark.parametrize("option", OPTIONS, ids=lambda option: option.key)
def test_each_option_default_survives_its_own_parser(option):
    if option.default is None or option.kind == "secret":
        return
    assert option.parse(option.key, option.default) == option.default
    if option.choices:
        assert option.default in option.choices


@pytest.mark.parametrize("credentials", [CURRENT, LEGACY], ids=["current", "legacy"])
def test_repr_and_str_never_show_a_secret(credentials):
    config = load_config({**credentials, "api_key": "org-key-7f3a"}, environ={})
    for shown in (repr(config), str(config), f"{config!r}", f"{config}"):
        assert not [secret for secret in SECRETS if secret in shown]
        assert "webhook_auth='***'" in shown
        assert "api_key='***'" in shown
        assert "typing_seconds=8" in shown  # the rest is shown as it is
    assert "secret_key=None" in repr(load_config(CURRENT, environ={}))


@pytest.mark.parametrize("key", ["api_key", "webhook_auth", "secret_key", "authorization_key"])
@pytest.mark.parametrize(
    "broken", ["org-key\nX-Injected: 1", "org\rkey", "org\x00key", "org\x7fkey"]
)
def test_a_secret_no_header_can_carry_is_refused_without_quoting_it(key, broken):
    message = refused({**CURRENT, key: broken})
    assert f"credentials key '{key}'" in message and "control character" in message
    assert "org" not in message and "Injected" not in message


@pytest.mark.parametrize("key", ["api_key", "webhook_auth", "secret_key", "authorization_key"])
def test_errors_about_a_secret_do_not_quote_it(key):
    message = refused({**CURRENT, key: ["org-key-7f3a", "hook-secret-91c2"]})
    assert f"'{key}'" in message
    assert not [secret for secret in SECRETS if secret in message]
