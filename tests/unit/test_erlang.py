"""Erlang B/C/A staffing math against independent references.

References used here never share code with stream/erlang.py: exact rational arithmetic
(fractions + factorials) for small N, log-space direct sums for large N, a truncated
birth-death chain solved numerically for Erlang A, uniformization of the tagged-caller
chain for the Erlang A service level, and a seeded FCFS simulation as a loose end-to-end
check.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.erlang import (
    ErlangA,
    Staffing,
    agents_required,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_asa,
    erlang_c_service_level,
    patience_mle,
    service_level,
    staffing,
)

# --------------------------------------------------------------------------- references


def exact_b(traffic: Fraction, n: int) -> Fraction:
    terms = [traffic**k / math.factorial(k) for k in range(n + 1)]
    return terms[-1] / sum(terms)


def exact_c(traffic: Fraction, n: int) -> Fraction:
    top = traffic**n / math.factorial(n) * Fraction(n) / (n - traffic)
    return top / (sum(traffic**k / math.factorial(k) for k in range(n)) + top)


def log_space_c(traffic: float, n: int) -> float:
    """Erlang C as a direct sum of A^k/k! evaluated in log space (no recursion)."""
    logs = [k * math.log(traffic) - math.lgamma(k + 1) for k in range(n)]
    log_top = n * math.log(traffic) - math.lgamma(n + 1) + math.log(n / (n - traffic))
    peak = max([*logs, log_top])
    rest = math.fsum(math.exp(v - peak) for v in logs)
    top = math.exp(log_top - peak)
    return top / (rest + top)


def birth_death(lam: float, mu: float, n: int, theta: float) -> list[float]:
    """Stationary law of the M/M/n+M chain, truncated where it is negligible (log space)."""
    logs, peak = [0.0], 0.0
    k = 0
    while True:
        k += 1
        death = min(k, n) * mu + max(k - n, 0) * theta
        logs.append(logs[-1] + math.log(lam / death))
        peak = max(peak, logs[-1])
        if k > n and logs[-1] < peak - 60:
            break
    weights = [math.exp(v - peak) for v in logs]
    total = math.fsum(weights)
    return [w / total for w in weights]


def erlang_a_reference(
    lam: float, aht: float, n: int, patience: float, threshold: float
) -> dict[str, float]:
    """P(wait), P(abandon), mean wait, ASA of answered calls and SL from the chain.

    A caller seeing k others queued (PASTA) is answered after k+1 queue departures, at
    rates r_i = nμ + iθ, i = k..0, unless its own Exp(θ) patience runs out first.
    """
    mu, theta = 1.0 / aht, 1.0 / patience
    pi = birth_death(lam, mu, n, theta)
    queue = [(k - n, p) for k, p in enumerate(pi) if k >= n]
    p_wait = math.fsum(p for _, p in queue)
    mean_queue = math.fsum(k * p for k, p in queue)
    answered_wait = 0.0  # E[W; answered]
    answered = math.fsum(pi[:n])
    for k, p in queue:
        rates = [n * mu + i * theta for i in range(k + 1)]
        survive = math.prod(r / (r + theta) for r in rates)  # E[e^{-θV}] = P(answered | k)
        answered += p * survive
        answered_wait += p * survive * math.fsum(1.0 / (r + theta) for r in rates)
    return {
        "p_wait": p_wait,
        "p_abandon": theta * mean_queue / lam,
        "mean_wait": mean_queue / lam,  # Little's law
        "asa": answered_wait / answered,
        "sl": math.fsum(pi[:n]) + answered_within(queue, n * mu, theta, threshold),
    }


def answered_within(queue: list[tuple[int, float]], n_mu: float, theta: float, t: float) -> float:
    """Σ_k π_{N+k}·P(answered by t | k ahead), by uniformization of the tagged-caller chain."""
    k_max = queue[-1][0]
    rate = n_mu + (k_max + 1) * theta
    down = [(n_mu + i * theta) / rate for i in range(k_max + 1)]
    stay = [1.0 - d - theta / rate for d in down]
    g = [0.0] * (k_max + 1)  # g[i]: P(answered within m jumps | i ahead)
    weight = math.exp(-rate * t)  # Poisson(rate·t) probability of m jumps
    total = [0.0] * (k_max + 1)
    m = 0
    while True:
        m += 1
        g = [down[i] * (g[i - 1] if i else 1.0) + stay[i] * g[i] for i in range(k_max + 1)]
        weight *= rate * t / m
        # P(answered by t) = Σ_m Pois(m; rate·t)·g_m, with g_0 = 0.
        total = [tot + weight * gi for tot, gi in zip(total, g, strict=True)]
        if m > rate * t and weight < 1e-18:
            break
    return math.fsum(p * total[k] for k, p in queue)


def simulate(
    lam: float, aht: float, n: int, patience: float | None, t: float, calls: int, seed: int
) -> dict[str, float]:
    """FCFS M/M/n(+M): a caller's offered wait is set by the earliest-free agent."""
    rng = random.Random(seed)
    free_at = [0.0] * n
    now = 0.0
    waited = abandoned = within = 0
    answered_waits: list[float] = []
    for _ in range(calls):
        now += rng.expovariate(lam)
        tau = rng.expovariate(1.0 / patience) if patience else math.inf
        offered = max(0.0, free_at[0] - now)
        waited += offered > 0
        if offered > tau:
            abandoned += 1
            continue
        heapq.heapreplace(free_at, now + offered + rng.expovariate(1.0 / aht))
        answered_waits.append(offered)
        within += offered <= t
    return {
        "p_wait": waited / calls,
        "p_abandon": abandoned / calls,
        "sl": within / calls,
        "asa": math.fsum(answered_waits) / len(answered_waits),
    }


