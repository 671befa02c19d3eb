"""The typing indicator and read receipt of one inbound message (current API).

The indicator is for a user who waits: it is shown only when the bot has not started its
reply within `delay` seconds of the webhook, and the first reply then waits for that call
to land, so the indicator never shows up after the reply and lingers. A reply that fast
needs no indicator, and it does not wait for any call: the message is marked read by a
call made alongside the reply (`read`), which LoopMessage may take after the reply without
harm. So a quick bot's reply reaches the user one LoopMessage round trip sooner than if it
first waited for an indicator. A turn that ends without any reply marks the message read
and shows no indicator, since no reply is coming. `delay` 0 shows the indicator at once,
for every message, and every first reply waits for it.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any, Callable, Coroutine, Dict, Optional

__all__ = ["TYPING_DELAY", "TypingIndicator", "TypingIndicators"]

# The default `typing_delay`: most bots answer within it, so their replies go without
# waiting for a show-typing call; a slower turn still shows the indicator soon enough.
TYPING_DELAY = 0.5

# How long the first reply waits for a show-typing call already on its way, so the
# indicator does not appear after the reply and linger.
REPLY_WAITS_AT_MOST = 2.0

# A turn slower than `typing_seconds` (a custom action calling a slow API) has its indicator
# shown again before it runs out, for at most this long: the user never sees it stop while
# the bot still works. A second before it runs out, so it never blinks off.
RENEW_FOR_AT_MOST = 120.0
RENEW_EARLY = 1.0
RENEW_EVERY_AT_LEAST = 1.0  # `typing_seconds: 1` is shown again each second, no faster

ShowTyping = Callable[[int, bool], Coroutine[Any, Any, None]]  # (seconds, read); never raises
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Future[None]"]  # starts a task


class TypingIndicator:
    """One message's indicator: `start`, then `before_reply` and/or `turn_ended`. With
    `renew_for`, it is shown again while neither has come, for at most that long.

    The delay is a timer handle, not a task: a reply that comes first only cancels it. A
    task per message for the delay (created, cancelled, awaited) made arming and dropping
    an indicator cost 26-38 µs of CPU against 16-26 µs (20,000 in a row, three runs each,
    one-off). A task is made only for the show-typing call itself.
    """

    def __init__(
        self, show: ShowTyping, seconds: int, read: bool, delay: float, *, renew_for: float = 0.0
    ) -> None:
        self._show = show
        self._seconds = seconds
        self._read = read
        self._delay = delay
        self._renew_for = renew_for  # 0: shown once
        self._spawn: Spawn = asyncio.ensure_future
        self._delay_timer: Optional[asyncio.TimerHandle] = None
        self._renew_timer: Optional[asyncio.TimerHandle] = None
        self._renew_until = 0.0  # loop time after which it is not shown again
        # Ends when nothing of it is left, renewals included (`over` ends with the first call).
        self._finished: Optional[asyncio.Future[None]] = None
        # The show-typing request, made once the delay is over (or at once, without one).
        self._call: Optional[asyncio.Future[None]] = None
        self._over: Optional[asyncio.Future[None]] = None  # ends with the delay or first call
        self._replied = False

    @property
    def shown(self) -> bool:
        """Whether the show-typing call was made (for the indicator or the read receipt)."""
        return self._call is not None

    def start(self, spawn: Optional[Spawn] = None) -> asyncio.Future[None]:
        """Arm the delay (the call is a task made by `spawn`); the returned future ends with
        the delay and the first call: done once that call ends, cancelled with the delay.
        Renewals come after it (`finished`)."""
        loop = asyncio.get_running_loop()
        if spawn is not None:
            self._spawn = spawn
        self._over = over = loop.create_future()
        self._finished = loop.create_future()
        if not (self._seconds > 0 or self._read):
            over.set_result(None)
            self._finish()
        elif self._delay <= 0:
            self._show_now()  # at once: even the quickest reply waits for the call
        else:
            self._delay_timer = loop.call_later(self._delay, self._show_now)
        return over

    def _show_now(self) -> None:
        self._delay_timer = None
        if self._renew_for > 0 and self._seconds > 0:
            self._renew_until = asyncio.get_running_loop().time() + self._renew_for
            self._arm_renewal()
        self._call_now(self._seconds, self._read)

    def _arm_renewal(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time() + max(RENEW_EVERY_AT_LEAST, self._seconds - RENEW_EARLY)
        if due < self._renew_until:
            self._renew_timer = loop.call_at(due, self._renew)

    def _renew(self) -> None:
        """Still no reply: show it again. `read` as the first call had it: with an indicator
        LoopMessage takes a missing `read` as true, and what `false` does is not documented."""
        self._renew_timer = None
        self._arm_renewal()
        self._call_now(self._seconds, self._read)

    def _finish(self, cancelled: bool = False) -> None:
        finished = self._finished
        if finished is not None and not finished.done():
            if cancelled:
                finished.cancel()
            else:
                finished.set_result(None)

    def stop_renewing(self) -> None:
        """No more renewals (a reply is on its way, the turn ended, or shutdown)."""
        timer, self._renew_timer = self._renew_timer, None
        if timer is None:
            return
        timer.cancel()
        if self._call is None or self._call.done():
            self._finish()  # else the call in flight finishes it as it ends

    @property
    def finished(self) -> Optional[asyncio.Future[None]]:
        """Ends when nothing of this indicator is left, renewals included."""
        return self._finished

    def _call_now(self, seconds: int, read: bool) -> None:
        self._call = call = self._spawn(self._show(seconds, read))
        call.add_done_callback(self._call_ended)

    def _call_ended(self, call: asyncio.Future[None]) -> None:
        over = self._over
        if over is not None and not over.done():
            if call.cancelled():
                over.cancel()
            else:
                over.set_result(None)  # `show` never raises
        if self._renew_timer is None and call is self._call:  # nothing is left of it
            self._finish(call.cancelled())

    def stop_delay(self) -> None:
        """Drop the indicator still waiting out its delay (a reply came, or the turn ended),
        and stop renewing one shown."""
        self.stop_renewing()
        timer, self._delay_timer = self._delay_timer, None
        if timer is not None:
            timer.cancel()
            if self._over is not None:
                self._over.cancel()
            self._finish(cancelled=True)

    async def before_reply(self) -> None:
        """The bot's first send is ready: let a shown indicator land first; or, too soon for
        one, mark the message read alongside the reply, which goes at once."""
        if self._replied:
            return
        self._replied = True
        self.stop_renewing()
        if self._call is not None:
            if self._seconds > 0:  # a read receipt alone cannot linger after the reply
                await asyncio.wait({self._call}, timeout=REPLY_WAITS_AT_MOST)
        elif self._read and self._delay_timer is not None:
            timer, self._delay_timer = self._delay_timer, None
            timer.cancel()
            self._call_now(0, True)  # not awaited: `over` ends with it
        else:
            self.stop_delay()

    @property
    def pending(self) -> bool:
        """Neither replied to nor shown yet: the turn's end still has something to do."""
        return not (self._replied or self.shown)

    async def turn_ended(self) -> None:
        """The turn is over: without a reply and without an indicator, mark the message read."""
        self.stop_renewing()
        if not self.pending:
            return
        self.stop_delay()
        if self._read:
            await self._show(0, True)


