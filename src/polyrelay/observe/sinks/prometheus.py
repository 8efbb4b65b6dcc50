"""``prometheus``: LiteLLM's metric names and labels, so its published
Grafana dashboards read a polyrelay gateway unchanged. On when a config
lists ``prometheus`` in ``callbacks`` / ``success_callback`` /
``failure_callback`` (as in LiteLLM); polyrelay's own ``polyrelay_*``
metrics are always there beside them.

Fed from the standard logging payload on the dispatcher's thread, so the
request path does no work for them. Budget gauges show what was known at
the call (spend as of the key's cached record, plus the call's cost).
Each metric's series are bounded, as in gateway/metrics.py: past
``MAX_SERIES`` label sets, new ones fold into "other".
"""

from __future__ import annotations

from typing import Any

MAX_SERIES = 2_000
LATENCY_BUCKETS = (0.005, 0.00625, 0.0125, 0.025, 0.05, 0.1, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5,
                   6.0, 6.5, 7.0, 7.5, 8.0, 8.5, 9.0, 9.5, 10.0, 15.0, 20.0, 25.0, 30.0, 60.0, 120.0, 180.0, 240.0,
                   300.0, float("inf"))
KEY = ["end_user", "hashed_api_key", "api_key_alias", "model", "team", "team_alias", "user"]
DEPLOYMENT = ["requested_model", "litellm_model_name", "model_id", "api_base", "api_provider", "hashed_api_key",
              "api_key_alias", "team", "team_alias"]
EXCEPTION = ["exception_status", "exception_class"]
# name -> (kind, labels, help)
METRICS: dict[str, tuple[str, list[str], str]] = {
    "litellm_requests_metric": ("counter", KEY, "Total LLM calls"),
    "litellm_spend_metric": ("counter", KEY, "Total spend in USD"),
    "litellm_total_tokens": ("counter", KEY, "Input + output tokens"),
    "litellm_input_tokens_metric": ("counter", KEY + ["requested_model"], "Input tokens"),
    "litellm_output_tokens_metric": ("counter", KEY + ["requested_model"], "Output tokens"),
    "litellm_proxy_total_requests_metric": (
        "counter", ["end_user", "hashed_api_key", "api_key_alias", "requested_model", "team", "team_alias", "user",
                    "status_code"], "Requests answered"),
    "litellm_proxy_failed_requests_metric": (
        "counter", ["end_user", "hashed_api_key", "api_key_alias", "requested_model", "team", "team_alias", "user",
                    *EXCEPTION], "Requests that failed"),
    "litellm_request_total_latency_metric": (
        "histogram", ["end_user", "hashed_api_key", "api_key_alias", "requested_model", "team", "team_alias",
                      "user", "model"], "Total latency (seconds) of a request"),
    "litellm_llm_api_latency_metric": (
        "histogram", ["model", "hashed_api_key", "api_key_alias", "team", "team_alias", "requested_model",
                      "end_user", "user"], "Latency (seconds) of the LLM API call"),
    "litellm_llm_api_time_to_first_token_metric": (
        "histogram", ["model", "hashed_api_key", "api_key_alias", "team", "team_alias"],
        "Time to the first token of a streamed answer (seconds)"),
    "litellm_deployment_success_responses": ("counter", DEPLOYMENT, "Successful calls per deployment"),
    "litellm_deployment_failure_responses": ("counter", DEPLOYMENT + EXCEPTION, "Failed calls per deployment"),
    "litellm_deployment_total_requests": ("counter", DEPLOYMENT, "Calls per deployment"),
    "litellm_deployment_state": ("gauge", ["litellm_model_name", "model_id", "api_base", "api_provider"],
                                 "Deployment state: 0 healthy, 1 partial outage, 2 outage"),
    "litellm_remaining_team_budget_metric": ("gauge", ["team", "team_alias"], "Budget left for the team (USD)"),
    "litellm_team_max_budget_metric": ("gauge", ["team", "team_alias"], "Maximum budget of the team (USD)"),
    "litellm_remaining_api_key_budget_metric": ("gauge", ["hashed_api_key", "api_key_alias"],
                                                "Budget left for the key (USD)"),
    "litellm_api_key_max_budget_metric": ("gauge", ["hashed_api_key", "api_key_alias"],
                                          "Maximum budget of the key (USD)"),
}


