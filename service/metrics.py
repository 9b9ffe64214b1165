"""Prometheus text-format metrics, kept by hand: requests and latency per route,
the LLM line, and token totals."""

from __future__ import annotations

import threading
from collections import defaultdict

from rag.schema import Answer

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, int], int] = defaultdict(int)
        self.latency_buckets: dict[tuple[str, str], list[int]] = {}
        self.latency_sum: dict[tuple[str, str], float] = defaultdict(float)
        self.latency_count: dict[tuple[str, str], int] = defaultdict(int)
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.answers: dict[bool, int] = defaultdict(int)
        self.disconnects = 0

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route)
        with self._lock:
            self.requests[(method, route, status)] += 1
            counts = self.latency_buckets.setdefault(key, [0] * len(BUCKETS))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    counts[i] += 1
            self.latency_sum[key] += seconds
            self.latency_count[key] += 1

    def observe_answer(self, answer: Answer) -> None:
        with self._lock:
            self.prompt_tokens += answer.usage.prompt_tokens
            self.completion_tokens += answer.usage.completion_tokens
            self.answers[answer.abstained] += 1

    def observe_disconnect(self) -> None:
        with self._lock:
            self.disconnects += 1

    def render(self, gauges: dict[str, tuple[str, float]]) -> str:
        out: list[str] = []

        def head(name: str, kind: str, text: str) -> None:
            out.append(f"# HELP {name} {text}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            head("rag_http_requests_total", "counter", "HTTP requests by method, route and status.")
            for (method, route, status), n in sorted(self.requests.items()):
                out.append(f'rag_http_requests_total{{method="{method}",route="{route}",status="{status}"}} {n}')
            head("rag_http_request_duration_seconds", "histogram", "HTTP request latency by method and route.")
            for (method, route), counts in sorted(self.latency_buckets.items()):
                labels = f'method="{method}",route="{route}"'
                for bound, n in zip(BUCKETS, counts):
                    out.append(f'rag_http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {n}')
                total = self.latency_count[(method, route)]
                out.append(f'rag_http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {total}')
                out.append(f"rag_http_request_duration_seconds_sum{{{labels}}} {self.latency_sum[(method, route)]:.6f}")
                out.append(f"rag_http_request_duration_seconds_count{{{labels}}} {total}")
            head("rag_llm_prompt_tokens_total", "counter", "Prompt tokens sent to the LLM for answers.")
            out.append(f"rag_llm_prompt_tokens_total {self.prompt_tokens}")
            head("rag_llm_completion_tokens_total", "counter", "Completion tokens the LLM wrote for answers.")
            out.append(f"rag_llm_completion_tokens_total {self.completion_tokens}")
            head("rag_answers_total", "counter", "Answers given, by whether they abstained.")
            for abstained in (False, True):
                out.append(f'rag_answers_total{{abstained="{str(abstained).lower()}"}} {self.answers[abstained]}')
            head("rag_stream_disconnects_total", "counter", "Answers whose client went away before the end.")
            out.append(f"rag_stream_disconnects_total {self.disconnects}")
        for name, (text, value) in gauges.items():
            kind = "counter" if name.endswith("_total") else "gauge"
            head(name, kind, text)
            out.append(f"{name} {value:g}")
        return "\n".join(out) + "\n"
