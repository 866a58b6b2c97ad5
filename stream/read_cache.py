"""Reading a queue's windows again a little later, without reading its ledger again.

The metrics exporter reads every window and ``today`` of every queue at each scrape. Most
queues booked nothing since the previous scrape, and most windows did not slide to
another bucket meanwhile. A range read is then the previous read except for what
depends on the instant itself, which :meth:`ScopeReader.read` recomputes exactly:

- the span (read instant − range start) grows by the time passed;
- the time-weighted columns (∫ calls waiting dt, agent seconds per state) grow by the
  live count times the time passed — the live counts cannot have changed, since any
  change of them books a timeline change;
- the longest wait so far raises ``max_wait_seconds`` (it only grows with time).

"Booked nothing" is told by :func:`fingerprint`. A property test
(tests/unit/test_read_cache.py) checks on random streams, late events, duplicates and
idle advances included, that every change of any read changes the fingerprint, and
that a reused read equals a fresh one.
"""

from __future__ import annotations

from array import array
from typing import TYPE_CHECKING

from .calendar import calendar_for
from .counters import MAX_WAIT_SECONDS, Counters

if TYPE_CHECKING:
    from .config import EngineConfig
    from .queue import QueueState

Fingerprint = tuple[float | None, bytes, int, int]


def fingerprint(state: QueueState) -> Fingerprint:
    """Equal fingerprints: no read of ``state`` at one instant can differ.

    Every booking on time and every timeline change (calls waiting, agents by state)
    lands in the ledger's cumulative accumulator; a late booking also counts anomaly
    ``late``; slides and day rolls need stream time to move; refused, expired or dropped
    work counts an anomaly (anomalies only grow, so their sum stands for all of them).
    An answer whose enqueue has not arrived yet books nothing but is in service at once.
    """
    anomalies = sum(state.anomalies.values())
    return (state.stream_time, state.bookings(), anomalies, state.calls_in_service)


class _Read:
    __slots__ = ("counters", "fp", "now", "slot", "span")

    def __init__(
        self, fp: Fingerprint, slot: float, now: float, counters: Counters, span: float
    ) -> None:
        self.fp = fp
        self.slot = slot  # bucket number of a window, start of the day for today
        self.now = now  # the read instant (at least stream time)
        self.counters = counters
        self.span = span


class ScopeReader:
    """``state.read(scope, now)`` for one queue, reusing the previous read of each
    scope while the queue's fingerprint and the scope's bucket are unchanged."""

    __slots__ = ("_calendar", "_live", "_reads", "_widths", "reused", "state")

    def __init__(self, state: QueueState, engine_cfg: EngineConfig) -> None:
        self.state = state
        slots = engine_cfg.window_slots
        self._widths = {name: seconds / slots for name, seconds in engine_cfg.windows}
        cfg = state.cfg
        self._calendar = calendar_for(
            cfg.timezone, cfg.business_day_start, engine_cfg.interval_seconds
        )
        self._reads: dict[str, _Read] = {}
        # (fingerprint, calls waiting and agents by state): the live counts only change
        # with the fingerprint, so every scope of one render shares them.
        self._live: tuple[Fingerprint | None, tuple[int, ...]] = (None, ())
        self.reused = 0  # reads served from the previous one (benchmarks print it)

    def read(self, scope: str, now: float, fp: Fingerprint) -> tuple[Counters, float, bool, float]:
        """(counters, span, fresh, slot): counters and span as :meth:`QueueState.read`;
        fresh: whether the counters were read afresh (False: only the time passed since
        the last read changed them); slot: the scope's bucket number (a window) or start
        of the day (today). ``fp`` is the queue's :func:`fingerprint` now (taken once for
        every scope)."""
        state = self.state
        st = state.stream_time
        at = now if st is None or now > st else st  # reads never look into the past
        slot = self._slot(scope, at)
        last = self._reads.get(scope)
        if last is not None and last.slot == slot and last.fp == fp:
            self.reused += 1
            return self._later(last, at, fp), last.span + (at - last.now), False, slot
        counters, span = state.read(scope, now)
        self._reads[scope] = _Read(fp, slot, at, counters, span)
        return counters, span, True, slot

    def _live_counts(self, fp: Fingerprint) -> tuple[int, ...]:
        """Calls waiting, then agents by state: they only change with the fingerprint."""
        known, live = self._live
        if known is not fp:
            state = self.state
            live = (state.calls_waiting, *state.agents_by_state().values())
            self._live = (fp, live)
        return live

    def _slot(self, scope: str, at: float) -> float:
        width = self._widths.get(scope)
        if width is not None:
            return int(at // width)  # as stream.windows.Ring.bucket_of
        return self._calendar.day_bounds(at)[0]

    def _later(self, last: _Read, at: float, fp: Fingerprint) -> Counters:
        state = self.state
        dt = at - last.now
        values = array("d", last.counters.values)
        layout = last.counters.layout
        live = self._live_counts(fp)
        for column, count in zip(layout.derived, live, strict=True):
            if count:
                values[column] += count * dt
        if live[0]:
            longest = state.longest_wait(at)
            if longest is not None and longest > values[MAX_WAIT_SECONDS]:
                values[MAX_WAIT_SECONDS] = longest
        return Counters(layout, values)
