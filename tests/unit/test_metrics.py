"""The /metrics exposition: the names, labels and counts dashboards and the tests read."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from rag.schema import Answer, Usage
from service.metrics import Metrics


def _samples(metrics: Metrics) -> dict[tuple[str, tuple], float]:
    text = metrics.render().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}  # fmt: skip


def test_requests_latency_answers_and_disconnects_are_counted_under_their_names() -> None:
    m = Metrics()
    m.observe_request("POST", "/v1/ask", 200, 0.2)
    m.observe_request("POST", "/v1/ask", 200, 3.0)
    m.observe_request("POST", "/v1/ask", 429, 0.001)
    usage = Usage(prompt_tokens=120, completion_tokens=30)
    m.observe_answer(Answer(question="q", answer="a", abstained=True, model="m", usage=usage))
    m.observe_disconnect()
    s = _samples(m)
    ask = (("method", "POST"), ("route", "/v1/ask"))
    assert s[("rag_http_requests_total", (*ask, ("status", "200")))] == 2
    assert s[("rag_http_requests_total", (*ask, ("status", "429")))] == 1
    assert s[("rag_http_request_duration_seconds_bucket", (("le", "0.25"), *ask))] == 2  # 0.001 and 0.2
    assert s[("rag_http_request_duration_seconds_bucket", (("le", "+Inf"), *ask))] == 3
    assert s[("rag_http_request_duration_seconds_count", ask)] == 3
    assert s[("rag_llm_prompt_tokens_total", ())] == 120 and s[("rag_llm_completion_tokens_total", ())] == 30
    assert s[("rag_answers_total", (("abstained", "true"),))] == 1
    assert s[("rag_answers_total", (("abstained", "false"),))] == 0  # present before the first such answer
    assert s[("rag_stream_disconnects_total", ())] == 1
    assert not [k for k in s if k[0].endswith("_created")]


def test_values_kept_elsewhere_are_read_at_each_scrape_and_apps_do_not_share_counts() -> None:
    line = {"waiting": 0}
    m = Metrics()
    m.read_at_scrape(lambda: {"rag_llm_queue_waiting": ("waiting", line["waiting"]),
                              "rag_llm_rejected_total": ("refused", 3)})  # fmt: skip
    assert _samples(m)[("rag_llm_queue_waiting", ())] == 0
    line["waiting"] = 2
    text = m.render().decode()
    assert "rag_llm_queue_waiting 2.0" in text and "# TYPE rag_llm_rejected_total counter" in text
    assert "# TYPE rag_llm_queue_waiting gauge" in text
    other = Metrics()
    m.observe_request("GET", "/healthz", 200, 0.01)
    assert "rag_http_requests_total{" not in other.render().decode()
