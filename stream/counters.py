"""The counters of docs/kpis.md as one flat ``array('d')`` with fixed column indices.

Every accumulator of a queue (a window bucket, today, an interval, the totals) is an
``array('d')`` of ``Layout.acc_width`` columns, so booking an event is a few indexed
additions. The base columns sit at the module constants below; the per-threshold columns
(``answered_within_T``, ``abandoned_within_T``) follow them, then — only in
:class:`Counters`, the read-side value — the time-weighted columns derived at read time.

Time-weighted quantities (∫ waiting calls dt, agent time per state) are kept as
*timelines*: each change of a count N at time t books ``net += d`` and
``offset += d·(t − origin)``. Over a range [A, E) with N(E) known,
∫ N dt = N(E)·(E − A) − Σ d·(t − A), which is exact and O(1) per event whatever the
order of arrival.
"""

from __future__ import annotations

from array import array
from functools import lru_cache

# --- base columns ---------------------------------------------------------------------

_COUNTS = (
    "entered",
    "entered_with_caller_id",
    "repeat_entered",
    "offered",
    "answered",
    "abandoned",
    "short_abandoned",
    "left",
    "flowed_out",
    "transferred",
    "handled",
    "csat_responses",
    "csat_satisfied",
    "nps_responses",
    "nps_promoters",
    "nps_detractors",
    "resolved_responses",
    "resolved_true",
)
_SUMS = (
    "wait_seconds",
    "answered_wait_seconds",
    "abandoned_wait_seconds",
    "talk_seconds",
    "hold_seconds",
    "acw_seconds",
    "csat_sum",
)
_MAXIMA = ("max_wait_seconds", "max_queue_length")
BASE_COLUMNS = _COUNTS + _SUMS + _MAXIMA

(
    ENTERED,
    ENTERED_WITH_CALLER_ID,
    REPEAT_ENTERED,
    OFFERED,
    ANSWERED,
    ABANDONED,
    SHORT_ABANDONED,
    LEFT,
    FLOWED_OUT,
    TRANSFERRED,
    HANDLED,
    CSAT_RESPONSES,
    CSAT_SATISFIED,
    NPS_RESPONSES,
    NPS_PROMOTERS,
    NPS_DETRACTORS,
    RESOLVED_RESPONSES,
    RESOLVED_TRUE,
    WAIT_SECONDS,
    ANSWERED_WAIT_SECONDS,
    ABANDONED_WAIT_SECONDS,
    TALK_SECONDS,
    HOLD_SECONDS,
    ACW_SECONDS,
    CSAT_SUM,
    MAX_WAIT_SECONDS,
    MAX_QUEUE_LENGTH,
) = range(len(BASE_COLUMNS))
MAX_COLUMNS = (MAX_WAIT_SECONDS, MAX_QUEUE_LENGTH)

# --- timelines: (net, offset) column pairs, internal --------------------------------

AGENT_STATES = ("logged_in", "available", "on_contact", "after_call_work", "not_ready")
TIMELINES = ("queue_length", *(f"agents_{state}" for state in AGENT_STATES))
TIMELINE_BASE = len(BASE_COLUMNS)
QUEUE_NET = TIMELINE_BASE  # timeline i has net column TIMELINE_BASE + 2i, offset next to it
TIMELINE_NETS = tuple(TIMELINE_BASE + 2 * i for i in range(len(TIMELINES)))
AGENT_NETS = TIMELINE_NETS[1:]  # indexed like AGENT_STATES
THRESHOLD_BASE = TIMELINE_BASE + 2 * len(TIMELINES)


def threshold_key(threshold: float) -> str:
    """How a threshold appears in column and KPI names: 20.0 -> "20", 7.5 -> "7.5"."""
    return f"{threshold:g}"


class Layout:
    """Column names and indices for one tuple of service-level thresholds."""

    __slots__ = (
        "abandoned_within",
        "acc_width",
        "answered_within",
        "derived",
        "index",
        "int_columns",
        "names",
        "public",
        "thresholds",
        "width",
    )

    def __init__(self, thresholds: tuple[float, ...]) -> None:
        self.thresholds = thresholds
        names = list(BASE_COLUMNS)
        for timeline in TIMELINES:
            names += [f"_{timeline}_net", f"_{timeline}_offset"]
        self.answered_within: tuple[int, ...] = tuple(
            THRESHOLD_BASE + 2 * i for i in range(len(thresholds))
        )
        self.abandoned_within: tuple[int, ...] = tuple(c + 1 for c in self.answered_within)
        for t in thresholds:
            names += [f"answered_within_{threshold_key(t)}", f"abandoned_within_{threshold_key(t)}"]
        self.acc_width = len(names)
        self.derived: tuple[int, ...] = tuple(range(len(names), len(names) + len(TIMELINES)))
        names += [f"{timeline}_seconds" for timeline in TIMELINES]
        self.width = len(names)
        self.names: tuple[str, ...] = tuple(names)
        self.index = {name: i for i, name in enumerate(names)}
        self.public: tuple[int, ...] = tuple(
            i for i, name in enumerate(names) if not name.startswith("_")
        )
        ints = set(range(len(_COUNTS))) | {MAX_QUEUE_LENGTH}
        ints |= set(self.answered_within) | set(self.abandoned_within)
        self.int_columns = frozenset(ints)

    def zeros(self, width: int | None = None) -> array:
        return array("d", bytes(8 * (self.acc_width if width is None else width)))


@lru_cache(maxsize=64)
def layout_for(thresholds: tuple[float, ...]) -> Layout:
    """Layouts are shared by every queue with the same thresholds."""
    return Layout(thresholds)


class Counters:
    """One range's counters (a window, today, an interval, the totals): a read-side value.

    ``values`` has ``layout.width`` columns: the booked ones and the time-weighted ones
    derived at read time. Merging adds every column except the maxima, which take the max.
    """

    __slots__ = ("layout", "values")

    def __init__(self, layout: Layout, values: array | None = None) -> None:
        self.layout = layout
        self.values = layout.zeros(layout.width) if values is None else values

    def __getitem__(self, name: str) -> float:
        return self.values[self.layout.index[name]]

    def get(self, name: str, default: float = 0.0) -> float:
        index = self.layout.index.get(name)
        return default if index is None else self.values[index]

    def as_dict(self) -> dict[str, float | int]:
        names, values, ints = self.layout.names, self.values, self.layout.int_columns
        return {names[i]: int(values[i]) if i in ints else values[i] for i in self.layout.public}

    def merge(self, other: Counters) -> Counters:
        """The counters of both ranges together (e.g. two queues, or two intervals)."""
        if other.layout.thresholds != self.layout.thresholds:
            raise ValueError("cannot merge counters with different service-level thresholds")
        values = array("d", map(float.__add__, self.values, other.values))
        for col in MAX_COLUMNS:
            values[col] = max(self.values[col], other.values[col])
        return Counters(self.layout, values)

    def __add__(self, other: Counters) -> Counters:
        return self.merge(other)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Counters):
            return NotImplemented
        return self.layout.thresholds == other.layout.thresholds and self.values == other.values

    __hash__ = None  # type: ignore[assignment]  # mutable value

    def __repr__(self) -> str:
        items = ", ".join(f"{k}={v}" for k, v in self.as_dict().items() if v)
        return f"Counters({items})"
