"""Prometheus metrics with `prometheus_client`: requests and latency per route, the LLM line,
token totals, answers and stream disconnects.

Each `Metrics` has a registry of its own, not the library's global one: one process may build
several apps (the tests do), and each app's /metrics must count only its own requests.
`_created` series are switched off: they double every counter's lines and nothing here reads them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    start_http_server,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from rag.errors import InvalidSetting
from rag.schema import Answer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

disable_created_metrics()

# name -> (help text, value): values read at scrape time (the LLM line, restarts), not counted here.
Gauges = dict[str, tuple[str, float]]


class _ReadAtScrape(Collector):
    """Values someone else keeps (the gate's counters, the local model's restarts), read when
    /metrics is scraped; a name ending in `_total` is a counter, any other a gauge."""

    def __init__(self, read: Callable[[], Gauges]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        for name, (text, value) in self.read().items():
            family = CounterMetricFamily if name.endswith("_total") else GaugeMetricFamily
            yield family(name, text, value=value)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("rag_http_requests_total", "HTTP requests by method, route and status.",
                                ["method", "route", "status"], registry=r)  # fmt: skip
        self.latency = Histogram("rag_http_request_duration_seconds", "HTTP request latency by method and route.",
                                 ["method", "route"], buckets=BUCKETS, registry=r)  # fmt: skip
        self.prompt_tokens = Counter("rag_llm_prompt_tokens_total", "Prompt tokens sent to the LLM for answers.",
                                     registry=r)  # fmt: skip
        self.completion_tokens = Counter("rag_llm_completion_tokens_total",
                                         "Completion tokens the LLM wrote for answers.", registry=r)  # fmt: skip
        self.answers = Counter("rag_answers_total", "Answers given, by whether they abstained.", ["abstained"],
                               registry=r)  # fmt: skip
        for abstained in ("false", "true"):  # both series from the start, at 0
            self.answers.labels(abstained=abstained)
        self.disconnects = Counter("rag_stream_disconnects_total", "Answers whose client went away before the end.",
                                   registry=r)  # fmt: skip

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method=method, route=route, status=str(status)).inc()
        self.latency.labels(method=method, route=route).observe(seconds)

    def observe_answer(self, answer: Answer) -> None:
        self.prompt_tokens.inc(answer.usage.prompt_tokens)
        self.completion_tokens.inc(answer.usage.completion_tokens)
        self.answers.labels(abstained=str(answer.abstained).lower()).inc()

    def observe_disconnect(self) -> None:
        self.disconnects.inc()

    def read_at_scrape(self, read: Callable[[], Gauges]) -> None:
        """Expose values kept elsewhere, read on every scrape."""
        self.registry.register(_ReadAtScrape(read))

    def render(self) -> bytes:
        """The Prometheus text format (0.0.4)."""
        return generate_latest(self.registry)


@contextmanager
def serving(metrics: Metrics, host: str, port: int) -> Iterator[str]:
    """`metrics` on http://host:port/metrics from a thread of their own, for a process that
    serves no HTTP app (the Slack bot in Socket Mode); yields the URL (port 0: a free one)."""
    try:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as e:
        raise InvalidSetting(
            f"Cannot serve metrics on {host}:{port} ({e.strerror or e}): set RAG_SLACK_METRICS_PORT to a free port, "
            "or unset it to serve none."
        ) from None
    try:
        yield f"http://{host}:{server.server_port}/metrics"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
