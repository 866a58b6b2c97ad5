"""A discrete-event contact-center simulation that emits canonical events (docs/simulator.md).

Pure and deterministic: no I/O, no clock; the same scenario, start, duration and seed give
the same events, in event-time order. The model:

- arrivals per queue: a non-homogeneous Poisson process (thinning) whose rate is the
  queue's ``arrivals_per_hour`` × the time-of-day profile × active spikes;
- routing: an arriving call goes to the longest-idle agent with the skill, else waits;
  a freed agent takes the highest-priority, longest-waiting call of its queues;
- each waiting caller has an exponential patience (abandonment emerges from the waits, as
  in Erlang A), optional flow-out (``overflow``) and queue timeout (``max_wait``);
- talk, hold and after-call work are lognormal; answered calls may be transferred;
- agents follow shifts (logged_in -> available ...), planned breaks and unplanned
  not-ready spells, taken when the current call and its wrap-up are done;
- surveys after some calls; abandoned callers may redial; some callers are repeat callers.

Agent events name every queue the agent serves; publishers fan them out per queue.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from enum import Enum
from typing import Any
from zoneinfo import ZoneInfo

from .events import (
    AfterCallWorkEnded,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEnqueued,
    CallLeft,
    CallTransferred,
    Event,
    LeaveReason,
    SurveyResult,
)
from .scenario import DAY, LogNormal, QueueSpec, Scenario, Spike
from .sim_truth import GroundTruth

READY_DELAY = (2.0, 30.0)  # seconds from logged_in to available
SURVEY_DELAY = (30.0, 900.0)  # seconds from the end of the call to the survey answer
RECENT_CALLERS = 5000  # per queue, for repeat callers


class _Phase(Enum):
    WAITING = 1
    SERVED = 2
    GONE = 3


class _Call:
    __slots__ = ("base", "call_id", "caller", "enqueued_ts", "leg", "phase", "visits")

    def __init__(self, base: str, caller: str) -> None:
        self.base = base
        self.caller = caller
        self.call_id = base
        self.enqueued_ts = 0.0
        self.leg = 0  # bumped at every enqueue: stale timers of an earlier queue do nothing
        self.phase = _Phase.WAITING
        self.visits: dict[str, int] = {}


class _Agent:
    __slots__ = ("epoch", "id", "leaving", "pending", "queues", "state")

    def __init__(self, agent_id: str, queues: tuple[str, ...]) -> None:
        self.id = agent_id
        self.queues = queues
        self.state = AgentState.LOGGED_OUT
        self.epoch = 0  # bumped at login and logout: stale timers do nothing
        self.leaving = False  # shift over: log out once the current call is wrapped up
        self.pending: list[tuple[str, float]] = []  # not-ready spells waiting for the call


def lognormal(rng: random.Random, dist: LogNormal) -> float:
    """A lognormal sample with mean ``dist.mean`` (mu = ln(mean) − sigma²/2)."""
    if dist.sigma == 0:
        return dist.mean
    return rng.lognormvariate(math.log(dist.mean) - dist.sigma**2 / 2, dist.sigma)


def run_token(seed: int, start: float) -> str:
    """Prefix of event and call ids: stable for (seed, start), different across runs."""
    return hashlib.blake2b(f"{seed}:{start!r}".encode(), digest_size=4).hexdigest()


class Simulation:
    """One run. Iterate :meth:`events`; :attr:`truth` counts what has been emitted."""

    def __init__(self, scenario: Scenario, start: float, duration: float, seed: int) -> None:
        if duration <= 0:
            raise ValueError(f"duration must be > 0, got {duration!r}")
        self.scenario = scenario
        self.start = float(start)
        self.end = self.start + float(duration)
        self.rng = random.Random(seed)
        self.truth = GroundTruth(scenario.sl_thresholds)
        # per queue: fresh arrivals, redials, calls entering by transfer or overflow
        self.arrivals: dict[str, dict[str, int]] = {
            q.name: {"fresh": 0, "redial": 0, "transfer_in": 0, "overflow_in": 0}
            for q in scenario.queues
        }
        self.now = self.start
        self._tz = ZoneInfo(scenario.timezone)
        self._token = run_token(seed, self.start)
        self._ids = 0
        self._calls = 0
        self._heap: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self._seq = 0
        self._out: list[Event] = []
        self._specs = {q.name: q for q in scenario.queues}
        self._waiting: dict[str, deque[tuple[_Call, int]]] = {q: deque() for q in self._specs}
        self._idle: dict[str, _Agent] = {}  # insertion order = longest idle first
        self._recent: dict[str, deque[tuple[float, str]]] = {
            q: deque(maxlen=RECENT_CALLERS) for q in self._specs
        }
        self._peak = {q.name: self._peak_rate(q) for q in scenario.queues}
        self._schedule_arrivals()
        self._schedule_agents()

    # --- the loop -----------------------------------------------------------------------

    def events(self) -> Iterator[Event]:
        """Every event with ``start <= ts < start + duration``, in event-time order."""
        heap, out, observe = self._heap, self._out, self.truth.observe
        while heap:
            at, _, handler, args = heapq.heappop(heap)
            if at >= self.end:
                break
            self.now = at
            handler(*args)
            if out:
                for event in out:
                    observe(event)
                    yield event
                out.clear()
        self.now = self.end

    def _at(self, at: float, handler: Callable[..., None], *args: Any) -> None:
        if at < self.end:
            self._seq += 1
            heapq.heappush(self._heap, (at, self._seq, handler, args))

    def _next_id(self) -> str:
        self._ids += 1
        return f"{self._token}-{self._ids}"

    def _ts(self) -> float:
        return round(self.now, 3)  # milliseconds, like most platforms

    # --- traffic ------------------------------------------------------------------------

    def _local_second(self, at: float) -> float:
        local = datetime.fromtimestamp(at, self._tz)
        return local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6

    def profile_factor(self, at: float) -> float:
        points = self.scenario.profile
        if not points:
            return 1.0
        second = self._local_second(at)
        # Piecewise linear, wrapping from the last point to the first one of the next day.
        for (s0, f0), (s1, f1) in itertools.pairwise(points):
            if s0 <= second < s1:
                return f0 + (f1 - f0) * (second - s0) / (s1 - s0)
        last_s, last_f = points[-1]
        first_s, first_f = points[0]
        span = first_s + DAY - last_s
        into = (second - last_s) % DAY
        return last_f + (first_f - last_f) * into / span

    def _spike_active(self, spike: Spike, at: float) -> bool:
        if spike.offset is not None:
            begin = self.start + spike.offset
            return begin <= at < begin + spike.duration
        assert spike.time_of_day is not None
        return (self._local_second(at) - spike.time_of_day) % DAY < spike.duration

    def rate(self, queue: str, at: float) -> float:
        """Arrivals per second of fresh calls at ``at``."""
        spec = self._specs[queue]
        rate = spec.arrivals_per_hour / 3600.0 * self.profile_factor(at)
        for spike in self.scenario.spikes:
            if (not spike.queues or queue in spike.queues) and self._spike_active(spike, at):
                rate *= spike.factor
        return rate

    def _peak_rate(self, spec: QueueSpec) -> float:
        peak = (
            spec.arrivals_per_hour
            / 3600.0
            * max((f for _, f in self.scenario.profile), default=1.0)
        )
        for spike in self.scenario.spikes:
            if not spike.queues or spec.name in spike.queues:
                peak *= max(spike.factor, 1.0)
        return peak

    def _schedule_arrivals(self) -> None:
        for name, peak in self._peak.items():
            if peak > 0:
                self._at(self.start + self.rng.expovariate(peak), self._candidate, name)

    def _candidate(self, queue: str) -> None:
        # Thinning (Lewis-Shedler): candidates at the peak rate, kept with rate(t)/peak.
        peak = self._peak[queue]
        self._at(self.now + self.rng.expovariate(peak), self._candidate, queue)
        if self.rng.random() * peak >= self.rate(queue, self.now):
            return
        self.arrivals[queue]["fresh"] += 1
        self._enqueue(_Call(self._new_call_id(), self._caller(queue)), queue)

    def _redial(self, queue: str, caller: str) -> None:
        self.arrivals[queue]["redial"] += 1
        self._enqueue(_Call(self._new_call_id(), caller), queue)

    def _new_call_id(self) -> str:
        self._calls += 1
        return f"{self._token}-c{self._calls}"

    def _caller(self, queue: str) -> str:
        spec, recent = self._specs[queue], self._recent[queue]
        while recent and recent[0][0] < self.now - spec.repeat_window:
            recent.popleft()
        if recent and spec.repeat_share and self.rng.random() < spec.repeat_share:
            caller = recent[self.rng.randrange(len(recent))][1]
        else:
            caller = f"+4930{self.rng.randrange(10**8):08d}"
        recent.append((self.now, caller))
        return caller

    # --- calls --------------------------------------------------------------------------

    def _enqueue(self, call: _Call, queue: str) -> None:
        spec = self._specs[queue]
        visits = call.visits.get(queue, 0) + 1
        call.visits[queue] = visits
        # A call id names one visit of a queue: a second visit is another call there.
        call.call_id = call.base if visits == 1 else f"{call.base}.{visits}"
        call.leg += 1
        call.phase = _Phase.WAITING
        call.enqueued_ts = self._ts()
        self._out.append(
            CallEnqueued(
                self._next_id(),
                call.enqueued_ts,
                queue,
                call.call_id,
                call.caller,
                spec.priority,
                spec.channel,
            )
        )
        for agent in self._idle.values():
            if queue in agent.queues:
                self._answer(agent, call, queue)
                return
        self._waiting[queue].append((call, call.leg))
        deadlines = []
        if spec.patience is not None:
            deadlines.append((self.rng.expovariate(1.0 / spec.patience), "abandon"))
        if spec.overflow_after is not None:
            deadlines.append((spec.overflow_after, "overflow"))
        if spec.max_wait is not None:
            deadlines.append((spec.max_wait, "timeout"))
        if deadlines:
            after, kind = min(deadlines)
            self._at(self.now + after, self._leave, call, call.leg, queue, kind)

    def _leave(self, call: _Call, leg: int, queue: str, kind: str) -> None:
        if call.leg != leg or call.phase is not _Phase.WAITING:
            return  # answered (or moved on) in time
        call.phase = _Phase.GONE
        ts, spec = self._ts(), self._specs[queue]
        if kind == "abandon":
            self._out.append(CallAbandoned(self._next_id(), ts, queue, call.call_id))
            if spec.redial_probability and self.rng.random() < spec.redial_probability:
                delay = self.rng.expovariate(1.0 / spec.redial_mean)
                self._at(self.now + delay, self._redial, queue, call.caller)
        elif kind == "overflow":
            target = spec.overflow_to
            self._out.append(
                CallLeft(self._next_id(), ts, queue, call.call_id, LeaveReason.OVERFLOW, target)
            )
            assert target is not None
            self.arrivals[target]["overflow_in"] += 1
            self._enqueue(call, target)
        else:
            self._out.append(
                CallLeft(self._next_id(), ts, queue, call.call_id, LeaveReason.TIMEOUT)
            )

    def _next_call(self, agent: _Agent) -> tuple[_Call, str] | None:
        """The highest-priority, longest-waiting call among the agent's queues."""
        best: tuple[int, float, str] | None = None
        for queue in agent.queues:
            waiting = self._waiting[queue]
            while waiting and (
                waiting[0][0].leg != waiting[0][1] or waiting[0][0].phase is not _Phase.WAITING
            ):
                waiting.popleft()  # answered, abandoned or moved on: drop lazily
            if waiting:
                key = (-self._specs[queue].priority, waiting[0][0].enqueued_ts, queue)
                if best is None or key < best:
                    best = key
        if best is None:
            return None
        call, _ = self._waiting[best[2]].popleft()
        return call, best[2]

    def _answer(self, agent: _Agent, call: _Call, queue: str) -> None:
        self._idle.pop(agent.id, None)
        call.phase = _Phase.SERVED
        ts, spec, rng = self._ts(), self._specs[queue], self.rng
        self._out.append(CallAnswered(self._next_id(), ts, queue, call.call_id, agent.id))
        self._agent_state(agent, AgentState.ON_CONTACT)
        talk = lognormal(rng, spec.talk)
        hold = lognormal(rng, spec.hold) if rng.random() < spec.hold_probability else 0.0
        wait = ts - call.enqueued_ts
        self._at(
            self.now + talk + hold,
            self._talk_end,
            agent,
            call,
            queue,
            call.call_id,
            talk,
            hold,
            wait,
        )

    def _talk_end(
        self,
        agent: _Agent,
        call: _Call,
        queue: str,
        call_id: str,
        talk: float,
        hold: float,
        wait: float,
    ) -> None:
        spec, rng, ts = self._specs[queue], self.rng, self._ts()
        transferred = spec.transfer_probability > 0 and rng.random() < spec.transfer_probability
        target = rng.choice(spec.transfer_to) if transferred and spec.transfer_to else None
        if transferred:
            self._out.append(
                CallTransferred(self._next_id(), ts, queue, call_id, agent.id, to_queue=target)
            )
        self._out.append(
            CallEnded(self._next_id(), ts, queue, call_id, agent.id, round(talk, 3), round(hold, 3))
        )
        if target is not None:
            self.arrivals[target]["transfer_in"] += 1
            self._enqueue(call, target)
        acw = 0.0
        if spec.acw is not None:
            acw = lognormal(rng, spec.acw)
            self._agent_state(agent, AgentState.AFTER_CALL_WORK)
            self._at(self.now + acw, self._acw_end, agent, queue, call_id, acw)
        else:
            self._free(agent)
        if not transferred and spec.survey_probability and rng.random() < spec.survey_probability:
            self._at(
                self.now + acw + rng.uniform(*SURVEY_DELAY), self._survey, queue, call_id, wait
            )

    def _acw_end(self, agent: _Agent, queue: str, call_id: str, acw: float) -> None:
        self._out.append(
            AfterCallWorkEnded(self._next_id(), self._ts(), queue, call_id, agent.id, round(acw, 3))
        )
        self._free(agent)

    def _survey(self, queue: str, call_id: str, wait: float) -> None:
        rng = self.rng
        # Long waits make unhappy customers; not everyone answers every question.
        csat = min(5, max(1, round(4.4 - wait / 90 + rng.gauss(0, 0.8))))
        nps = (
            min(10, max(0, round(8.2 - wait / 45 + rng.gauss(0, 1.8))))
            if rng.random() < 0.7
            else None
        )
        resolved = rng.random() < 0.8 if rng.random() < 0.8 else None
        self._out.append(
            SurveyResult(self._next_id(), self._ts(), queue, call_id, csat, nps, resolved)
        )

    # --- agents -------------------------------------------------------------------------

    def _agent_state(self, agent: _Agent, state: AgentState, reason: str | None = None) -> None:
        agent.state = state
        self._out.append(
            AgentStateChanged(self._next_id(), self._ts(), agent.id, state, agent.queues, reason)
        )

    def _schedule_agents(self) -> None:
        scenario, rng = self.scenario, self.rng
        for group in scenario.agents:
            for i in range(group.count):
                agent = _Agent(f"agent-{group.name}-{i + 1:03d}", group.queues)
                offset = group.stagger * i / group.count
                for begin, finish in self._shifts(group.shift.start, group.shift.end, offset):
                    login = max(begin, self.start)
                    if login >= min(finish, self.end):
                        continue
                    self._at(login, self._login, agent, finish)
                    for spell in scenario.breaks:
                        jitter = rng.uniform(-1, 1) * scenario.break_jitter
                        at = begin + spell.after + jitter
                        if login < at < finish:
                            self._at(
                                at,
                                self._request_not_ready,
                                agent,
                                None,
                                spell.reason,
                                spell.duration,
                            )

    def _shifts(
        self, start: float | None, end: float | None, offset: float
    ) -> list[tuple[float, float]]:
        """(login, logout) instants of a shift around the run, local wall-clock times."""
        if start is None or end is None:
            return [(self.start, math.inf)]
        out = []
        day = datetime.fromtimestamp(self.start, self._tz).date() - timedelta(days=1)
        last = datetime.fromtimestamp(self.end, self._tz).date()
        while day <= last:
            midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz)
            length = (end - start) % DAY
            # Wall-clock arithmetic (aware datetime + timedelta): 08:00 stays 08:00 over DST.
            begin = (midnight + timedelta(seconds=start + offset)).timestamp()
            finish = (midnight + timedelta(seconds=start + offset + length)).timestamp()
            if finish > self.start and begin < self.end:
                out.append((begin, finish))
            day += timedelta(days=1)
        return out

    def _login(self, agent: _Agent, logout_at: float) -> None:
        agent.epoch += 1
        agent.pending.clear()
        agent.leaving = False
        self._agent_state(agent, AgentState.LOGGED_IN)
        self._at(self.now + self.rng.uniform(*READY_DELAY), self._ready, agent, agent.epoch)
        if logout_at < math.inf:
            self._at(logout_at, self._shift_end, agent, agent.epoch)
        self._schedule_unplanned(agent)

    def _schedule_unplanned(self, agent: _Agent) -> None:
        spec = self.scenario.not_ready
        if spec.per_hour > 0:
            at = self.now + self.rng.expovariate(spec.per_hour / 3600.0)
            self._at(at, self._unplanned, agent, agent.epoch)

    def _unplanned(self, agent: _Agent, epoch: int) -> None:
        if agent.epoch != epoch:
            return
        spec, rng = self.scenario.not_ready, self.rng
        reason = rng.choice(spec.reasons)
        self._request_not_ready(agent, epoch, reason, rng.expovariate(1.0 / spec.mean))
        self._schedule_unplanned(agent)

    def _request_not_ready(
        self, agent: _Agent, epoch: int | None, reason: str, length: float
    ) -> None:
        if agent.state is AgentState.LOGGED_OUT or (epoch is not None and agent.epoch != epoch):
            return
        if agent.state is AgentState.AVAILABLE:
            self._idle.pop(agent.id, None)
            self._not_ready(agent, reason, length)
        else:  # busy, wrapping up, not ready yet or already on a break: after that
            agent.pending.append((reason, length))

    def _not_ready(self, agent: _Agent, reason: str, length: float) -> None:
        self._agent_state(agent, AgentState.NOT_READY, reason)
        self._at(self.now + length, self._ready, agent, agent.epoch)

    def _ready(self, agent: _Agent, epoch: int) -> None:
        if agent.epoch == epoch:
            self._free(agent)

    def _shift_end(self, agent: _Agent, epoch: int) -> None:
        if agent.epoch != epoch:
            return
        if agent.state in (AgentState.ON_CONTACT, AgentState.AFTER_CALL_WORK):
            agent.leaving = True
        else:
            self._logout(agent)

    def _logout(self, agent: _Agent) -> None:
        self._idle.pop(agent.id, None)
        agent.epoch += 1
        agent.pending.clear()
        agent.leaving = False
        self._agent_state(agent, AgentState.LOGGED_OUT)

    def _free(self, agent: _Agent) -> None:
        """The agent is done with a call, a break or logging in: what next?"""
        if agent.leaving:
            self._logout(agent)
        elif agent.pending:
            self._not_ready(agent, *agent.pending.pop(0))
        else:
            # Platforms report "available" between calls, even when the next one is waiting.
            if agent.state is not AgentState.AVAILABLE:
                self._agent_state(agent, AgentState.AVAILABLE)
            found = self._next_call(agent)
            if found is not None:
                self._answer(agent, *found)
            else:
                self._idle[agent.id] = agent


def simulate(scenario: Scenario, start: float, duration: float, seed: int) -> Iterator[Event]:
    """The events of one run (see :class:`Simulation` for the ground truth)."""
    return Simulation(scenario, start, duration, seed).events()
