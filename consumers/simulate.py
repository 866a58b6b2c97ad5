"""``callpulse simulate``: realistic contact-center traffic to Kafka or a JSONL file.

The model (stream/simulator.py) and the scenario file are described in docs/simulator.md.
This module is the command: options, pacing, output, progress and the ground-truth file.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from stream.config import ConfigError
from stream.decode import MAX_FUTURE_SKEW, encode
from stream.events import queues_of
from stream.scenario import DEFAULT_SCENARIO, Scenario, scenario_from_dict
from stream.simulator import Simulation

from .interrupt import checkpoint, run_cancellable
from .pacing import Pacer, catch_up_origin
from .progress import Progress
from .publish import JsonlSink, KafkaSink, PublishError, Sink, publishing
from .settings import read_yaml_mapping
from .tool_options import (
    OptionError,
    add_kafka_arguments,
    duration,
    kafka_settings,
    parse_instant,
    speed,
)

DEFAULT_DURATION = 3600.0
DEFAULT_SEED = 1
YIELD_EVERY = 500  # events between chances for Ctrl-C to get through in a fast run

EPILOG = """\
examples:
  callpulse simulate --bootstrap 127.0.0.1:9092                 # live, real time, 1 h
  callpulse simulate --scenario deploy/scenarios/office-day.yaml \\
      --start 2026-11-23T07:00:00+01:00 --duration 12h -o day.jsonl --truth day.truth.json
  callpulse simulate --speed 60 -o - | head                     # an hour a minute, stdout
  callpulse simulate --start -30m --duration 4h --catch-up      # 30 min of history, then live
  callpulse simulate --spike +5m,10m,3,sales                    # sales x3 from 5 min in

Workers reject events more than 300 s ahead of their clock, so to Kafka the run must not
get ahead of the wall clock: use real time (--speed 1), or a --start in the past that the
run does not overtake (--speed 0 ends the run at now by default).
The scenario file format: docs/simulator.md.
"""


@dataclass(slots=True)
class Outcome:
    events: int = 0
    records: int = 0
    seconds: float = 0.0
    complete: bool = False


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Simulate a contact center (queues, skills, agents with shifts and breaks, Poisson "
        "arrivals with a time-of-day profile and spikes, lognormal handle times, caller "
        "patience, transfers, flow-outs, surveys, repeat callers) and publish the canonical "
        "events to Kafka (key = queue; agent events once per queue) or write them as JSONL. "
        "Deterministic for a seed and start."
    )
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    model = parser.add_argument_group("scenario")
    model.add_argument(
        "--scenario",
        metavar="FILE",
        help="scenario YAML (docs/simulator.md); default: the built-in office day "
        "(deploy/scenarios/office-day.yaml)",
    )
    model.add_argument(
        "--seed", type=int, help=f"random seed (default: the scenario's, else {DEFAULT_SEED})"
    )
    model.add_argument(
        "--rate-scale", type=float, default=1.0, metavar="F", help="multiply every arrival rate"
    )
    model.add_argument(
        "--spike",
        action="append",
        default=[],
        metavar="AT,DURATION,FACTOR[,QUEUE...]",
        help='extra spike; AT is "HH:MM" (local, daily) or "+DURATION" after --start, '
        "e.g. 12:00,45m,1.8,sales or +5m,10m,3 (repeatable)",
    )
    model.add_argument("--flat", action="store_true", help="ignore the time-of-day profile")
    model.add_argument("--timezone", metavar="TZ", help="IANA zone of profile, spikes and shifts")

    run = parser.add_argument_group("time")
    run.add_argument(
        "--start",
        metavar="WHEN",
        help="event time of the first instant: now, -2h, now-30m, epoch seconds or "
        "2026-11-23T08:00:00+01:00 (default: now; with --speed 0, now minus --duration)",
    )
    run.add_argument(
        "--duration",
        type=duration,
        help="simulated time span, e.g. 90m, 8h, 1d (default: the scenario's, else 1h)",
    )
    run.add_argument(
        "--speed",
        type=speed,
        help="simulated seconds per wall-clock second: 1 = real time, 60 = an hour a "
        "minute, 0 = as fast as possible (default: 1 to Kafka, 0 with --output)",
    )
    run.add_argument(
        "--catch-up",
        action="store_true",
        help="send the events before now at once, then continue at --speed from now "
        "(with --start in the past: history first, then live)",
    )

    out = parser.add_argument_group("output")
    out.add_argument(
        "--output", "-o", metavar="FILE", help="write JSONL to FILE ('-' = stdout) instead of Kafka"
    )
    out.add_argument(
        "--truth",
        metavar="FILE",
        help="write the ground truth (per-queue totals of what was emitted) as JSON",
    )
    out.add_argument(
        "--allow-future",
        action="store_true",
        help="publish even if events would be more than 300 s ahead of the wall clock",
    )
    out.add_argument("--quiet", "-q", action="store_true", help="no summary on stderr")
    add_kafka_arguments(parser)


# --- scenario ----------------------------------------------------------------------------


def load_scenario_data(path: str | None) -> dict[str, Any]:
    """The scenario file's mapping (the built-in office day without a file)."""
    if path is None:
        return DEFAULT_SCENARIO
    try:
        return read_yaml_mapping(path, f"--scenario {path}")
    except ConfigError as error:
        raise OptionError(str(error)) from None