# ------------------------------------------------------------- published Erlang B / C

# Erlang B tables (e.g. the standard telephone-traffic tables, 1% and 5% grade of
# service): 10 lines carry 4.461 E at 1% and 6.216 E at 5%; 20 lines carry 12.031 E at 1%.
ERLANG_B_TABLE = [(4.461, 10, 0.01), (6.216, 10, 0.05), (12.031, 20, 0.01)]


@pytest.mark.parametrize(("traffic", "lines", "blocking"), ERLANG_B_TABLE)
def test_erlang_b_matches_published_tables(traffic: float, lines: int, blocking: float) -> None:
    assert erlang_b(traffic, lines) == pytest.approx(blocking, abs=5e-5)


def test_erlang_b_matches_exact_rational_value() -> None:
    # B(A=10, N=10) = 0.2146 in every Erlang B table.
    assert erlang_b(10, 10) == pytest.approx(0.2146, abs=5e-5)
    for traffic, n in [(Fraction(10), 10), (Fraction(7, 2), 5), (Fraction(23), 30)]:
        assert erlang_b(float(traffic), n) == pytest.approx(float(exact_b(traffic, n)), rel=1e-13)


def test_erlang_b_and_c_trivial_cases() -> None:
    assert erlang_b(10, 0) == 1.0
    assert erlang_b(0, 3) == 0.0
    assert erlang_c(10, 10) == 1.0  # unstable: everybody waits
    assert erlang_c(10, 7) == 1.0
    assert erlang_c(0, 1) == 0.0


# Call Centre Helper, "Erlang C Formula – Made Simple With an Easy Worked Example":
# 100 calls per 30 minutes, AHT 180 s, target 80% answered in 20 s → A = 10 Erlangs.
# Expected values below are computed with exact rationals (exact_c) rather than copied:
# 13 agents give SL 79.56% (short of 80%), 14 agents give P(wait) 0.1741, SL 88.84%,
# ASA 7.84 s, so 14 agents are required.
CCH_RATE = 100 / 1800
CCH_AHT = 180.0


