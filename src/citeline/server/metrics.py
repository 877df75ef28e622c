"""Prometheus metrics: requests, latency per route and per answer stage, decisions, guard verdicts, feedback.

Each app has its own registry, so several apps (tests) never share counters.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_STAGES = ("keyword", "embed_query", "dense", "fuse", "rerank", "retrieve", "answer", "llm", "grounding",
           "guard_input", "guard_output", "total")


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("citeline_http_requests", "HTTP requests", ["method", "route", "status"], registry=r)
        self.latency = Histogram("citeline_http_request_seconds", "HTTP request latency", ["route"],
                                 buckets=_LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("citeline_stage_seconds", "Answer latency per stage", ["stage"],
                               buckets=_LATENCY_BUCKETS, registry=r)
        self.decisions = Counter("citeline_answers", "Answers by decision", ["decision", "answerer"], registry=r)
        self.feedback = Counter("citeline_feedback", "Thumbs feedback", ["rating"], registry=r)
        self.rate_limited = Counter("citeline_rate_limited", "Requests refused by the rate limit", registry=r)
        self.uploads = Counter("citeline_uploads", "Uploaded documents by outcome", ["status"], registry=r)
        self.guards = Counter("citeline_guard_decisions", "Guard verdicts by guard, verdict and mode",
                              ["guard", "verdict", "mode"], registry=r)
        self.document_flags = Counter("citeline_document_flags", "Uploaded chunks the document guard flagged or "
                                      "quarantined, by rule", ["rule", "action"], registry=r)

    def answer(self, decision: str, answerer: str, timings_ms: dict[str, float]) -> None:
        self.decisions.labels(decision, answerer).inc()
        for name, ms in timings_ms.items():
            if name in _STAGES:
                self.stage.labels(name).observe(ms / 1000.0)

    def guard_verdicts(self, verdicts) -> None:
        for v in verdicts:
            self.guards.labels(v.guard, v.verdict, v.mode).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts and times every HTTP request by its route template (``/api/traces/{trace_id}``)."""

    def __init__(self, app, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            self.metrics.requests.labels(scope["method"], path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - t0)