ShowFor = Callable[[str, int, bool], Coroutine[Any, Any, None]]  # (message_id, seconds, read)


class TypingIndicators:
    """The indicators of the inbound messages whose turns are under way, by message id.

    At most `limit` delays and calls are alive at once: against a hung API the indicators
    are the first thing to give up (the turns still run, just without one).
    """

    def __init__(
        self,
        show: ShowFor,
        spawn: Spawn,
        *,
        seconds: int,
        read: bool,
        delay: float,
        limit: int,
        renew_for: float = RENEW_FOR_AT_MOST,
    ) -> None:
        self._show = show
        self._spawn = spawn
        self._seconds = seconds
        self._read = read
        self._delay = delay
        self._limit = limit
        self._renew_for = renew_for
        self._pending: Dict[str, TypingIndicator] = {}  # not yet shown, or being shown
        self._alive = 0  # timers and calls not finished

    def start(self, message_id: str) -> None:
        """Arm the indicator of an inbound message, unless `limit` are alive already."""
        if self._alive >= self._limit:
            return
        show = functools.partial(self._show, message_id)
        indicator = TypingIndicator(
            show, self._seconds, self._read, self._delay, renew_for=self._renew_for
        )
        self._pending[message_id] = indicator
        # Its delay and first call count against `limit`; it is found for the reply and the
        # turn's end while it is renewed too.
        self._track(indicator.start(self._spawn))
        finished = indicator.finished
        assert finished is not None
        finished.add_done_callback(lambda _: self._forget(message_id, indicator))

    def _forget(self, message_id: str, indicator: TypingIndicator) -> None:
        if self._pending.get(message_id) is indicator:  # not a later one for the same id
            del self._pending[message_id]

    def get(self, message_id: Optional[str]) -> Optional[TypingIndicator]:
        return self._pending.get(message_id) if message_id else None

    def turn_ended(self, message_id: Optional[str]) -> None:
        """The turn of this message is over: a pending indicator marks it read instead."""
        indicator = self.get(message_id)
        if indicator is None:
            return
        if indicator.pending:  # most turns replied: no task
            indicator.stop_delay()  # now, even if the task below is cancelled unstarted
            self._track(self._spawn(indicator.turn_ended()))
        else:
            indicator.stop_renewing()

    def stop_delays(self) -> None:
        """Shutdown: no indicator waiting out its delay, or to be shown again, may call
        LoopMessage later."""
        for indicator in list(self._pending.values()):
            indicator.stop_delay()

    def _track(self, task: asyncio.Future[None]) -> None:
        self._alive += 1

        def done(_: object) -> None:
            self._alive -= 1

        task.add_done_callback(done)