@pytest.mark.parametrize(
    ("agents", "p_wait", "sl", "asa"),
    [
        (11, 0.6821, 0.3896, 122.78),
        (12, 0.4494, 0.6402, 40.44),
        (13, 0.2853, 0.7956, 17.12),
        (14, 0.1741, 0.8884, 7.84),
        (15, 0.1020, 0.9415, 3.67),
    ],
)
def test_erlang_c_worked_example(agents: int, p_wait: float, sl: float, asa: float) -> None:
    exact = float(exact_c(Fraction(10), agents))
    assert erlang_c(10, agents) == pytest.approx(exact, rel=1e-13)
    assert erlang_c(10, agents) == pytest.approx(p_wait, abs=5e-5)
    assert erlang_c_service_level(10, agents, CCH_AHT, 20) == pytest.approx(sl, abs=5e-5)
    assert erlang_c_service_level(10, agents, CCH_AHT, 20) == pytest.approx(
        1 - exact * math.exp(-(agents - 10) * 20 / 180), rel=1e-13
    )
    assert erlang_c_asa(10, agents, CCH_AHT) == pytest.approx(asa, abs=5e-3)


def test_worked_example_requires_14_agents() -> None:
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.80) == 14
    result = staffing(CCH_RATE, CCH_AHT, 20, 0.80, agents_now=13)
    assert result == Staffing(
        agents_required=14,
        gap=1,
        predicted_sl=pytest.approx(0.7956, abs=5e-5),
        predicted_asa_s=pytest.approx(17.12, abs=5e-3),
        predicted_abandon_ratio=None,
        model="erlang_c",
        traffic_erlangs=pytest.approx(10.0),
    )


def test_westbay_example_360_calls_per_half_hour() -> None:
    # Westbay Engineers' Erlang-C walkthrough: 360 calls per half hour, 4 min calls,
    # 55 agents, 15 s target → A = 48 E. Values from exact rationals.
    exact = float(exact_c(Fraction(48), 55))
    assert erlang_c(48, 55) == pytest.approx(exact, rel=1e-13)
    assert exact == pytest.approx(0.2387, abs=5e-5)
    assert erlang_c_service_level(48, 55, 240, 15) == pytest.approx(0.8459, abs=5e-5)
    assert erlang_c_asa(48, 55, 240) == pytest.approx(8.18, abs=5e-3)


# ------------------------------------------------------------------------- stability


def test_erlang_c_stable_for_1000_agents() -> None:
    values = [erlang_c(950, n) for n in range(951, 1101)]
    assert all(0.0 < v < 1.0 and math.isfinite(v) for v in values)
    assert all(a > b for a, b in itertools.pairwise(values))
    assert erlang_c(950, 1000) == pytest.approx(log_space_c(950, 1000), rel=1e-9)
    sls = [erlang_c_service_level(950, n, 300, 20) for n in range(951, 1101)]
    assert all(0.0 <= v <= 1.0 for v in sls)
    assert all(a < b for a, b in itertools.pairwise(sls))


@pytest.mark.parametrize(("traffic", "n"), [(280.0, 300), (95.5, 101), (1900.0, 2000)])
def test_erlang_c_matches_log_space_direct_sum(traffic: float, n: int) -> None:
    assert erlang_c(traffic, n) == pytest.approx(log_space_c(traffic, n), rel=1e-9)


def test_erlang_b_huge_and_tiny_values_do_not_overflow() -> None:
    assert 0.0 < erlang_b(2000, 2000) < 1.0
    assert erlang_b(1, 500) == 0.0  # ~1/500!: underflows to exactly 0, no error
    assert erlang_c_service_level(1, 500, 300, 0) == 1.0


# -------------------------------------------------------------------------- Erlang A

ERLANG_A_CASES = [
    # (λ per s, AHT s, agents, patience s, T s)
    (10 / 180, 180.0, 12, 120.0, 20.0),
    (10 / 180, 180.0, 9, 120.0, 20.0),  # fewer agents than Erlangs: still stable
    (1 / 30, 300.0, 8, 200.0, 30.0),
    (0.5, 20.0, 9, 60.0, 10.0),
    (2.0, 240.0, 470, 300.0, 20.0),  # large, overloaded (A = 480)
    (1.0, 100.0, 50, 200.0, 20.0),  # half the agents needed: long queue, ~50% abandon
]


