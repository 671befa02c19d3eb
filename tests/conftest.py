"""Shared fixtures: real services on loopback (Redis), skipped with a reason when missing.

`figures` collects what the reliability tests counted (webhooks sent, duplicates and faults
injected, turns run, replies delivered, lost); the counts are printed at the end of the run
and are the source of the README's Reliability section.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path
from typing import Any, AsyncIterator, Callable, Dict, Iterator, List, Tuple

import pytest
from lm_standin import LoopMessageStandIn
from rasa_bot import train_example_bot
from servers import redis_server

# The test process imports Rasa too: nothing fetched from the internet, as for the `rasa`
# processes that rasa_process.py starts (Rasa Pro's LiteLLM would fetch its cost map).
os.environ.setdefault("RASA_TELEMETRY_ENABLED", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

_FIGURES: List[Tuple[str, Dict[str, Any]]] = []


@pytest.fixture(autouse=True)
def rasas_own_action_check() -> Iterator[None]:
    """Rasa's own check of action answers back after each test: servers install the cached
    one process-wide (`cache_action_schema`, on by default), and tests of the hint need
    Rasa as it is installed."""
    yield
    remote_action: Any = getattr(sys.modules.get("rasa.core.actions.action"), "RemoteAction", None)
    installed = vars(remote_action).get("_validate_action_result") if remote_action else None
    original = getattr(installed, "__wrapped__", None)
    if original is not None:
        remote_action._validate_action_result = original


@pytest.fixture(autouse=True)
def rasas_own_event_lookup() -> Iterator[None]:
    """Rasa's own `Event.resolve_by_type` back after each test: servers install the cached one
    process-wide (`cache_event_types`, on by default), and its tests start from Rasa's."""
    yield
    event: Any = getattr(sys.modules.get("rasa.shared.core.events"), "Event", None)
    if event is None:
        return
    from rasa_imessage.event_types import rasas_lookup

    event.resolve_by_type = staticmethod(rasas_lookup())
    hook = vars(event).get("__init_subclass__")
    if hook is not None and hasattr(hook.__func__, "__wrapped__"):
        previous = hook.__func__.__wrapped__
        if previous is None:
            del event.__init_subclass__
        else:
            event.__init_subclass__ = previous


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    """URL of a real redis-server started for this test session."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed: apt-get install redis-server")
    with redis_server() as url:
        yield url


@pytest.fixture
def redis_url(redis_server_url: str) -> str:
    """The session's Redis with its test database emptied: no test sees another's keys."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server_url


@pytest.fixture
async def lm() -> AsyncIterator[LoopMessageStandIn]:
    """LoopMessage's API as a local server on 127.0.0.1; each test sets its answers."""
    async with LoopMessageStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def trained_bot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """example_bot trained once per run, in a copy (the end-to-end tests' `rasa run`)."""
    if importlib.util.find_spec("rasa") is None:
        pytest.skip("rasa is not installed: pip install 'rasa-imessage[rasa]'")
    if importlib.util.find_spec("rasa.utils.licensing") and not os.environ.get("RASA_LICENSE"):
        pytest.skip("Rasa Pro needs RASA_LICENSE for `rasa train` and `rasa run`")
    return train_example_bot(tmp_path_factory.mktemp("e2e"))


@pytest.fixture
async def replicas(redis_url: str) -> AsyncIterator[Callable[..., Any]]:
    """A factory of RedisStores on the test server, each with its own connection pool."""
    from rasa_imessage.redis_store import RedisStore

    made: List[RedisStore] = []

    def make(**options: Any) -> RedisStore:
        store = RedisStore(redis_url, **{"lease_seconds": 600, **options})
        made.append(store)
        return store

    yield make
    for store in made:
        await store.aclose()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Any]:
    """A plain Redis client on the test server, to look at and change keys directly."""
    import redis.asyncio as redis_asyncio

    client = redis_asyncio.from_url(redis_url, decode_responses=True)
    yield client
    close = getattr(client, "aclose", None) or client.close
    await close()


@pytest.fixture(scope="session")
def figures_log() -> Callable[..., None]:
    """`figures_log(name, **counts)` records counts for the end-of-run summary."""

    def record(name: str, **counts: Any) -> None:
        _FIGURES.append((name, counts))

    return record


@pytest.fixture
def figures(
    request: pytest.FixtureRequest, figures_log: Callable[..., None]
) -> Callable[..., None]:
    """`figures(**counts)` records this test's counts for the end-of-run summary."""

    def record(**counts: Any) -> None:
        figures_log(request.node.name, **counts)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, counts in _FIGURES:
        line = ", ".join(f"{key.replace('_', ' ')} {value}" for key, value in counts.items())
        terminalreporter.write_line(f"{name}: {line}")
