"""Event-time sliding windows as rings of fixed-width buckets, plus accumulator helpers.

A window of length W has ``slots`` buckets of width w = W/slots; bucket number of t is
floor(t / w). The ring holds the buckets ``head − slots + 1 … head`` in one
``array('d')`` (row ``b % slots``), and ``totals`` keeps their running sum, so reading a
window is a copy of one row instead of a sum over the ring. Buckets that fall out of the
ring are subtracted from the totals and zeroed; every ``slots`` advances the totals are
rebuilt from the buckets, which bounds floating-point drift.

Timeline offsets (see :mod:`stream.counters`) in the buckets and totals are relative to
``origin``, which the rebuild moves to the ring's oldest bucket so they stay small.
"""

from __future__ import annotations

from array import array
from operator import add, sub
from typing import Any

from .counters import MAX_COLUMNS, TIMELINE_NETS, Counters, Layout

__all__ = ["Counters", "Ring", "merge_into", "rebase", "sparse", "unsparse"]


def merge_into(dst: array, off: int, origin: float, src: array, src_origin: float) -> None:
    """Add accumulator ``src`` (offsets relative to ``src_origin``) to the row of ``dst``
    at ``off`` (offsets relative to ``origin``); maxima take the max."""
    n = len(src)
    row = dst[off : off + n]
    dst[off : off + n] = array("d", map(add, row, src))
    for col in MAX_COLUMNS:
        dst[off + col] = max(row[col], src[col])
    shift = src_origin - origin
    if shift:
        for net in TIMELINE_NETS:
            d = src[net]
            if d:
                dst[off + net + 1] += d * shift


def rebase(acc: array, off: int, origin: float, new_origin: float) -> None:
    """Make the timeline offsets of a row relative to ``new_origin``."""
    shift = origin - new_origin
    if shift:
        for net in TIMELINE_NETS:
            d = acc[off + net]
            if d:
                acc[off + net + 1] += d * shift


def sparse(values: array) -> list[float]:
    """[i0, v0, i1, v1, ...] of the non-zero values (snapshots are mostly zeros)."""
    out: list[float] = []
    for i, v in enumerate(values):
        if v:
            out += (i, v)
    return out


def unsparse(data: list[Any], values: array, width: int, colmap: dict[int, int], old_width: int) -> None:
    """Inverse of :func:`sparse` into zeroed ``values`` of rows of ``width`` columns, where
    the data had rows of ``old_width`` columns and ``colmap`` maps old to new columns."""
    for k in range(0, len(data), 2):
        row, col = divmod(int(data[k]), old_width)
        new = colmap.get(col)
        if new is not None and row * width < len(values):
            values[row * width + new] = float(data[k + 1])


class Ring:
    """One sliding window of a queue."""

    __slots__ = (
        "advances",
        "buckets",
        "head",
        "n",
        "name",
        "origin",
        "seconds",
        "slots",
        "totals",
        "width",
        "_zero_row",
    )

    def __init__(self, name: str, seconds: float, slots: int, layout: Layout) -> None:
        self.name = name
        self.seconds = seconds
        self.slots = slots
        self.width = seconds / slots
        self.n = layout.acc_width
        self.buckets = layout.zeros(self.n * slots)
        self.totals = layout.zeros()
        self._zero_row = layout.zeros()
        self.head: int | None = None  # newest bucket number in the ring
        self.origin = 0.0
        self.advances = 0  # head moves since the last rebuild

    def bucket_of(self, t: float) -> int:
        return int(t // self.width)

    def slot(self, b: int) -> int:
        """Offset of bucket ``b``'s row (moving the ring forward), or -1 if it is too old."""
        head = self.head
        if head is None:
            self.head = b
            self.origin = b * self.width
        elif b > head:
            self._advance(b)
        elif b <= head - self.slots:
            return -1
        return (b % self.slots) * self.n

    def _advance(self, b: int) -> None:
        head, slots, n = self.head, self.slots, self.n
        assert head is not None
        self.head = b
        if b - head >= slots:
            self.buckets = array("d", bytes(len(self.buckets) * 8))
            self.totals = array("d", self._zero_row)
            self.origin = (b - slots + 1) * self.width
            self.advances = 0
            return
        buckets, totals, zero = self.buckets, self.totals, self._zero_row
        for nb in range(head + 1, b + 1):
            off = (nb % slots) * n
            row = buckets[off : off + n]
            if any(row):
                totals[:] = array("d", map(sub, totals, row))
                buckets[off : off + n] = zero
        self.advances += b - head
        if self.advances >= slots:
            self._rebuild()

    def _rebuild(self) -> None:
        """Re-sum the totals from the buckets and move the origin to the oldest bucket."""
        assert self.head is not None
        new_origin = (self.head - self.slots + 1) * self.width
        buckets, n = self.buckets, self.n
        totals = array("d", self._zero_row)
        for off in range(0, len(buckets), n):
            rebase(buckets, off, self.origin, new_origin)
            totals[:] = array("d", map(add, totals, buckets[off : off + n]))
        self.totals = totals
        self.origin = new_origin
        self.advances = 0

    def add(self, src: array, src_origin: float, b: int) -> None:
        """Book an accumulator into bucket ``b`` (dropped if the bucket is out of the ring)."""
        off = self.slot(b)
        if off >= 0:
            merge_into(self.buckets, off, self.origin, src, src_origin)
            merge_into(self.totals, 0, self.origin, src, src_origin)

    def read(self, c: int, extra: tuple[array, float, int] | None) -> tuple[array, float]:
        """The window's accumulator at bucket ``c`` (>= head), offsets relative to its
        start A = (c − slots + 1)·w, plus ``extra`` = (accumulator, origin, bucket) not
        yet booked; returns (values, A)."""
        a = c - self.slots + 1
        start = a * self.width
        head, n, slots, buckets = self.head, self.n, self.slots, self.buckets
        if head is None or head < a:
            values = array("d", self._zero_row)
        else:
            values = array("d", self.totals)
            for b in range(head - slots + 1, a):  # in the ring but older than the window
                off = (b % slots) * n
                values[:] = array("d", map(sub, values, buckets[off : off + n]))
            for col in MAX_COLUMNS:
                values[col] = max(
                    buckets[(b % slots) * n + col] for b in range(max(a, head - slots + 1), head + 1)
                )
        rebase(values, 0, self.origin, start)
        if extra is not None and extra[2] >= a:
            merge_into(values, 0, start, extra[0], extra[1])
        return values, start

    # --- snapshots -----------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "seconds": self.seconds,
            "slots": self.slots,
            "head": self.head,
            "origin": self.origin,
            "advances": self.advances,
            "buckets": sparse(self.buckets),
            "totals": sparse(self.totals),
        }

    def load_json(self, data: dict[str, Any], colmap: dict[int, int], old_width: int) -> None:
        if data["seconds"] != self.seconds or data["slots"] != self.slots:
            return  # the window changed shape: start it afresh
        self.head = data["head"]
        self.origin = float(data["origin"])
        self.advances = int(data["advances"])
        unsparse(data["buckets"], self.buckets, self.n, colmap, old_width)
        unsparse(data["totals"], self.totals, self.n, colmap, old_width)
