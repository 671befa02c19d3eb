"""`rasa-imessage check` offline and against a mocked LoopMessage."""

from __future__ import annotations

import httpx
import pytest
import respx

from rasa_imessage.checks import check_credentials

BLOCK = {"api_key": "org-key", "webhook_auth": "a" * 40}
STATUS = "https://a.loopmessage.com/v1/message/status/"


async def test_offline_check_names_unset_variables_and_bad_keys(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LM_NOT_SET", raising=False)
    report = await check_credentials({"api_key": "${LM_NOT_SET}", "webhook_auth": "x" * 40,
                                      "typing_secnds": 1}, online=False)  # fmt: skip
    assert not report.ok
    text = report.render()
    assert "LM_NOT_SET is not set" in text and "typing_secnds" in text and "NOT ready" in text


async def test_short_webhook_auth_is_a_warning_not_a_failure() -> None:
    report = await check_credentials({"api_key": "k", "webhook_auth": "short"}, online=False)
    assert report.ok and "webhook_auth is short" in report.render()


@pytest.mark.parametrize(
    ("response", "ok"),
    [
        (httpx.Response(404), True),
        (httpx.Response(400, json={"error_code": 130, "message": "bad key"}), False),
        (httpx.Response(400, json={"success": False, "code": 110}), False),
    ],
)
async def test_key_check_reads_loopmessages_answer(response: httpx.Response, ok: bool) -> None:
    with respx.mock() as router:
        route = router.route(method="GET", url__startswith=STATUS).mock(return_value=response)
        report = await check_credentials(BLOCK)
    assert route.called and route.calls.last.request.headers["Authorization"] == "org-key"
    assert report.ok is ok, report.render()
    assert "org-key" not in report.render()


def test_cli_check_reads_the_file_and_exits_non_zero_on_problems(tmp_path, capsys) -> None:
    from rasa_imessage.cli import EXIT_BAD_CONFIG, EXIT_OK, main

    good = tmp_path / "credentials.yml"
    good.write_text(
        "rasa_imessage.IMessageInput:\n  api_key: k\n  webhook_auth: " + "s" * 40 + "\n"
    )
    assert main(["check", str(good), "--offline"]) == EXIT_OK
    assert "credentials: ready" in capsys.readouterr().out
    bad = tmp_path / "bad.yml"
    bad.write_text("rest:\n")
    assert main(["check", str(bad), "--offline"]) == EXIT_BAD_CONFIG
    assert "no rasa_imessage.IMessageInput block" in capsys.readouterr().err