def _spike_entry(text: str) -> dict[str, Any]:
    parts = [part.strip() for part in text.split(",")]
    if len(parts) < 3:
        raise OptionError(f"--spike {text!r}: expected AT,DURATION,FACTOR[,QUEUE...]")
    try:
        factor = float(parts[2])
    except ValueError:
        raise OptionError(f"--spike {text!r}: FACTOR must be a number, got {parts[2]!r}") from None
    return {"at": parts[0], "duration": parts[1], "factor": factor, "queues": parts[3:]}


def customise(data: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    """The scenario mapping with the command-line changes applied."""
    data = dict(data)
    if args.rate_scale != 1.0:
        if args.rate_scale < 0:
            raise OptionError(f"--rate-scale: must be >= 0, got {args.rate_scale}")
        data["queues"] = {
            name: {**spec, "arrivals_per_hour": spec["arrivals_per_hour"] * args.rate_scale}
            if isinstance(spec, dict) and "arrivals_per_hour" in spec
            else spec
            for name, spec in (data.get("queues") or {}).items()
        }
    if args.spike:
        data["spikes"] = [*(data.get("spikes") or []), *(_spike_entry(s) for s in args.spike)]
    if args.flat:
        data["profile"] = "flat"
    if args.timezone:
        data["timezone"] = args.timezone
    return data


def build_scenario(args: argparse.Namespace) -> Scenario:
    data = customise(load_scenario_data(args.scenario), args)
    try:
        return scenario_from_dict(data)
    except ConfigError as error:
        source = args.scenario or "the built-in scenario"
        raise OptionError(f"{source}: {error}") from None


# --- time --------------------------------------------------------------------------------


def max_lead(start: float, end: float, speed_: float, origin: float, wall_now: float) -> float:
    """The largest ``ts − wall clock when it is sent`` over the run (piecewise linear in
    ts, so its maximum is at an end or at the pacing origin)."""

    def lead(ts: float) -> float:
        if speed_ == 0:
            return ts - wall_now
        return ts - wall_now - max(0.0, (ts - origin) / speed_)

    points = [start, end] + ([origin] if start < origin < end else [])
    return max(lead(ts) for ts in points)


@dataclass(frozen=True, slots=True)
class Timing:
    start: float
    duration: float
    speed: float
    origin: float  # event time that is "now" at the wall-clock start of sending


def timing(args: argparse.Namespace, scenario: Scenario, to_kafka: bool, now: float) -> Timing:
    span = args.duration or scenario.duration or DEFAULT_DURATION
    if span <= 0:
        raise OptionError("--duration: must be > 0")
    pace = args.speed if args.speed is not None else (1.0 if to_kafka else 0.0)
    if args.start is None:
        start = float(int(now - span)) if pace == 0 else float(int(now))
    else:
        start = parse_instant("--start", args.start, now)
    origin = catch_up_origin(start, now) if args.catch_up else start
    if args.catch_up and pace == 0:
        raise OptionError("--catch-up: needs a --speed > 0 (with 0 everything is sent at once)")
    return Timing(start, span, pace, origin)


def check_future(t: Timing, now: float) -> None:
    lead = max_lead(t.start, t.start + t.duration, t.speed, t.origin, now)
    if lead > MAX_FUTURE_SKEW:
        raise OptionError(
            f"--start/--speed: events would reach Kafka up to {lead / 60:.0f} min ahead of the "
            f"wall clock, and workers reject events more than {MAX_FUTURE_SKEW:g} s in the "
            "future (implausible_timestamp). Use real time (--speed 1), or a --start in the "
            "past that the run does not overtake (e.g. --speed 0 --start -1h --duration 1h), "
            "or --allow-future if your workers accept that"
        )


# --- running -----------------------------------------------------------------------------


async def publish(sim: Simulation, sink: Sink, pacer: Pacer, progress: Progress) -> Outcome:
    outcome = Outcome()
    span = sim.end - sim.start
    async with publishing(sink, progress, outcome):
        for event in sim.events():
            await pacer.wait(event.ts)
            await sink.send(encode(event), queues_of(event))
            outcome.events += 1
            if outcome.events % YIELD_EVERY == 0:
                await checkpoint()
            if progress.enabled:
                clock = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(event.ts))
                progress.update(
                    (event.ts - sim.start) / span, f"{clock}Z  {outcome.events:,} events"
                )
    return outcome


