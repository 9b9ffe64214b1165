"""Reports and the regression gate."""

from __future__ import annotations

import json

from eval.metrics import SUMMARY_KEYS, score_question
from eval.report import Regression, compare, load_summary, main, write_report
from rag.schema import Answer, Timings, Usage

CITY = {
    "id": "q01",
    "question": "In which city were the talks held?",
    "facts": [["Istanbul"]],
    "sources": ["003_c1e344e38b025e9e"],
    "answerable": True,
    "conflict": False,
}
CHINA = {
    "id": "q60",
    "question": "What did China say?",
    "facts": [],
    "sources": [],
    "answerable": False,
    "conflict": False,
}


def records(city_answer: str, latency_ms: float) -> list[dict]:
    def ans(text: str, abstained: bool) -> Answer:
        return Answer(
            answer=text,
            abstained=abstained,
            model="m",
            timings=Timings(total_ms=latency_ms),
            usage=Usage(prompt_tokens=50, completion_tokens=5),
        )

    return [score_question(CITY, ans(city_answer, False)), score_question(CHINA, ans("I don't know.", True))]


BASE = {
    "fact_recall": 0.80,
    "answer_accuracy": 0.70,
    "citation_precision": 0.90,
    "citation_recall": 0.60,
    "abstention_rate_unanswerable": 0.80,
    "false_abstention_rate": 0.10,
    "conflict_recall": 0.50,
    "hit_at_k": 0.90,
    "mrr": 0.75,
    "latency_p50_s": 10.0,
    "latency_p95_s": 20.0,
    "prompt_tokens": 1000,
    "completion_tokens": 100,
}


def test_compare_flags_only_real_regressions():
    same_ish = {
        **BASE,
        "fact_recall": 0.76,
        "false_abstention_rate": 0.14,
        "latency_p95_s": 29.0,
        "prompt_tokens": 99999,
    }
    assert compare(same_ish, BASE) == []
    worse = {**BASE, "answer_accuracy": 0.60, "false_abstention_rate": 0.20, "latency_p50_s": 15.5, "mrr": None}
    assert compare(worse, BASE) == [
        Regression("answer_accuracy", 0.70, 0.60),
        Regression("false_abstention_rate", 0.10, 0.20),
        Regression("latency_p50_s", 10.0, 15.5),
    ]
    assert compare(worse, BASE, tolerance=0.2) == [Regression("latency_p50_s", 10.0, 15.5)]
    better = {**BASE, "answer_accuracy": 0.99, "latency_p50_s": 1.0, "false_abstention_rate": 0.0}
    assert compare(better, BASE) == []


def test_write_report_single_system(tmp_path):
    paths = write_report(tmp_path, {"hybrid": records("They met in Istanbul.", 2000)})
    doc = json.loads(paths["json"].read_text())
    assert set(doc) == {"summary", "questions"}
    assert all(key in doc["summary"] for key in SUMMARY_KEYS)
    assert doc["summary"]["answer_accuracy"] == 1.0 and len(doc["questions"]) == 2
    md = paths["md"].read_text()
    assert "| metric | hybrid |" in md and "| answer_accuracy | 1.000 |" in md
    assert paths["png"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_write_report_side_by_side_and_gate(tmp_path):
    results = {"hybrid": records("They met in Istanbul.", 2000), "dense": records("They met in Ankara.", 5000)}
    paths = write_report(tmp_path, results)
    doc = json.loads(paths["json"].read_text())
    assert set(doc["systems"]) == {"hybrid", "dense"}
    assert doc["summary"] == doc["systems"]["hybrid"]["summary"]
    assert doc["systems"]["dense"]["summary"]["answer_accuracy"] == 0.0
    md = paths["md"].read_text()
    assert "| metric | hybrid | dense |" in md and "| answer_accuracy | 1.000 | 0.000 |" in md
    assert paths["png"].stat().st_size > 1000

    (tmp_path / "dense.json").write_text(json.dumps({"summary": doc["systems"]["dense"]["summary"]}))
    assert load_summary(tmp_path / "dense.json")["latency_p50_s"] == 5.0
    assert main([str(paths["json"]), str(tmp_path / "dense.json")]) == 0  # hybrid vs dense baseline: better
    assert main([str(tmp_path / "dense.json"), str(paths["json"])]) == 1  # dense vs hybrid baseline: worse