@pytest.mark.parametrize(("lam", "aht", "n", "patience", "t"), ERLANG_A_CASES)
def test_erlang_a_matches_birth_death_chain(
    lam: float, aht: float, n: int, patience: float, t: float
) -> None:
    got = erlang_a(lam * aht, n, aht, patience, t)
    ref = erlang_a_reference(lam, aht, n, patience, t)
    assert got.p_wait == pytest.approx(ref["p_wait"], rel=1e-9)
    assert got.p_abandon == pytest.approx(ref["p_abandon"], rel=1e-9)
    assert got.mean_wait_s == pytest.approx(ref["mean_wait"], rel=1e-9)
    assert got.asa_s == pytest.approx(ref["asa"], rel=1e-9)
    assert got.service_level == pytest.approx(ref["sl"], abs=1e-9)


# Loose end-to-end checks of the model definitions (PASTA, FCFS, SL over all arrivals,
# ASA over answered calls). Waits are strongly autocorrelated, hence 200k calls and
# tolerances of about three standard errors.
@pytest.mark.parametrize(("lam", "aht", "n", "patience", "t"), ERLANG_A_CASES[:3])
def test_erlang_a_agrees_with_simulation(
    lam: float, aht: float, n: int, patience: float, t: float
) -> None:
    got = erlang_a(lam * aht, n, aht, patience, t)
    sim = simulate(lam, aht, n, patience, t, calls=200_000, seed=20240611)
    assert got.p_wait == pytest.approx(sim["p_wait"], abs=0.01)
    assert got.p_abandon == pytest.approx(sim["p_abandon"], abs=0.01)
    assert got.service_level == pytest.approx(sim["sl"], abs=0.01)
    assert got.asa_s == pytest.approx(sim["asa"], rel=0.08)


def test_erlang_c_agrees_with_simulation() -> None:
    sim = simulate(CCH_RATE, CCH_AHT, 14, None, 20, calls=200_000, seed=11)
    assert erlang_c(10, 14) == pytest.approx(sim["p_wait"], abs=0.01)
    assert erlang_c_service_level(10, 14, CCH_AHT, 20) == pytest.approx(sim["sl"], abs=0.01)
    assert erlang_c_asa(10, 14, CCH_AHT) == pytest.approx(sim["asa"], rel=0.08)


def test_erlang_a_converges_to_erlang_c_as_patience_grows() -> None:
    for n in (11, 14, 20):
        c_sl = erlang_c_service_level(10, n, 180, 20)
        errors = []
        for patience in (1e5, 1e7):
            a = erlang_a(10, n, 180, patience, 20)
            errors.append(abs(a.service_level - c_sl))
            # θ·E[wait] with abandonment is below θ times the Erlang C mean wait.
            assert 0.0 < a.p_abandon < erlang_c_asa(10, n, 180) / patience
        # First-order convergence in θ = 1/patience: 100x more patience, 100x closer.
        assert errors[0] / errors[1] == pytest.approx(100, rel=0.1)
        final = erlang_a(10, n, 180, 1e9, 20)
        assert final.p_wait == pytest.approx(erlang_c(10, n), rel=1e-4)
        assert final.service_level == pytest.approx(c_sl, rel=1e-5)
        assert final.asa_s == pytest.approx(erlang_c_asa(10, n, 180), rel=1e-4)
        assert erlang_a(10, n, 180, math.inf, 20).service_level == c_sl


