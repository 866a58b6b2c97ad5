"""Prometheus text exposition (format 0.0.4), written directly.

Rendering thousands of queues through prometheus_client's metric-family objects costs
about 12x more than formatting the lines ourselves (bench/README.md), and /metrics must stay
fast at thousands of queues, so the exporter writes text with this small writer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

CONTENT_TYPE = "text/plain; version=0.0.4"  # aiohttp adds the charset itself


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))


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

    def render(self) -> str:
        parts: list[str] = []
        for info, lines in self._families.values():
            parts.append(f"# HELP {info.name} {info.help}\n# TYPE {info.name} {info.kind}\n")
            parts.extend(lines)
        return "".join(parts)
