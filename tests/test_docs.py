"""The README and the credentials example say what the code does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict

import pytest
import yaml

from rasa_imessage.config import OPTIONS, load_config

ROOT = Path(__file__).resolve().parent.parent


def _env() -> Dict[str, Any]:
    text = (ROOT / "credentials.yml.example").read_text(encoding="utf-8")
    return {name: f"value-of-{name}" for name in re.findall(r"\$\{(\w+)\}", text)}


def test_every_option_has_a_row_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert f"| `{option.key}` | {option.kind} |" in readme, option.key


def _shown(default: object) -> str:
    return str(default).lower() if isinstance(default, bool) else str(default)


@pytest.mark.parametrize(
    "option",
    [o for o in OPTIONS if isinstance(o.default, (bool, int, float, str))],
    ids=lambda option: option.key,
)
def test_the_readme_table_gives_each_default_the_code_has(option: Any) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    row = re.search(rf"^\| `{option.key}` \| [^|]+ \| ([^|]+) \|", readme, re.MULTILINE)
    assert row is not None, option.key
    assert row.group(1).strip() == f"`{_shown(option.default)}`"


def test_every_option_appears_in_the_credentials_example() -> None:
    example = (ROOT / "credentials.yml.example").read_text(encoding="utf-8")
    for option in OPTIONS:
        assert re.search(rf"^\s*#?\s*{option.key}:", example, re.MULTILINE), option.key


@pytest.mark.parametrize("block", ["current", "legacy"])
def test_the_credentials_example_loads(block: str) -> None:
    text = (ROOT / "credentials.yml.example").read_text(encoding="utf-8")
    if block == "legacy":
        legacy = text.split("# --- Legacy API")[1]
        text = "\n".join(line.replace("# ", "", 1) for line in legacy.splitlines()[2:])
    credentials = yaml.safe_load(text)["rasa_imessage.IMessageInput"]
    config = load_config(credentials, environ=_env())
    assert config.api == block
    assert config.webhook_auth is not None
    assert config.webhook_auth.get_secret_value() == "value-of-LOOPMESSAGE_WEBHOOK_AUTH"


def test_the_readme_names_the_test_command_that_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == "make test"
    assert "make test" in (ROOT / "README.md").read_text(encoding="utf-8")