@pytest.mark.parametrize(
    ("agents", "p_wait", "p_abandon", "sl", "asa"),
    [(11, 0.3828, 0.0942, 0.7422, 9.78), (12, 0.2798, 0.0616, 0.8256, 6.33)],
)
def test_erlang_a_worked_example_in_docs(
    agents: int, p_wait: float, p_abandon: float, sl: float, asa: float
) -> None:
    # docs/staffing.md: the Call Centre Helper queue with 120 s mean patience.
    got = erlang_a(10, agents, CCH_AHT, 120, 20)
    ref = erlang_a_reference(CCH_RATE, CCH_AHT, agents, 120, 20)
    assert got.p_wait == pytest.approx(p_wait, abs=5e-5) == ref["p_wait"]
    assert got.p_abandon == pytest.approx(p_abandon, abs=5e-5)
    assert got.service_level == pytest.approx(sl, abs=5e-5)
    assert got.asa_s == pytest.approx(asa, abs=5e-3)


def test_erlang_a_is_defined_and_sane_when_heavily_overloaded() -> None:
    got = erlang_a(2000, 1000, 300, 3600, 20)
    # Fluid limit: the agents serve Nμ, the rest (1 − N/A) abandons; answered callers
    # wait about patience·ln(A/N).
    assert got.p_wait == pytest.approx(1.0)
    assert got.p_abandon == pytest.approx(0.5, abs=1e-6)
    assert got.asa_s == pytest.approx(3600 * math.log(2), rel=0.01)
    assert 0.0 <= got.service_level < 1e-6


def test_erlang_a_monotone_in_agents() -> None:
    for patience in (5.0, 60.0, 600.0):
        sls = [erlang_a(30, n, 200, patience, 15).service_level for n in range(0, 60)]
        abandons = [erlang_a(30, n, 200, patience, 15).p_abandon for n in range(0, 60)]
        assert all(a <= b for a, b in itertools.pairwise(sls))
        assert all(a >= b for a, b in itertools.pairwise(abandons))
        assert sls[0] == 0.0 and abandons[0] == 1.0


def test_erlang_a_zero_patience_is_erlang_b_loss_system() -> None:
    got = erlang_a(10, 12, 180, 0.0, 20)
    b = erlang_b(10, 12)
    assert got == ErlangA(p_wait=b, p_abandon=b, service_level=1 - b, asa_s=0.0, mean_wait_s=0.0)
    # And the positive-patience formula tends to it.
    near = erlang_a(10, 12, 180, 1e-3, 20)
    assert near.p_abandon == pytest.approx(b, rel=1e-4)


@given(st.floats(min_value=0.0, max_value=1e-6, allow_subnormal=True))
def test_erlang_a_tiny_patience_is_finite_and_near_zero_patience(patience: float) -> None:
    got = erlang_a(10, 12, 180, patience, 20)
    b = erlang_b(10, 12)
    assert got.p_abandon == pytest.approx(b, rel=1e-6)
    assert got.service_level == pytest.approx(1 - b, rel=1e-6)


def test_erlang_a_zero_agents() -> None:
    got = erlang_a(10, 0, 180, 90, 20)
    assert got == ErlangA(p_wait=1.0, p_abandon=1.0, service_level=0.0, asa_s=None, mean_wait_s=90)


# ------------------------------------------------------------------------ patience MLE


def test_patience_mle_recovers_exponential_mean_under_censoring() -> None:
    rng = random.Random(1234)
    mean_patience = 90.0
    total_wait, abandons = 0.0, 0
    for _ in range(20_000):
        patience = rng.expovariate(1 / mean_patience)
        offered = 0.0 if rng.random() < 0.4 else rng.expovariate(1 / 45)  # 40% not queued
        total_wait += min(patience, offered)
        abandons += patience < offered
    assert abandons > 1000  # censoring is heavy but not total
    estimate = patience_mle(total_wait, abandons)
    assert estimate == pytest.approx(mean_patience, rel=0.05)
    # Ignoring the answered (censored) calls would badly underestimate patience.
    assert total_wait / 20_000 < 0.5 * mean_patience


def test_patience_mle_edge_cases() -> None:
    assert patience_mle(1234.0, 0) is None
    assert patience_mle(0.0, 0) is None
    assert patience_mle(0.0, 3) == 0.0
    assert patience_mle(300.0, 4) == 75.0
    with pytest.raises(ValueError):
        patience_mle(-1.0, 2)
    with pytest.raises(ValueError):
        patience_mle(10.0, -1)


