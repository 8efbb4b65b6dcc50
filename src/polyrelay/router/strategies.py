"""How a router picks one deployment from the healthy ones of a group.

Each strategy is a function of the candidates and what the router measured
about them (``Stats``); none does I/O. LiteLLM's names: simple-shuffle,
least-busy, latency-based-routing, usage-based-routing (and -v2).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Callable, Sequence

from .deployment import Deployment


@dataclass(slots=True)
class Stats:
    in_flight: float = 0.0
    latency: float | None = None  # seconds, moving average; None until measured
    rpm_used: float = 0.0
    tpm_used: float = 0.0
    cooling: bool = False


def simple_shuffle(candidates: Sequence[Deployment], stats: Sequence[Stats], rng: random.Random, **_) -> Deployment:
    """Random, weighted by ``weight``, else ``rpm``, else ``tpm``, else evenly."""
    for field in ("weight", "rpm", "tpm"):
        weights = [getattr(d, field) for d in candidates]
        if any(weights):
            return rng.choices(candidates, weights=[w or 0 for w in weights])[0]
    return rng.choice(candidates)


def least_busy(candidates: Sequence[Deployment], stats: Sequence[Stats], rng: random.Random, **_) -> Deployment:
    fewest = min(s.in_flight for s in stats)
    return rng.choice([d for d, s in zip(candidates, stats) if s.in_flight == fewest])


def lowest_latency(candidates: Sequence[Deployment], stats: Sequence[Stats], rng: random.Random,
                   lowest_latency_buffer: float = 0.0, **_) -> Deployment:
    """The fastest by recent latency; an unmeasured deployment is tried first.
    Within ``lowest_latency_buffer`` (a fraction) of the best, pick at random,
    so near-equal deployments share the load instead of one taking it all."""
    unmeasured = [d for d, s in zip(candidates, stats) if s.latency is None]
    if unmeasured:
        return rng.choice(unmeasured)
    best = min(s.latency for s in stats)  # type: ignore[type-var]
    limit = best * (1 + lowest_latency_buffer)
    return rng.choice([d for d, s in zip(candidates, stats) if s.latency <= limit])  # type: ignore[operator]


def lowest_usage(candidates: Sequence[Deployment], stats: Sequence[Stats], rng: random.Random, **_) -> Deployment:
    """The most headroom in the current minute: fewest tokens used relative
    to the deployment's tpm (absolute tokens where no tpm is set)."""
    def load(pair: tuple[Deployment, Stats]) -> float:
        deployment, stat = pair
        tokens = stat.tpm_used / deployment.tpm if deployment.tpm else stat.tpm_used
        requests = stat.rpm_used / deployment.rpm if deployment.rpm else 0.0
        return max(tokens, requests)

    pairs = list(zip(candidates, stats))
    lightest = min(load(p) for p in pairs)
    return rng.choice([d for d, s in pairs if load((d, s)) == lightest])


# What each strategy reads from ``Stats``: the router keeps (and, with Redis,
# shares) only these, so simple-shuffle costs no state writes per request.
# "rpm"/"tpm" are also kept for any deployment with an rpm/tpm limit.
STRATEGY_READS: dict[str, frozenset[str]] = {
    "simple-shuffle": frozenset(),
    "least-busy": frozenset({"busy"}),
    "latency-based-routing": frozenset({"latency"}),
    "usage-based-routing": frozenset({"rpm", "tpm"}),
    "usage-based-routing-v2": frozenset({"rpm", "tpm"}),
}

STRATEGIES: dict[str, Callable[..., Deployment]] = {
    "simple-shuffle": simple_shuffle,
    "least-busy": least_busy,
    "latency-based-routing": lowest_latency,
    "usage-based-routing": lowest_usage,
    "usage-based-routing-v2": lowest_usage,
}
