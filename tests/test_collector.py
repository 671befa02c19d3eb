"""The collector's settings for serving: a higher young threshold unless someone set one."""

from __future__ import annotations

import gc
import logging
from typing import Iterator, Tuple

import pytest

from rasa_imessage.collector import (
    PYTHON_DEFAULT_THRESHOLD,
    YOUNG_THRESHOLD,
    raise_young_threshold,
)


@pytest.fixture
def thresholds() -> Iterator[Tuple[int, int, int]]:
    """The collector as Python starts it; whatever it was is put back afterwards."""
    saved, enabled = gc.get_threshold(), gc.isenabled()
    gc.set_threshold(PYTHON_DEFAULT_THRESHOLD, 10, 10)
    gc.enable()
    try:
        yield gc.get_threshold()
    finally:
        gc.set_threshold(*saved)
        if not enabled:
            gc.disable()


def test_pythons_default_young_threshold_is_raised_and_the_others_kept(
    thresholds: Tuple[int, int, int],
) -> None:
    assert raise_young_threshold() == YOUNG_THRESHOLD
    assert gc.get_threshold() == (YOUNG_THRESHOLD, 10, 10)


def test_a_threshold_the_application_set_is_left_alone(thresholds: Tuple[int, int, int]) -> None:
    gc.set_threshold(1234, 5, 5)
    assert raise_young_threshold() is None
    assert gc.get_threshold() == (1234, 5, 5)


def test_a_disabled_collector_is_left_alone(thresholds: Tuple[int, int, int]) -> None:
    gc.disable()
    assert raise_young_threshold() is None
    assert gc.get_threshold()[0] == PYTHON_DEFAULT_THRESHOLD


async def test_the_server_raises_it_when_it_starts(
    thresholds: Tuple[int, int, int], caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("rasa.core.run", reason="needs rasa: pip install 'rasa-imessage[rasa]'")
    from channel_kit import make_app, served

    app, _, _ = make_app()
    with caplog.at_level(logging.INFO, logger="rasa_imessage"):
        async with served(app):
            assert gc.get_threshold()[0] == YOUNG_THRESHOLD
    assert any("every 50000 new objects" in r.getMessage() for r in caplog.records)
