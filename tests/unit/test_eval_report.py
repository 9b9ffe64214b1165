"""Reports and the regression gate."""

from __future__ import annotations

import json
import re

import pytest

from eval.metrics import SUMMARY_KEYS, score_question
from eval.report import RATE_METRICS, Regression, compare, load_summary, main, write_report
from eval.runner import write_squad_report
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
    assert main([str(tmp_path), str(tmp_path / "dense.json")]) == 0  # the folder `rag eval --out` wrote


def test_the_gate_says_what_is_wrong_with_its_arguments(tmp_path, capsys):
    (tmp_path / "base.json").write_text(json.dumps({"summary": {"fact_recall": 0.9}}))
    (tmp_path / "broken.json").write_text("{not json")
    for argv in ([str(tmp_path / "missing"), str(tmp_path / "base.json")],
                 [str(tmp_path / "broken.json"), str(tmp_path / "base.json")],
                 [str(tmp_path / "base.json"), str(tmp_path / "base.json"), "a lot"]):  # fmt: skip
        assert main(argv) == 2
        assert "cannot compare" in capsys.readouterr().err


SQUAD_BASE = {
    "em": 0.51,
    "f1": 0.60,
    "recall_at_k": 0.89,
    "bm25_recall_at_k": 0.85,
    "abstention_rate": 0.08,
    "latency_p50_s": 14.1,
    "latency_p95_s": 20.3,
    "n_questions": 300,
    "k": 5,
}


def test_compare_gates_squad_metrics():
    worse = {**SQUAD_BASE, "em": 0.10, "recall_at_k": 0.80, "abstention_rate": 0.20}
    assert compare(worse, SQUAD_BASE) == [
        Regression("em", 0.51, 0.10),
        Regression("recall_at_k", 0.89, 0.80),
        Regression("abstention_rate", 0.08, 0.20),  # every SQuAD question has an answer
    ]
    better = {**SQUAD_BASE, "em": 0.60, "f1": 0.70, "abstention_rate": 0.0}
    assert compare(better, SQUAD_BASE) == []


def test_compare_refuses_a_baseline_that_shares_no_metric():
    # A SQuAD run against the gold-set baseline: only latency would be compared.
    with pytest.raises(ValueError, match="no metric in common"):
        compare(SQUAD_BASE, BASE)
    with pytest.raises(ValueError, match="no metric in common"):
        compare(BASE, SQUAD_BASE)


def test_compare_warns_when_question_count_or_k_differ(capsys):
    compare({**BASE, "n_questions": 68, "k": 4}, {**BASE, "n_questions": 68, "k": 4})
    assert capsys.readouterr().err == ""
    compare({**BASE, "n_questions": 17, "k": 4}, {**BASE, "n_questions": 68, "k": 5})
    err = capsys.readouterr().err
    assert "n_questions differs: run 17, baseline 68" in err
    assert "k differs: run 4, baseline 5" in err


def test_report_counts_failed_questions(tmp_path):
    failed = records("", 0)
    failed[0]["error"] = "TimeoutError: the LLM did not answer"
    paths = write_report(tmp_path, {"hybrid": failed})
    assert json.loads(paths["json"].read_text())["summary"]["n_errors"] == 1
    assert "| n_errors | 1 |" in paths["md"].read_text()


def test_markdown_escapes_pipes_in_the_question(tmp_path):
    gold = {**CITY, "question": "Istanbul | Ankara: where were the talks held?"}
    wrong = score_question(gold, Answer(answer="In Ankara.", abstained=False, model="m"))
    md = write_report(tmp_path, {"hybrid": [wrong]}, chart=False)["md"].read_text()
    row = next(line for line in md.splitlines() if line.startswith(f"| {CITY['id']} |"))
    assert len(re.split(r"(?<!\\)\|", row)) == 7  # five cells between the outer pipes
    assert "Istanbul \\| Ankara" in row


def test_no_facts_answerable_question_is_not_listed_as_wrong(tmp_path):
    unfinished = {**CITY, "id": "slack-1", "facts": []}  # `rag slack --export-feedback`: facts to fill in
    scored = score_question(unfinished, Answer(answer="In Istanbul.", abstained=False, model="m"))
    md = write_report(tmp_path, {"hybrid": [scored]}, chart=False)["md"].read_text()
    assert "slack-1" not in md


@pytest.fixture
def drawn(monkeypatch) -> dict[str, list]:
    """What the charts draw: bar heights and x tick labels."""
    from matplotlib.axes import Axes

    seen: dict[str, list] = {"heights": [], "labels": []}
    bar, set_xticklabels = Axes.bar, Axes.set_xticklabels

    def record_bar(self, x, height, *args, **kwargs):
        seen["heights"] += list(height)
        if all(isinstance(label, str) for label in x):
            seen["labels"] += list(x)
        return bar(self, x, height, *args, **kwargs)

    def record_labels(self, labels, *args, **kwargs):
        seen["labels"] += list(labels)
        return set_xticklabels(self, labels, *args, **kwargs)

    monkeypatch.setattr(Axes, "bar", record_bar)
    monkeypatch.setattr(Axes, "set_xticklabels", record_labels)
    return seen


def test_gold_chart_leaves_out_na_metrics(tmp_path, drawn):
    results = {"hybrid": records("They met in Istanbul.", 2000), "dense": records("They met in Ankara.", 5000)}
    summary = write_report(tmp_path, results)
    summaries = [s["summary"] for s in json.loads(summary["json"].read_text())["systems"].values()]
    shown = [m for m in RATE_METRICS if any(s[m] is not None for s in summaries)]
    assert "citation_precision" not in shown and "conflict_recall" not in shown  # no citations, no conflicts
    assert [label.split(" (")[0] for label in drawn["labels"]] == shown
    assert "false_abstention_rate (lower is better)" in drawn["labels"]
    assert len(drawn["heights"]) == sum(s[m] is not None for s in summaries for m in RATE_METRICS)
    assert None not in drawn["heights"]


def test_squad_chart_leaves_out_na_metrics(tmp_path, drawn):
    # --retrieval-only without --bm25: EM, F1 and BM25 recall are n/a.
    summary = {**SQUAD_BASE, "em": None, "f1": None, "bm25_recall_at_k": None, "abstention_rate": None}
    write_squad_report(tmp_path, {"summary": summary, "questions": []})
    assert drawn["labels"] == ["recall@5 ours"]
    assert drawn["heights"] == [0.89]
