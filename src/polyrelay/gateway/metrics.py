"""Prometheus metrics for ``GET /metrics``.

Each gateway app owns its registry (not prometheus-client's global one), so
several apps in one process (tests, embedding) never collide. Names follow
Prometheus conventions with a ``polyrelay_`` prefix; labels are bounded
(route templates, configured model groups, deployment ids), never raw
paths or user input, so a scan of random URLs cannot blow up the series.

With ``--num_workers N`` the CLI sets ``PROMETHEUS_MULTIPROC_DIR``: each
worker then writes its samples to files there and a scrape, whichever
worker answers it, reads them all (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

MAX_SERIES_PER_METRIC = 2_000

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1)

# Deployment state values, as LiteLLM's Prometheus integration reports them.
HEALTHY, PARTIAL_OUTAGE, OUTAGE = 0, 1, 2


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._last_state: dict[tuple[str, str], int] = {}
        # Labelled children, looked up once: ``labels()`` takes a lock and
        # builds a tuple on every call, the most expensive part of recording.
        # Label values are bounded (see the module docstring), so is this.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._series: dict[int, int] = {}  # label sets made per metric
        r = self.registry
        self.requests = Counter("polyrelay_requests", "HTTP requests answered, by route and status",
                                ["route", "method", "status"], registry=r)
        self.errors = Counter("polyrelay_errors", "Requests that ended in an error, by route, model and error type",
                              ["route", "model", "error_type"], registry=r)
        self.latency = Histogram("polyrelay_request_latency_seconds", "Time from request to the end of the answer",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.overhead = Histogram("polyrelay_overhead_latency_seconds",
                                  "Time spent in the gateway itself, excluding the router and provider",
                                  ["route"], buckets=OVERHEAD_BUCKETS, registry=r)
        self.ttft = Histogram("polyrelay_time_to_first_token_seconds", "Time from request to the first streamed chunk",
                              ["model"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("polyrelay_in_flight_requests", "Requests being served right now", registry=r,
                               multiprocess_mode="livesum")
        self.tokens = Counter("polyrelay_tokens", "Tokens used, by model group and kind (prompt, completion, cached)",
                              ["model", "kind"], registry=r)
        self.spend = Counter("polyrelay_spend_usd", "Cost of answered requests in USD, by model group",
                             ["model"], registry=r)
        self.deployment_requests = Counter("polyrelay_deployment_requests", "LLM calls by deployment and outcome",
                                           ["model", "deployment", "outcome"], registry=r)
        self.deployment_state = Gauge("polyrelay_deployment_state",
                                      "Deployment health: 0 healthy, 1 partial outage, 2 outage",
                                      ["model", "deployment"], registry=r, multiprocess_mode="livemostrecent")
        # Every worker of an instance shares its spool directory, so they report the same count: max, not sum.
        self.dead_letters = Gauge("polyrelay_spend_dead_letter_records",
                                  "Spend records the database refused, set aside in the spool's dead-letters.jsonl",
                                  registry=r, multiprocess_mode="max")
        self.spool_writable = Gauge("polyrelay_spend_spool_writable",
                                    "1 if spend records can be written to the spool, 0 if not (calls answer 503)",
                                    registry=r, multiprocess_mode="livemin")

        self.soft_budget_alerts = Counter("polyrelay_soft_budget_alerts",
                                          "Times a key's spend went past its soft_budget (an alert, not a block)",
                                          ["kind"], registry=r)

    def child(self, metric, *labels: str):
        key = (id(metric), labels)
        found = self._children.get(key)
        if found is None:
            # Labels can carry caller-chosen values (a user_config deployment id):
            # past a bound, new series fold into "other" so memory stays flat.
            if self._series.get(id(metric), 0) >= MAX_SERIES_PER_METRIC:
                labels = tuple("other" for _ in labels)
                key = (id(metric), labels)
                found = self._children.get(key)
                if found is not None:
                    return found
            self._series[id(metric)] = self._series.get(id(metric), 0) + 1
            found = self._children[key] = metric.labels(*labels)
        return found

    def record_usage(self, model: str, usage: dict | None, cost: float | None) -> None:
        if usage:
            prompt = usage.get("prompt_tokens") or 0
            completion = usage.get("completion_tokens") or 0
            details = usage.get("prompt_tokens_details") or {}
            cached = (details.get("cached_tokens") or 0) if isinstance(details, dict) else 0
            if prompt:
                self.child(self.tokens, model, "prompt").inc(prompt)
            if completion:
                self.child(self.tokens, model, "completion").inc(completion)
            if cached:
                self.child(self.tokens, model, "cached").inc(cached)
        if cost:
            self.child(self.spend, model).inc(cost)

    def record_deployment(self, model: str, deployment: str | None, ok: bool, health: bool = True) -> None:
        """Count a call; ``health=False`` for a failure that says nothing about the deployment."""
        if not deployment:
            return
        self.child(self.deployment_requests, model, deployment, "success" if ok else "failure").inc()
        if health:
            self.set_deployment_state(model, deployment, HEALTHY if ok else PARTIAL_OUTAGE)

    def set_deployment_state(self, model: str, deployment: str, state: int) -> None:
        """The last thing we learnt about a deployment (a call, a health check)."""
        key = (model, deployment)
        if key not in self._last_state and len(self._last_state) >= MAX_SERIES_PER_METRIC:
            key = model, deployment = "other", "other"  # bounded, as the series are
        if self._last_state.get(key) != state:  # most calls change nothing: skip the gauge write
            self._last_state[key] = state
            self.child(self.deployment_state, model, deployment).set(state)

    def last_state(self, model: str, deployment: str) -> int | None:
        """What the last call or health check said about a deployment (None: nothing yet)."""
        return self._last_state.get((model, deployment))

    def show_deployment_states(self, deployments: list[tuple[str, str]], cooling: set[str]) -> None:
        """Before a scrape: a deployment the Router is cooling down is in
        outage now; the others show the last thing we learnt (healthy if nothing)."""
        for model, deployment in deployments:
            state = OUTAGE if deployment in cooling else self._last_state.get((model, deployment), HEALTHY)
            self.child(self.deployment_state, model, deployment).set(state)

    def show_store(self, spool_writable: bool, dead_letters: int) -> None:
        self.spool_writable.set(1 if spool_writable else 0)
        self.dead_letters.set(dead_letters)

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_client.multiprocess import MultiProcessCollector

            every_worker = CollectorRegistry()
            MultiProcessCollector(every_worker)
            return generate_latest(every_worker)
        return generate_latest(self.registry)
