"""Erlang B / C / A staffing math (pure standard library, stable up to thousands of agents).

Notation: arrival rate λ (calls/s), mean handle time ``aht_s`` = 1/μ, offered traffic
A = λ·AHT (Erlangs), N agents, service-level threshold T (s), mean patience 1/θ (s).
Formulas, definitions and a worked example: docs/staffing.md.

Public API
----------
``erlang_b(traffic, agents) -> float``
    Blocking probability of M/M/N/N, by the recursion B(n) = A·B(n−1)/(n + A·B(n−1)).
``erlang_c(traffic, agents) -> float``
    P(wait > 0) in M/M/N; 1.0 when agents <= traffic (unstable queue).
``erlang_c_service_level(traffic, agents, aht_s, threshold_s) -> float``
    P(wait <= T) = 1 − C·exp(−(N−A)·T/AHT); 0.0 when unstable.
``erlang_c_asa(traffic, agents, aht_s) -> float``
    Mean wait C·AHT/(N−A); ``math.inf`` when unstable (the queue grows without bound).
``erlang_a(traffic, agents, aht_s, patience_s, threshold_s) -> ErlangA``
    M/M/N+M (Palm) with exponential patience: p_wait, p_abandon, service_level (fraction
    of *all arrivals* answered within T), asa_s (mean wait of *answered* calls, None when
    nobody is answered), mean_wait_s (mean wait of all arrivals = p_abandon·patience).
    Valid for any N, including N <= A.
``service_level(arrival_rate_per_s, aht_s, agents, threshold_s, patience_s=None)``
    The service level ``agents_required`` searches on: Erlang C when ``patience_s`` is None
    or infinite, Erlang A otherwise. None when there are no arrivals.
``patience_mle(total_wait_s, abandons) -> float | None``
    Censored exponential MLE of mean patience; None without abandons.
``agents_required(arrival_rate_per_s, aht_s, threshold_s, target_sl, patience_s=None,
max_agents=DEFAULT_MAX_AGENTS, guess=None) -> int | None``
    Smallest N with service_level(N) >= target_sl; None when no N <= max_agents reaches it.
    ``guess`` (a recent answer) starts the Erlang A search there: same answer, faster.
``staffing(arrival_rate_per_s, aht_s, threshold_s, target_sl, agents_now, patience_s=None,
guess=None) -> Staffing``
    Required agents, gap and the performance predicted for ``agents_now``.

Invalid inputs (negative, NaN, target outside [0, 1]) raise ValueError.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from mypy_extensions import mypyc_attr

__all__ = [
    "DEFAULT_MAX_AGENTS",
    "ErlangA",
    "Staffing",
    "agents_required",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_asa",
    "erlang_c_service_level",
    "patience_mle",
    "service_level",
    "staffing",
]

DEFAULT_MAX_AGENTS = 10_000

# Relative truncation error of the series; below double precision.
_EPS = 1e-17

Model = Literal["erlang_c", "erlang_a"]
_SLFunction = Callable[[int], float]


@dataclass(slots=True, frozen=True)
class ErlangA:
    """Steady-state M/M/N+M performance (probabilities are per arriving call)."""

    p_wait: float  # P(all agents busy on arrival)
    p_abandon: float  # P(the call hangs up before being answered)
    service_level: float  # P(answered within T), over all arrivals
    asa_s: float | None  # mean wait of answered calls; None when none is answered
    mean_wait_s: float  # mean time in queue over all arrivals (answered and abandoned)


@mypyc_attr(native_class=False)  # compiled: a plain class, so fields take any value (approx)
@dataclass(slots=True, frozen=True)
class Staffing:
    """Staffing advice for one queue; undefined values are None, never a fake 0 or 100%."""

    agents_required: int | None  # None: unreachable target or no AHT data
    gap: int | None  # agents_required − agents_now (negative = surplus)
    predicted_sl: float | None  # at agents_now
    predicted_asa_s: float | None  # at agents_now; inf when Erlang C is unstable
    predicted_abandon_ratio: float | None  # at agents_now; None for Erlang C
    model: Model
    traffic_erlangs: float | None = None


# --------------------------------------------------------------------------- validation


def _check_nonneg(name: str, value: float) -> float:
    value = float(value)
    if not value >= 0.0 or math.isinf(value):  # "not >=" also rejects NaN
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return value


def _check_agents(agents: int) -> int:
    n = operator.index(agents)  # rejects floats: staffing math needs whole agents
    if n < 0:
        raise ValueError(f"agents must be >= 0, got {n}")
    return n


MIN_PATIENCE_S: Final = 1e-9


def _check_patience(patience_s: float | None) -> float | None:
    """None (or +inf) means infinitely patient callers, i.e. Erlang C."""
    if patience_s is None:
        return None
    patience_s = float(patience_s)
    if patience_s == math.inf:
        return None
    patience_s = _check_nonneg("patience_s", patience_s)
    # Below a nanosecond the answer is the zero-patience one to every printed digit, and
    # the series' scale factors would underflow (a domain error at 5e-324).
    return 0.0 if patience_s < MIN_PATIENCE_S else patience_s


def _check_target(target_sl: float) -> float:
    target_sl = float(target_sl)
    if not 0.0 <= target_sl <= 1.0:
        raise ValueError(f"target_sl must be in [0, 1], got {target_sl!r}")
    return target_sl


# ------------------------------------------------------------------- Erlang B and C


def _erlang_b_step(traffic: float, n: int, b_prev: float) -> float:
    # Bounded in [0, 1] at every step, so no factorial or power can overflow.
    ab = traffic * b_prev
    return ab / (n + ab)


def erlang_b(traffic: float, agents: int) -> float:
    """Erlang B blocking probability for ``traffic`` Erlangs offered to ``agents`` lines."""
    traffic = _check_nonneg("traffic", traffic)
    n_max = _check_agents(agents)
    b = 1.0
    for n in range(1, n_max + 1):
        b = _erlang_b_step(traffic, n, b)
    return b


def _c_from_b(traffic: float, n: int, b: float) -> float:
    if n <= traffic:
        return 1.0
    return n * b / (n - traffic * (1.0 - b))


def erlang_c(traffic: float, agents: int) -> float:
    """Probability that a call waits (M/M/N); 1.0 when agents <= traffic."""
    return _c_from_b(float(traffic), agents, erlang_b(traffic, agents))


def _erlang_c_sl(traffic: float, n: int, b: float, t_over_aht: float) -> float:
    if n <= traffic:
        return 0.0  # unstable: waits grow without bound
    c = _c_from_b(traffic, n, b)
    return 1.0 - c * math.exp(-(n - traffic) * t_over_aht)


def erlang_c_service_level(traffic: float, agents: int, aht_s: float, threshold_s: float) -> float:
    """P(wait <= threshold_s) under Erlang C; 0.0 when agents <= traffic."""
    aht_s = _check_nonneg("aht_s", aht_s)
    threshold_s = _check_nonneg("threshold_s", threshold_s)
    if aht_s == 0.0:
        raise ValueError("aht_s must be > 0")
    b = erlang_b(traffic, agents)
    return _erlang_c_sl(float(traffic), agents, b, threshold_s / aht_s)


def erlang_c_asa(traffic: float, agents: int, aht_s: float) -> float:
    """Mean wait (s) under Erlang C; ``math.inf`` when agents <= traffic."""
    aht_s = _check_nonneg("aht_s", aht_s)
    traffic = float(traffic)
    c = erlang_c(traffic, agents)
    if agents <= traffic:
        return math.inf
    return c * aht_s / (agents - traffic)


# --------------------------------------------------------------------------- Erlang A
#
# With x = λ/θ, y = Nμ/θ and a = y + 1, every Erlang A quantity reduces to the series
#     M(a, z) = Σ_{m>=0} t_m,   t_m = z^m / ((a+1)(a+2)…(a+m))      (= 1F1(1; a+1; z))
# and two of its moments (docs/staffing.md has the derivation). The terms are log-concave
# in m, so we sum outward from the largest term with the sums scaled by it: no overflow
# even when λ/θ is in the hundreds of thousands, and O(sqrt(z)) terms.


def _digamma(v: float) -> float:
    shift = 0.0
    while v < 10.0:  # recurrence up to where the asymptotic series is accurate
        shift -= 1.0 / v
        v += 1.0
    f = 1.0 / (v * v)
    tail = f * (1 / 12 - f * (1 / 120 - f * (1 / 252 - f * (1 / 240 - f / 132))))
    return shift + math.log(v) - 0.5 / v - tail


def _harmonic(a: float, m: int) -> float:
    """Σ_{j=0}^{m} 1/(a+j)."""
    if m < 32:
        return math.fsum(1.0 / (a + j) for j in range(m + 1))
    return _digamma(a + m + 1) - _digamma(a)


def _series_peak(a: float, z: float) -> tuple[int, float]:
    """Index of the largest term of M(a, z) and its logarithm."""
    peak = max(0, math.floor(z - a))
    if peak == 0:
        return 0, 0.0
    return peak, peak * math.log(z) - (math.lgamma(a + peak + 1) - math.lgamma(a + 1))


def _series(a: float, z: float) -> tuple[float, float]:
    """M(a, z) as (log scale, sum of the terms divided by exp(scale))."""
    peak, log_scale = _series_peak(a, z)
    s0 = 1.0
    t, m = 1.0, peak
    while True:  # forward; the tail after t is at most t·r/(1−r)
        m += 1
        r = z / (a + m)
        t *= r
        s0 += t
        if t * r <= _EPS * s0 * (1.0 - r):
            break
    t, m = 1.0, peak
    while m > 0:  # backward; ratios t_{m−1}/t_m = (a+m)/z shrink as m falls
        q = (a + m) / z
        t *= q
        s0 += t
        m -= 1
        q_next = (a + m) / z
        if t * q_next <= _EPS * s0 * (1.0 - q_next):
            break
    return log_scale, s0


def _series_moments(a: float, z: float) -> tuple[float, float, float, float]:
    """(log scale, Σ t_m, Σ m·t_m, Σ t_m·H_m) scaled like ``_series``; H_m = Σ_{j<=m} 1/(a+j)."""
    peak, log_scale = _series_peak(a, z)
    h_peak = _harmonic(a, peak)
    s0, s1, sh = 1.0, float(peak), h_peak
    t, m, h = 1.0, peak, h_peak
    while True:
        m += 1
        r = z / (a + m)
        t *= r
        h += 1.0 / (a + m)
        s0 += t
        s1 += m * t
        sh += h * t
        # m·t and h·t decay like t once past the peak, so the same stop rule holds.
        if t * r <= _EPS * s0 * (1.0 - r):
            break
    t, m, h = 1.0, peak, h_peak
    while m > 0:
        q = (a + m) / z
        t *= q
        h -= 1.0 / (a + m)
        m -= 1
        s0 += t
        s1 += m * t
        sh += h * t
        q_next = (a + m) / z
        if t * q_next <= _EPS * s0 * (1.0 - q_next):
            break
    return log_scale, s0, s1, sh


def _log_add(u: float, v: float) -> float:
    """log(e^u + e^v) without overflow."""
    if u < v:
        u, v = v, u
    if v == -math.inf:
        return u
    return u + math.log1p(math.exp(v - u))


def _log1p_exp(v: float) -> float:
    return v + math.log1p(math.exp(-v)) if v > 0 else math.log1p(math.exp(v))


def _erlang_a_loss(b: float) -> ErlangA:
    # Zero patience: callers who find all agents busy leave at once (Erlang B system).
    answered = 1.0 - b
    return ErlangA(b, b, answered, 0.0 if answered > 0 else None, 0.0)


def _erlang_a_special(n: int, b: float, patience_s: float) -> ErlangA | None:
    """The cases without a series: zero patience, no agent, B underflowed."""
    if patience_s == 0.0:
        return _erlang_a_loss(b)
    if n == 0:  # nobody is ever answered; everyone waits out their patience
        return ErlangA(1.0, 1.0, 0.0, None, patience_s)
    if b == 0.0:  # B underflowed: N ≫ A, nobody waits
        return ErlangA(0.0, 0.0, 1.0, 0.0, 0.0)
    return None


def _normalisation(b: float, x: float, a: float, log_scale: float, s0: float) -> tuple[float, ...]:
    """(log(1/B − 1), log J, log of the denominator, π_N·exp(scale)) where
    π_N (prob. of exactly N in system) = 1/(1/B − 1 + J), J = 1 + (x/a)·M(a, x)."""
    log_r = math.log1p(-b) - math.log(b) if b < 1.0 else -math.inf  # log(1/B − 1)
    log_j = _log1p_exp(math.log(x / a) + math.log(s0) + log_scale)
    log_d = _log_add(log_r, log_j)
    return log_r, log_j, log_d, math.exp(log_scale - log_d)


def _erlang_a(
    traffic: float, n: int, b: float, aht_s: float, patience_s: float, t: float
) -> ErlangA:
    """Erlang A core; ``b`` must be erlang_b(traffic, n) (callers share one B table)."""
    special = _erlang_a_special(n, b, patience_s)
    if special is not None:
        return special
    x = traffic * patience_s / aht_s  # λ/θ
    y = n * patience_s / aht_s  # Nμ/θ
    a = y + 1.0
    log_scale, s0, s1, sh = _series_moments(a, x)
    log_r, log_j, log_d, w = _normalisation(b, x, a, log_scale, s0)
    p_nowait = math.exp(log_r - log_d)
    p_wait = math.exp(log_j - log_d)
    p_abandon = w * (s0 + s1) / a
    served_after_wait = w * (y / a) * s0
    sl = p_nowait + w * (y / a) * _served_within_fraction(a, x, t / patience_s, log_scale, s0)
    answered = p_nowait + served_after_wait
    asa = patience_s * w * (y / a) * sh / answered if answered > 0.0 else None
    return ErlangA(
        p_wait=min(1.0, p_wait),
        p_abandon=min(1.0, p_abandon),
        service_level=min(1.0, sl),
        asa_s=asa,
        mean_wait_s=patience_s * min(1.0, p_abandon),
    )


def _erlang_a_sl(
    traffic: float, n: int, b: float, aht_s: float, patience_s: float, t: float
) -> float:
    """``_erlang_a(...).service_level`` without the moments the other values need (the
    staffing search evaluates only the SL); the same floats, as the sums are the same."""
    special = _erlang_a_special(n, b, patience_s)
    if special is not None:
        return special.service_level
    x = traffic * patience_s / aht_s
    y = n * patience_s / aht_s
    a = y + 1.0
    log_scale, s0 = _series(a, x)
    log_r, _, log_d, w = _normalisation(b, x, a, log_scale, s0)
    p_nowait = math.exp(log_r - log_d)
    sl = p_nowait + w * (y / a) * _served_within_fraction(a, x, t / patience_s, log_scale, s0)
    return min(1.0, sl)


def _served_within_fraction(
    a: float, x: float, theta_t: float, log_scale: float, s0: float
) -> float:
    """M(a, x) − e^{−a·θT + x(1−e^{−θT})}·M(a, x·e^{−θT}), scaled by exp(−log_scale).

    Times y/a·π_N this is P(wait > 0 and answered within T).
    """
    if theta_t == 0.0:
        return 0.0
    lo = math.exp(-theta_t)
    log_scale_lo, s0_lo = _series(a, x * lo)
    log_c = -a * theta_t - x * math.expm1(-theta_t)
    return max(0.0, s0 - s0_lo * math.exp(log_scale_lo + log_c - log_scale))


def erlang_a(
    traffic: float, agents: int, aht_s: float, patience_s: float, threshold_s: float
) -> ErlangA:
    """Erlang A (M/M/N+M) performance; ``patience_s`` = mean patience 1/θ (inf → Erlang C)."""
    traffic = _check_nonneg("traffic", traffic)
    n = _check_agents(agents)
    aht_s = _check_nonneg("aht_s", aht_s)
    threshold_s = _check_nonneg("threshold_s", threshold_s)
    patience = _check_patience(patience_s)
    if aht_s == 0.0:
        raise ValueError("aht_s must be > 0")
    b = erlang_b(traffic, n)
    if patience is None:
        asa = erlang_c_asa(traffic, n, aht_s)
        return ErlangA(
            p_wait=_c_from_b(traffic, n, b),
            p_abandon=0.0,
            service_level=_erlang_c_sl(traffic, n, b, threshold_s / aht_s),
            asa_s=asa,
            mean_wait_s=asa,
        )
    return _erlang_a(traffic, n, b, aht_s, patience, threshold_s)


# ------------------------------------------------------------------------- estimation


def patience_mle(total_wait_s: float, abandons: int) -> float | None:
    """Mean patience (s) from observed waits, exponential patience with censoring.

    ``total_wait_s`` sums the queue time of every call that left the queue in the window
    (answered calls are censored observations: their patience exceeded their wait);
    ``abandons`` counts the calls that hung up while queued. MLE of θ = abandons / total
    exposure, so 1/θ = total_wait_s / abandons. None without abandons (use Erlang C).
    """
    total_wait_s = _check_nonneg("total_wait_s", total_wait_s)
    abandons = operator.index(abandons)
    if abandons < 0:
        raise ValueError(f"abandons must be >= 0, got {abandons}")
    if abandons == 0:
        return None
    return total_wait_s / abandons


# --------------------------------------------------------------------------- staffing


class _BTable:
    """Erlang B values for one traffic, extended on demand (same floats as erlang_b)."""

    __slots__ = ("_b", "_traffic")

    def __init__(self, traffic: float) -> None:
        self._traffic = traffic
        self._b = [1.0]

    def __getitem__(self, n: int) -> float:
        b = self._b
        while len(b) <= n:
            b.append(_erlang_b_step(self._traffic, len(b), b[-1]))
        return b[n]


def service_level(
    arrival_rate_per_s: float,
    aht_s: float,
    agents: int,
    threshold_s: float,
    patience_s: float | None = None,
) -> float | None:
    """Fraction of arrivals answered within ``threshold_s`` (Erlang C or A); None if no calls."""
    lam = _check_nonneg("arrival_rate_per_s", arrival_rate_per_s)
    aht_s = _check_nonneg("aht_s", aht_s)
    n = _check_agents(agents)
    threshold_s = _check_nonneg("threshold_s", threshold_s)
    patience = _check_patience(patience_s)
    if lam == 0.0:
        return None
    if aht_s == 0.0:  # zero workload: any agent answers at once
        return 1.0 if n > 0 else 0.0
    return _sl_function(lam * aht_s, aht_s, threshold_s, patience)(n)


def _sl_function(
    traffic: float, aht_s: float, threshold_s: float, patience: float | None
) -> _SLFunction:
    """SL as a function of N, sharing one Erlang B table across calls."""
    table = _BTable(traffic)
    if patience is None:
        t_over_aht = threshold_s / aht_s
        return lambda n: _erlang_c_sl(traffic, n, table[n], t_over_aht)
    return lambda n: _erlang_a_sl(traffic, n, table[n], aht_s, patience, threshold_s)


def agents_required(
    arrival_rate_per_s: float,
    aht_s: float,
    threshold_s: float,
    target_sl: float,
    patience_s: float | None = None,
    max_agents: int = DEFAULT_MAX_AGENTS,
    guess: int | None = None,
) -> int | None:
    """Smallest N with service_level(N) >= target_sl (Erlang C, or Erlang A with patience).

    ``guess`` (e.g. the answer for slightly different inputs a moment ago) only speeds up
    the Erlang A search: two evaluations when it is still the answer.

    Returns 0 without arrivals and 1 with zero AHT (no workload, but someone must pick
    up). Answers are never below the minimum that makes sense even for target 0: N > A for
    Erlang C (a stable queue), N >= 1 for Erlang A. A target of 1.0 is unreachable with
    any positive traffic (some call always waits longer than T), as is any target not
    met by ``max_agents``: both return None.
    """
    lam = _check_nonneg("arrival_rate_per_s", arrival_rate_per_s)
    aht_s = _check_nonneg("aht_s", aht_s)
    threshold_s = _check_nonneg("threshold_s", threshold_s)
    target_sl = _check_target(target_sl)
    patience = _check_patience(patience_s)
    max_agents = _check_agents(max_agents)
    if lam == 0.0:
        return 0
    if aht_s == 0.0:
        return 1 if max_agents >= 1 else None
    if target_sl >= 1.0:
        return None
    traffic = lam * aht_s
    sl = _sl_function(traffic, aht_s, threshold_s, patience)
    if patience is None:
        return _scan_erlang_c(sl, traffic, target_sl, max_agents)
    if guess is None or guess < 1:
        guess = _erlang_c_guess(traffic, target_sl)
    return _search_monotone(sl, guess, target_sl, max_agents)


def _scan_erlang_c(sl: _SLFunction, traffic: float, target: float, max_agents: int) -> int | None:
    # The answer is A + O(sqrt(A)): a linear scan from the stability bound costs O(N) in
    # total, each step being O(1) thanks to the shared B table.
    for n in range(math.floor(traffic) + 1, max_agents + 1):
        if sl(n) >= target:
            return n
    return None


def _erlang_c_guess(traffic: float, target: float) -> int:
    # Square-root staffing: cheap starting point near both the C and the A answers.
    z = 1.0 if target <= 0.5 else math.sqrt(-2.0 * math.log(1.0 - target))
    return max(1, math.ceil(traffic + z * math.sqrt(traffic)))


def _search_monotone(sl: _SLFunction, guess: int, target: float, max_agents: int) -> int | None:
    """Smallest n in [1, max_agents] with sl(n) >= target, sl non-decreasing in n."""
    if max_agents < 1:
        return None
    guess = min(guess, max_agents)
    step = 1
    if sl(guess) >= target:
        hi, lo = guess, guess - 1  # gallop down until failing (or reaching 0)
        while lo >= 1 and sl(lo) >= target:
            hi = lo
            step *= 2
            lo = max(0, hi - step)
    else:
        lo, hi = guess, guess + 1  # gallop up until succeeding
        while True:
            hi = min(hi, max_agents)
            if sl(hi) >= target:
                break
            if hi == max_agents:
                return None
            lo = hi
            step *= 2
            hi = lo + step
    while hi - lo > 1:  # invariant: lo fails (or is 0), hi succeeds
        mid = (lo + hi) // 2
        if sl(mid) >= target:
            hi = mid
        else:
            lo = mid
    return hi


def staffing(
    arrival_rate_per_s: float | None,
    aht_s: float | None,
    threshold_s: float,
    target_sl: float,
    agents_now: int,
    patience_s: float | None = None,
    guess: int | None = None,
) -> Staffing:
    """Required agents for the target and the performance predicted with ``agents_now``.

    Erlang A when ``patience_s`` is given (finite), Erlang C otherwise. No arrivals:
    0 agents required and no predictions (there is nothing to measure). Unknown or
    non-positive AHT: nothing can be sized, every value is None.
    """
    patience = _check_patience(patience_s)
    model: Model = "erlang_c" if patience is None else "erlang_a"
    agents_now = _check_agents(agents_now)
    threshold_s = _check_nonneg("threshold_s", threshold_s)
    target_sl = _check_target(target_sl)
    if arrival_rate_per_s is None:
        return Staffing(None, None, None, None, None, model)
    lam = _check_nonneg("arrival_rate_per_s", arrival_rate_per_s)
    if lam == 0.0:
        return Staffing(0, -agents_now, None, None, None, model, 0.0)
    if aht_s is None or _check_nonneg("aht_s", aht_s) == 0.0:
        # Handled calls without talk, hold or ACW time (a window without any handled call
        # has no AHT at all): no traffic to size, so treat it as unknown.
        return Staffing(None, None, None, None, None, model)
    aht_s = float(aht_s)
    traffic = lam * aht_s
    required = agents_required(lam, aht_s, threshold_s, target_sl, patience, guess=guess)
    perf = erlang_a(
        traffic, agents_now, aht_s, math.inf if patience is None else patience, threshold_s
    )
    return Staffing(
        agents_required=required,
        gap=None if required is None else required - agents_now,
        predicted_sl=perf.service_level,
        predicted_asa_s=perf.asa_s,
        predicted_abandon_ratio=None if patience is None else perf.p_abandon,
        model=model,
        traffic_erlangs=traffic,
    )
