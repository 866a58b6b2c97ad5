"""Deterministic synthetic contact-center streams for tests and benchmarks.

Calls arrive at every queue (Poisson); 75 % are answered (then ended, and half of them get
an after-call-work event), 25 % abandon; agents go on_contact when they answer and back to
available after the call. That gives roughly a quarter each of enqueues, outcomes,
ended/acw and agent states. A few percent of events arrive up to 5 s late, as with
several producers. (The full simulator with time-of-day profiles is `callpulse simulate`.)
"""

from __future__ import annotations

import random

from .events import (
    AfterCallWorkEnded,
    AgentState,
    AgentStateChanged,
    CallAbandoned,
    CallAnswered,
    CallEnded,
    CallEnqueued,
    Event,
)

T0 = 1_790_000_000.0


def synthetic_stream(
    queues: int,
    events: int,
    calls_per_queue_per_s: float,
    seed: int = 1,
    start: float = T0,
) -> list[tuple[Event, str]]:
    """About ``events`` (event, key) pairs in arrival order."""
    rng = random.Random(seed)
    calls = int(events / 4.625) + 1  # 2 events per call, 3.5 more for the 75 % answered
    rate = queues * calls_per_queue_per_s
    out: list[tuple[float, Event, str]] = []
    t = start
    for n in range(calls):
        t += rng.expovariate(rate)
        queue = f"queue-{rng.randrange(queues)}"
        cid = f"call-{n}"
        agent = f"agent-{rng.randrange(20)}-{queue}"
        caller = f"+49{rng.randrange(10**6)}" if rng.random() < 0.8 else None
        out.append((t, CallEnqueued(f"e{n}.0", t, queue, cid, caller_id=caller), queue))
        wait = rng.expovariate(1 / 25)
        answered_at = t + wait
        if rng.random() < 0.25:
            out.append((answered_at, CallAbandoned(f"e{n}.1", answered_at, queue, cid), queue))
            continue
        out.append((answered_at, CallAnswered(f"e{n}.1", answered_at, queue, cid, agent), queue))
        on = AgentStateChanged(f"e{n}.a", answered_at, agent, AgentState.ON_CONTACT, (queue,))
        out.append((answered_at, on, queue))
        talk = rng.expovariate(1 / 180)
        ended = answered_at + talk
        out.append((ended, CallEnded(f"e{n}.2", ended, queue, cid, agent, talk, 0.0), queue))
        done = ended
        if rng.random() < 0.5:
            done = ended + rng.expovariate(1 / 30)
            acw = AfterCallWorkEnded(f"e{n}.3", done, queue, cid, agent, done - ended)
            out.append((done, acw, queue))
        free = AgentStateChanged(f"e{n}.b", done, agent, AgentState.AVAILABLE, (queue,))
        out.append((done, free, queue))
    # Arrival order: by timestamp, except a few percent delayed by up to 5 s.
    keyed = [(t + (rng.uniform(0, 5) if rng.random() < 0.05 else 0.0), e, q) for t, e, q in out]
    keyed.sort(key=lambda item: item[0])
    return [(e, q) for _, e, q in keyed]