# ------------------------------------------------------------------ agents_required


@settings(max_examples=150, deadline=None)
@given(
    lam=st.floats(0.001, 1.0),
    aht=st.floats(5.0, 900.0),
    threshold=st.floats(0.0, 120.0),
    target=st.floats(0.01, 0.99),
    patience=st.none() | st.floats(1.0, 2000.0),
)
def test_agents_required_is_smallest_sufficient(
    lam: float, aht: float, threshold: float, target: float, patience: float | None
) -> None:
    n = agents_required(lam, aht, threshold, target, patience)
    assert n is not None and n >= 1
    assert service_level(lam, aht, n, threshold, patience) >= target
    assert service_level(lam, aht, n - 1, threshold, patience) < target
    if patience is None:
        assert n > lam * aht


def test_agents_required_with_patience_needs_fewer_agents_here() -> None:
    # Impatient callers leave the queue, so the remaining ones are answered sooner.
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.8, patience_s=120) == 12
    assert (
        service_level(CCH_RATE, CCH_AHT, 11, 20, 120)
        < 0.8
        <= service_level(CCH_RATE, CCH_AHT, 12, 20, 120)
    )


def test_agents_required_zero_arrivals_and_zero_aht() -> None:
    assert agents_required(0.0, 180, 20, 0.8) == 0
    assert agents_required(0.0, 180, 20, 1.0, patience_s=60) == 0
    assert agents_required(0.5, 0.0, 20, 0.8) == 1
    assert agents_required(0.5, 0.0, 20, 1.0) == 1  # zero workload: SL 100% is real


def test_agents_required_targets_zero_and_one() -> None:
    assert agents_required(CCH_RATE, CCH_AHT, 20, 1.0) is None
    assert agents_required(CCH_RATE, CCH_AHT, 20, 1.0, patience_s=120) is None
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.0) == 11  # smallest stable N > A
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.0, patience_s=120) == 1
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.0, patience_s=0.0) == 1


def test_agents_required_zero_patience() -> None:
    # Nobody waits: SL = 1 − B(A, N), so this is an Erlang B sizing.
    n = agents_required(CCH_RATE, CCH_AHT, 20, 0.99, patience_s=0.0)
    assert 1 - erlang_b(10, n) >= 0.99 > 1 - erlang_b(10, n - 1)


def test_agents_required_unreachable_within_max_agents() -> None:
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.8, max_agents=13) is None
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.8, max_agents=14) == 14
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.8, patience_s=120, max_agents=11) is None
    assert agents_required(CCH_RATE, CCH_AHT, 20, 0.8, patience_s=120, max_agents=12) == 12


def test_agents_required_large_center() -> None:
    n = agents_required(2.0, 240, 20, 0.8)  # A = 480
    assert 480 < n < 520
    assert (
        erlang_c_service_level(480, n, 240, 20) >= 0.8 > erlang_c_service_level(480, n - 1, 240, 20)
    )
    n_a = agents_required(2.0, 240, 20, 0.8, patience_s=300)
    assert service_level(2.0, 240, n_a, 20, 300) >= 0.8 > service_level(2.0, 240, n_a - 1, 20, 300)


@settings(max_examples=150, deadline=None)
@given(
    lam=st.floats(0.001, 1.0),
    aht=st.floats(5.0, 900.0),
    threshold=st.floats(0.0, 120.0),
    target=st.floats(0.01, 0.99),
    patience=st.none() | st.just(0.0) | st.floats(0.01, 2000.0),
    guess=st.integers(-3, 400),
)
def test_agents_required_does_not_depend_on_the_guess(
    lam: float, aht: float, threshold: float, target: float, patience: float | None, guess: int
) -> None:
    # The exporter passes the previous answer as the guess: only the speed may change.
    plain = agents_required(lam, aht, threshold, target, patience)
    assert agents_required(lam, aht, threshold, target, patience, guess=guess) == plain
    assert staffing(lam, aht, threshold, target, 7, patience, guess=guess) == staffing(
        lam, aht, threshold, target, 7, patience
    )


