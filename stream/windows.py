"""Event-time sliding windows as prefix sums over ring buckets.

A queue keeps one cumulative accumulator ``cum`` (everything booked so far). A window of
length W has ``slots`` buckets of width w = W/slots; bucket number of t is floor(t / w).
When stream time crosses the boundary b·w, the window stores ``cum`` in row ``b % slots``
of its ring: S_b. The window read at bucket c is then ``cum − S_a`` with a = c − slots + 1,
i.e. everything booked at t >= a·w. An event booked *after* a boundary it precedes
(out of order) is also added to the snapshots of the boundaries after it, so it stays
out of the ranges that start later. Booking an in-order event is one array update
whatever the number of windows; crossing a boundary is one row copy.

Maxima cannot be subtracted: each ring also keeps the maxima of each bucket
(``MAX_COLUMNS``), filled when stream time leaves the bucket.
"""

from __future__ import annotations

from array import array
from typing import Any

from .counters import MAX_COLUMNS, Counters, Layout

__all__ = ["Counters", "Ring", "sparse", "unsparse"]


def sparse(values: array) -> list[float]:
    """[i0, v0, i1, v1, ...] of the non-zero values (snapshots are mostly zeros)."""
    out: list[float] = []
    for i, v in enumerate(values):
        if v:
            out += (i, v)
    return out


def unsparse(
    data: list[Any], values: array, width: int, colmap: dict[int, int], old_width: int
) -> None:
    """Inverse of :func:`sparse` into zeroed ``values`` made of rows of ``width`` columns,
    where the data had rows of ``old_width`` columns; ``colmap`` maps old to new columns."""
    for k in range(0, len(data), 2):
        row, col = divmod(int(data[k]), old_width)
        new = colmap.get(col)
        if new is not None and (row + 1) * width <= len(values):
            values[row * width + new] = float(data[k + 1])


_INF = float("inf")
assert len(MAX_COLUMNS) == 2  # Ring.cross and Ledger._fold_maxima spell the two out


class Ring:
    """The boundary snapshots of one sliding window."""

    __slots__ = (
        "head",
        "head_row",
        "head_start",
        "maxima",
        "n",
        "name",
        "next_start",
        "seconds",
        "slots",
        "snaps",
        "width",
    )

    def __init__(self, name: str, seconds: float, slots: int, layout: Layout) -> None:
        self.name = name
        self.seconds = seconds
        self.slots = slots
        self.width = seconds / slots
        self.n = layout.acc_width
        self.snaps = layout.zeros(self.n * slots)  # row b % slots: cum when b·w was crossed
        self.maxima = array("d", bytes(8 * len(MAX_COLUMNS) * slots))  # row b % slots
        self.head: int | None = None  # last boundary crossed
        # Derived from head for the crossing path: start of the head bucket, start of the
        # next one (-inf while head is None: the first crossing sets it), maxima row.
        self.head_start = self.next_start = -_INF
        self.head_row = -1

    def _set_head(self, head: int | None) -> None:
        self.head = head
        if head is None:
            self.head_start = self.next_start = -_INF
            self.head_row = -1
        else:
            self.head_start = start = head * self.width
            self.next_start = start + self.width
            self.head_row = (head % self.slots) * len(MAX_COLUMNS)

    def bucket_of(self, t: float) -> int:
        return int(t // self.width)

    def cross(self, b: int, cum: array) -> None:
        """Stream time reached bucket ``b``: snapshot ``cum`` at every boundary up to it."""
        head = self.head
        if head is not None:  # else earlier boundaries: nothing was booked, zero rows are right
            if b <= head:
                return
            n, slots, snaps, maxima = self.n, self.slots, self.snaps, self.maxima
            if b == head + 1:  # one boundary: most crossings
                row = b % slots
                off = row * n
                snaps[off : off + n] = cum
                maxima[2 * row] = maxima[2 * row + 1] = 0.0  # MAX_COLUMNS: two
            else:
                first = b - slots + 1
                if first <= head:
                    first = head + 1
                for nb in range(first, b + 1):
                    row = nb % slots
                    off = row * n
                    snaps[off : off + n] = cum
                    maxima[2 * row] = maxima[2 * row + 1] = 0.0
        # _set_head(b), spelled out for the crossing path
        self.head = b
        self.head_start = start = b * self.width
        self.next_start = start + self.width
        self.head_row = (b % self.slots) * 2

    def observe(self, b: int, values: list[float]) -> None:
        """Maxima observed in bucket ``b`` (ignored when out of the ring)."""
        head = self.head
        if head is None or not head - self.slots < b <= head:
            return
        row = (b % self.slots) * len(values)
        maxima = self.maxima
        for i, value in enumerate(values):
            if value > maxima[row + i]:
                maxima[row + i] = value

    def maxima_since(self, c: int) -> list[float]:
        """Maxima of the buckets of the window read at bucket ``c``."""
        head = self.head
        if head is None:
            return [0.0, 0.0]
        slots = self.slots
        first = c - slots + 1
        if first < head - slots + 1:
            first = head - slots + 1
        count = head - first + 1
        if count <= 0:
            return [0.0, 0.0]
        # The buckets are consecutive rows of the ring (MAX_COLUMNS: two per row): one or
        # two slices, C-level max.
        start = (first % slots) * 2
        end = start + 2 * count
        maxima = self.maxima
        rows = maxima[start:end] if end <= 2 * slots else maxima[start:] + maxima[: end - 2 * slots]
        wait, length = max(rows[0::2]), max(rows[1::2])
        return [wait if wait > 0.0 else 0.0, length if length > 0.0 else 0.0]

    def rows_after(self, t: float) -> range:
        """Offsets of the snapshots of boundaries later than ``t`` (for a late booking)."""
        head = self.head
        if head is None:
            return range(0)
        first = max(self.bucket_of(t) + 1, head - self.slots + 1)
        return range(first, head + 1)

    def row(self, b: int) -> int:
        return (b % self.slots) * self.n

    def start(self, c: int) -> float:
        """Start of the window read at bucket ``c``."""
        return (c - self.slots + 1) * self.width

    def snapshot_at(self, c: int) -> array | None:
        """S at the start of the window read at bucket ``c`` (>= head), or None when the
        window starts after the last boundary crossed (nothing booked in it)."""
        a = c - self.slots + 1
        if self.head is None or a > self.head:
            return None
        off = self.row(a)
        return self.snaps[off : off + self.n]

    def to_json(self, pending: list[float] | None = None) -> dict[str, Any]:
        """``pending``: maxima of the head bucket not folded into it yet (written as if
        they were, so snapshots do not depend on when maxima are folded)."""
        maxima = self.maxima
        if pending is not None and any(pending) and self.head_row >= 0:
            maxima = array("d", maxima)
            for i, value in enumerate(pending):
                if value > maxima[self.head_row + i]:
                    maxima[self.head_row + i] = value
        return {
            "seconds": self.seconds,
            "slots": self.slots,
            "head": self.head,
            "snaps": sparse(self.snaps),
            "maxima": sparse(maxima),
        }

    def load_json(self, data: dict[str, Any], colmap: dict[int, int], old_width: int) -> None:
        if data["seconds"] != self.seconds or data["slots"] != self.slots:
            return  # the window changed shape: it starts afresh
        self._set_head(data["head"])
        unsparse(data["snaps"], self.snaps, self.n, colmap, old_width)
        m = len(MAX_COLUMNS)
        unsparse(data["maxima"], self.maxima, m, {i: i for i in range(m)}, m)