def truth_document(sim: Simulation, seed: int, outcome: Outcome) -> dict[str, Any]:
    truth = sim.truth.to_json()
    return {
        "seed": seed,
        "start": sim.start,
        "end": sim.end,
        "simulated_until": sim.now,
        "complete": outcome.complete,
        "events": outcome.events,
        "records": outcome.records,
        "agent_events": sim.truth.agent_events,
        "thresholds": truth["thresholds"],
        "queues": truth["queues"],
        "arrivals": sim.arrivals,
    }


def summary(sim: Simulation, sink: Sink, outcome: Outcome, seed: int) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sim.start))
    state = "" if outcome.complete else " (interrupted)"
    lines = [
        f"simulated {(sim.now - sim.start) / 3600:.2f} h from {when}Z (seed {seed}){state}: "
        f"{outcome.events:,} events, {outcome.records:,} records to {sink.describe()} "
        f"in {outcome.seconds:.1f} s",
        f"{'queue':<20} {'entered':>8} {'answered':>8} {'abandoned':>9} {'SL':>6}",
    ]
    key = next(iter(sim.truth.thresholds), 20.0)
    for name, q in sorted(sim.truth.queues.items()):
        within = q.answered_within.get(f"{key:g}", 0)
        sl = f"{within / q.offered:6.1%}" if q.offered else "     -"
        lines.append(f"{name:<20} {q.entered:>8} {q.answered:>8} {q.abandoned:>9} {sl}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # errors are reported below
    now = time.time()
    try:
        scenario = build_scenario(args)
        seed = args.seed if args.seed is not None else (scenario.seed or DEFAULT_SEED)
        to_kafka = args.output is None
        when = timing(args, scenario, to_kafka, now)
        if to_kafka and not args.allow_future:
            check_future(when, now)
        sink: Sink = (
            KafkaSink(kafka_settings(args), "simulate", args.create_topics)
            if to_kafka
            else JsonlSink(args.output)
        )
    except OptionError as error:
        print(f"callpulse simulate: {error}", file=sys.stderr)
        return 2
    sim = Simulation(scenario, when.start, when.duration, seed)
    pacer = Pacer(when.speed, when.origin)
    progress = Progress("simulate", enabled=None if args.output != "-" else False)
    try:
        outcome = run_cancellable(publish(sim, sink, pacer, progress))
    except PublishError as error:
        print(f"callpulse simulate: {error}", file=sys.stderr)
        return 1
    if args.truth:
        Path(args.truth).write_bytes(
            orjson.dumps(truth_document(sim, seed, outcome), option=orjson.OPT_INDENT_2)
        )
    if not args.quiet:
        print(summary(sim, sink, outcome, seed), file=sys.stderr)
    return 0 if outcome.complete else 130
