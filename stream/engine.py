"""The KPI engine: every queue's state, fed event by event (docs/engine-api.md).

The worker calls :meth:`Engine.apply` for each decoded event (with the Kafka record key
as ``only_queue``), :meth:`Engine.take_closed` after a batch to publish the intervals
that closed, :meth:`Engine.advance` on a ticker so idle queues close theirs too, and
:meth:`Engine.snapshot` / :meth:`Engine.restore` for checkpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mypy_extensions import mypyc_attr

from .config import EngineConfig
from .counters import Counters, layout_for
from .events import AgentStateChanged, Event
from .queue import IntervalSummary, QueueState

SNAPSHOT_VERSION = 1


@mypyc_attr(allow_interpreted_subclasses=True)  # compiled: tests subclass it
class Engine:
    __slots__ = ("_closed", "config", "queues")

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self.queues: dict[str, QueueState] = {}
        self._closed: list[IntervalSummary] = []  # closed by apply(), not yet taken

    def _queue(self, name: str) -> QueueState:
        state = self.queues.get(name)
        if state is None:
            state = QueueState(name, self.config.queue(name), self.config, self._closed)
            self.queues[name] = state
        return state

    def apply(self, event: Event, only_queue: str | None = None) -> None:
        """Apply ``event`` to every queue it names, or only to ``only_queue`` (the record
        key); an event keyed to a queue it does not name is counted as ``misrouted``."""
        # isinstance narrows the type: compiled, the fields are read natively
        if isinstance(event, AgentStateChanged):
            names = event.queues
            if only_queue is None:
                for name in names:
                    (self.queues.get(name) or self._queue(name)).apply(event)
                return
            named = only_queue in names
        else:
            queue = event.queue
            if only_queue is None:
                (self.queues.get(queue) or self._queue(queue)).apply(event)
                return
            named = only_queue == queue
        state = self.queues.get(only_queue) or self._queue(only_queue)
        if named:
            state.apply(event)
        else:
            state.misrouted()

    def advance(self, now: float) -> list[IntervalSummary]:
        """Close, in every queue, the intervals with end + grace <= ``now``."""
        out: list[IntervalSummary] = []
        for state in self.queues.values():
            out += state.close_until(now)
        return out

    def flush(self) -> list[IntervalSummary]:
        """Close every open interval of every queue (end of an offline run)."""
        out = self.take_closed()
        for state in self.queues.values():
            out += state.close_all()
        return out

    def take_closed(self) -> list[IntervalSummary]:
        """Intervals closed by :meth:`apply` since the last call, oldest first per queue."""
        out = self._closed[:]
        self._closed.clear()
        return out

    # --- snapshots -----------------------------------------------------------------------

    def snapshot(self, queues: Iterable[str] | None = None) -> dict[str, Any]:
        """The state of ``queues`` (default: all) as JSON-serialisable data; taking it
        changes nothing. Closed intervals not yet taken are included."""
        names = list(self.queues) if queues is None else [q for q in queues if q in self.queues]
        selected = set(names)
        return {
            "version": SNAPSHOT_VERSION,
            "queues": {name: self.queues[name].to_json() for name in names},
            "closed": [_summary_to_json(s) for s in self._closed if s.queue in selected],
        }

    def restore(self, data: dict[str, Any]) -> None:
        """Replace the state of the queues in ``data`` by theirs (others are untouched)."""
        if data.get("version") != SNAPSHOT_VERSION:
            raise ValueError(f"unsupported snapshot version {data.get('version')!r}")
        for name, queue_data in data["queues"].items():
            state = QueueState(name, self.config.queue(name), self.config, self._closed)
            state.load_json(queue_data)
            self.queues[name] = state
        restored = set(data["queues"])
        self._closed[:] = [s for s in self._closed if s.queue not in restored]
        self._closed += [self._summary_from_json(s) for s in data["closed"]]

    def _summary_from_json(self, data: dict[str, Any]) -> IntervalSummary:
        layout = layout_for(self.config.queue(data["queue"]).sl_thresholds)
        counters = Counters(layout)
        for name, value in data["counters"].items():
            if name in layout.index:
                counters.values[layout.index[name]] = float(value)
        return IntervalSummary(data["queue"], data["start"], data["end"], counters, data["kpis"])


def _summary_to_json(summary: IntervalSummary) -> dict[str, Any]:
    return {
        "queue": summary.queue,
        "start": summary.start,
        "end": summary.end,
        "counters": summary.counters.as_dict(),
        "kpis": summary.kpis,
    }