class PrometheusSink:
    name = "prometheus"
    batch_size, retries, timeout = 200, 0, 10.0
    registry: Any = None  # the gateway's registry; prometheus-client's default one otherwise

    def __init__(self) -> None:
        try:
            import prometheus_client  # noqa: F401  (the proxy extra)
        except ImportError as exc:
            raise ValueError("callback 'prometheus' needs prometheus-client (pip install 'polyrelay[proxy]')") from exc
        self._metrics: dict[str, Any] | None = None
        self._series: dict[str, set] = {}

    def wants(self, phase: str) -> bool:
        return phase != "pre"

    def _made(self) -> dict[str, Any]:
        if self._metrics is None:
            from prometheus_client import REGISTRY, Counter, Gauge, Histogram

            registry = self.registry or REGISTRY
            kinds = {"counter": Counter, "gauge": Gauge, "histogram": Histogram}
            made = {}
            for name, (kind, labels, text) in METRICS.items():
                extra = {"buckets": LATENCY_BUCKETS} if kind == "histogram" else {}
                if kind == "gauge":
                    extra["multiprocess_mode"] = "livemostrecent"
                made[name] = kinds[kind](name, text, labels, registry=registry, **extra)
            self._metrics = made
        return self._metrics

    def _child(self, name: str, values: dict[str, Any]):
        metric = self._made()[name]
        labels = tuple("" if values.get(k) is None else str(values[k]) for k in METRICS[name][1])
        seen = self._series.setdefault(name, set())
        if labels not in seen:
            if len(seen) >= MAX_SERIES:
                labels = tuple("other" for _ in labels)
            seen.add(labels)
        return metric.labels(*labels)

    async def send(self, batch: list) -> None:
        for _, record in batch:
            self.observe(record.standard_logging_object())

    def observe(self, std: dict[str, Any]) -> None:
        meta = std.get("metadata") or {}
        error = std.get("error_information") or {}
        values = {
            "end_user": std.get("end_user") or None, "hashed_api_key": meta.get("user_api_key_hash"),
            "api_key_alias": meta.get("user_api_key_alias"), "team": meta.get("user_api_key_team_id"),
            "team_alias": meta.get("user_api_key_team_alias"), "user": meta.get("user_api_key_user_id"),
            "model": std.get("model"), "requested_model": std.get("model_group"),
            "litellm_model_name": std.get("model"), "model_id": std.get("model_id"),
            "api_base": std.get("api_base"), "api_provider": std.get("custom_llm_provider"),
            "exception_status": error.get("error_code") or None, "exception_class": error.get("error_class"),
            "status_code": "200" if std["status"] == "success" else (error.get("error_code") or "500"),
        }
        child = self._child
        latency = max(0.0, std["endTime"] - std["startTime"])
        child("litellm_proxy_total_requests_metric", values).inc()
        if std.get("model_id"):
            child("litellm_deployment_total_requests", values).inc()
        if std["status"] != "success":
            child("litellm_proxy_failed_requests_metric", values).inc()
            if std.get("model_id"):
                child("litellm_deployment_failure_responses", values).inc()
                child("litellm_deployment_state", values).set(1)
            return
        child("litellm_requests_metric", values).inc()
        cost = std.get("response_cost") or 0.0
        if cost:
            child("litellm_spend_metric", values).inc(cost)
        child("litellm_total_tokens", values).inc(std.get("total_tokens") or 0)
        child("litellm_input_tokens_metric", values).inc(std.get("prompt_tokens") or 0)
        child("litellm_output_tokens_metric", values).inc(std.get("completion_tokens") or 0)
        child("litellm_request_total_latency_metric", values).observe(latency)
        child("litellm_llm_api_latency_metric", values).observe(latency)
        if std.get("stream") and std.get("completionStartTime"):
            child("litellm_llm_api_time_to_first_token_metric", values).observe(
                max(0.0, std["completionStartTime"] - std["startTime"]))
        if std.get("model_id"):
            child("litellm_deployment_success_responses", values).inc()
            child("litellm_deployment_state", values).set(0)
        for prefix, name, remaining in (("user_api_key", "litellm_api_key_max_budget_metric",
                                         "litellm_remaining_api_key_budget_metric"),
                                        ("user_api_key_team", "litellm_team_max_budget_metric",
                                         "litellm_remaining_team_budget_metric")):
            budget = meta.get(f"{prefix}_max_budget")
            if budget is not None:
                child(name, values).set(budget)
                child(remaining, values).set(budget - (meta.get(f"{prefix}_spend") or 0.0) - cost)
