"""Prometheus text exposition (format 0.0.4), written directly.

Rendering thousands of queues through prometheus_client's metric-family objects costs
about 12x more than formatting the lines ourselves (bench/README.md), and /metrics must stay
fast at thousands of queues, so the exporter writes text with this small writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4"  # aiohttp adds the charset itself


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    """Shortest round-trip text; whole numbers without ".0" (most counts are floats)."""
    if value.__class__ is float:  # the common case first: one type test, no isinstance
        if value.is_integer():  # False for NaN and the infinities
            return str(int(value)) if -1e16 < value < 1e16 else repr(value)  # "1e+16"
        if value - value == 0.0:  # finite: inf − inf and NaN − NaN are NaN
            return repr(value)
    elif isinstance(value, int):
        return str(int(value))  # int() also turns a bool into 0/1
    elif value - value == 0.0:  # another real type (e.g. a float subclass)
        return format_value(float(value))
    if value != value:
        return "NaN"
    return "+Inf" if value > 0 else "-Inf"


def label_text(labels: dict[str, str]) -> str:
    """``{a="x",b="y"}`` (empty string for no labels)."""
    if not labels:
        return ""
    inner = ",".join(f'{k}="{escape_label_value(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


@dataclass(frozen=True, slots=True)
class MetricInfo:
    name: str
    kind: str  # counter | gauge | histogram
    help: str
    labels: tuple[str, ...] = ()


@dataclass(slots=True)
class ExpositionWriter:
    """Collects samples grouped by metric family; ``render()`` emits each family once."""

    _families: dict[str, tuple[MetricInfo, list[str]]] = field(default_factory=dict)

    def family(self, info: MetricInfo) -> list[str]:
        """The sample-line list of ``info``'s family (append ``name{labels} value`` lines)."""
        entry = self._families.get(info.name)
        if entry is None:
            entry = self._families[info.name] = (info, [])
        return entry[1]

    def sample(self, info: MetricInfo, labels: str, value: float | None) -> None:
        """Add one sample; ``labels`` is pre-rendered ``{...}`` text; None is skipped
        (no value is exported rather than a fake 0)."""
        if value is not None:
            self.family(info).append(f"{info.name}{labels} {format_value(value)}\n")

    def chunks(self, max_lines: int = 1 << 62) -> Iterator[str]:
        """The body in pieces of at most ``max_lines`` sample lines, families in order
        (callers may yield to the event loop between pieces)."""
        for info, lines in self._families.values():
            head = f"# HELP {info.name} {info.help}\n# TYPE {info.name} {info.kind}\n"
            for i in range(0, max(len(lines), 1), max_lines):
                yield head + "".join(lines[i : i + max_lines])
                head = ""

    def render(self) -> str:
        return "".join(self.chunks())
