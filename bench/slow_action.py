"""The custom action of section 1d, served by Rasa's own action server (rasa_sdk).

`action_slow` waits `BENCH_ACTION_SECONDS` (as an action calling an API or a database
does), then answers one message. bench/stack.py adds it, its intent and its rule to the
temporary copy of example_bot; the example bot itself has no action server.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Dict, List

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

ACTION_NAME = "action_slow"
SECONDS_VARIABLE = "BENCH_ACTION_SECONDS"


class SlowAction(Action):  # type: ignore[misc]  # rasa_sdk's classes are untyped here
    def name(self) -> str:
        return ACTION_NAME

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[str, Any]
    ) -> List[Dict[str, Any]]:
        await asyncio.sleep(float(os.environ[SECONDS_VARIABLE]))
        dispatcher.utter_message(text="Done. That took a while on purpose.")
        return []