@settings(max_examples=200, deadline=None)
@given(
    traffic=st.floats(0.0, 300.0),
    agents=st.integers(0, 400),
    aht=st.floats(1.0, 900.0),
    patience=st.just(0.0) | st.floats(0.01, 5000.0),
    threshold=st.floats(0.0, 300.0),
)
def test_the_searched_service_level_is_erlang_a_s(
    traffic: float, agents: int, aht: float, patience: float, threshold: float
) -> None:
    # agents_required evaluates the SL alone (no moments): the very same float.
    from stream.erlang import _erlang_a, _erlang_a_sl

    b = erlang_b(traffic, agents)
    full = _erlang_a(traffic, agents, b, aht, patience, threshold).service_level
    assert _erlang_a_sl(traffic, agents, b, aht, patience, threshold) == full


@pytest.mark.parametrize(
    "kwargs",
    [
        {"arrival_rate_per_s": -1.0},
        {"arrival_rate_per_s": math.nan},
        {"aht_s": -5.0},
        {"threshold_s": -1.0},
        {"target_sl": 1.5},
        {"target_sl": -0.1},
        {"patience_s": -3.0},
        {"max_agents": -1},
    ],
)
def test_agents_required_rejects_invalid_inputs(kwargs: dict[str, float]) -> None:
    args = {
        "arrival_rate_per_s": CCH_RATE,
        "aht_s": CCH_AHT,
        "threshold_s": 20.0,
        "target_sl": 0.8,
        **kwargs,
    }
    with pytest.raises(ValueError):
        agents_required(**args)


# -------------------------------------------------------------------------- staffing


def test_staffing_erlang_a() -> None:
    result = staffing(CCH_RATE, CCH_AHT, 20, 0.8, agents_now=13, patience_s=120)
    perf = erlang_a(10, 13, 180, 120, 20)
    assert result == Staffing(
        agents_required=12,
        gap=-1,
        predicted_sl=perf.service_level,
        predicted_asa_s=perf.asa_s,
        predicted_abandon_ratio=perf.p_abandon,
        model="erlang_a",
        traffic_erlangs=pytest.approx(10.0),
    )


def test_staffing_without_arrivals_predicts_nothing() -> None:
    result = staffing(0.0, 180, 20, 0.8, agents_now=3)
    assert result == Staffing(0, -3, None, None, None, "erlang_c", 0.0)
    assert staffing(None, 180, 20, 0.8, 3, patience_s=60) == Staffing(
        None, None, None, None, None, "erlang_a"
    )


@pytest.mark.parametrize("aht", [None, 0.0])
def test_staffing_without_aht_data_is_undefined(aht: float | None) -> None:
    assert staffing(CCH_RATE, aht, 20, 0.8, agents_now=5) == Staffing(
        None, None, None, None, None, "erlang_c"
    )


def test_staffing_with_no_agents_now() -> None:
    c = staffing(CCH_RATE, CCH_AHT, 20, 0.8, agents_now=0)
    assert (c.agents_required, c.gap, c.predicted_sl, c.predicted_asa_s) == (14, 14, 0.0, math.inf)
    a = staffing(CCH_RATE, CCH_AHT, 20, 0.8, agents_now=0, patience_s=120)
    assert (a.gap, a.predicted_sl, a.predicted_asa_s, a.predicted_abandon_ratio) == (
        12,
        0.0,
        None,
        1.0,
    )


def test_staffing_unreachable_target_has_no_gap() -> None:
    result = staffing(CCH_RATE, CCH_AHT, 20, 1.0, agents_now=14)
    assert result.agents_required is None and result.gap is None
    assert result.predicted_sl == pytest.approx(0.8884, abs=5e-5)


def test_staffing_infinite_patience_is_erlang_c() -> None:
    assert staffing(CCH_RATE, CCH_AHT, 20, 0.8, 13, patience_s=math.inf) == staffing(
        CCH_RATE, CCH_AHT, 20, 0.8, 13
    )
