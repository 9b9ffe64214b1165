"""`rag eval` end to end with the stand-in LLM: real Chroma, real embeddings, real reports."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from eval import cli
from eval.metrics import SUMMARY_KEYS, summarise
from eval.report import SQUAD_RATE_METRICS
from eval.runner import load_gold, run_gold, run_squad, squad_prediction, strip_markers
from rag.schema import Answer
from rag.settings import PROJECT_ROOT

GOLD = PROJECT_ROOT / "eval" / "gold" / "seeds.jsonl"


@pytest.fixture(scope="module")
def subset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five gold questions: three answerable, two unanswerable."""
    rows = [json.loads(line) for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]
    picked = [r for r in rows if r["answerable"]][:3] + [r for r in rows if not r["answerable"]][:2]
    path = tmp_path_factory.mktemp("gold") / "subset.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in picked), encoding="utf-8")
    return path


@pytest.fixture
def report(fake_settings, subset: Path, tmp_path: Path) -> Path:
    out = tmp_path / "out"
    assert cli.main(["--gold", str(subset), "--out", str(out), "--quiet"], settings=fake_settings) == 0
    return out


def test_report_json_has_summary_and_one_record_per_question(report: Path) -> None:
    doc = json.loads((report / "report.json").read_text(encoding="utf-8"))
    assert set(SUMMARY_KEYS) <= set(doc["summary"])
    s = doc["summary"]
    assert s["n_questions"] == 5 and s["n_answerable"] == 3 and s["n_unanswerable"] == 2
    assert 0.0 <= s["fact_recall"] <= 1.0
    assert 0.0 <= s["hit_at_k"] <= 1.0 and 0.0 <= s["mrr"] <= 1.0
    assert s["latency_p50_s"] > 0 and s["latency_p95_s"] >= s["latency_p50_s"]
    assert s["prompt_tokens"] > 0
    assert len(doc["questions"]) == 5
    for q in doc["questions"]:
        Answer.model_validate(q["response"])  # the full answer object
        assert q["passages"] and all("doc_id" in p and "text" in p for p in q["passages"])
        assert {"fact_recall", "citation_precision", "hit_at_k", "mrr", "latency_s"} <= set(q)
    answerable = [q for q in doc["questions"] if q["answerable"]]
    assert any(q["hit_at_k"] == 1.0 for q in answerable)
    assert (report / "report.png").stat().st_size > 0
    assert "| fact_recall |" in (report / "report.md").read_text(encoding="utf-8")


def test_compare_fails_on_an_impossible_baseline_and_passes_against_itself(
    fake_settings, subset: Path, report: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    summary = json.loads((report / "report.json").read_text(encoding="utf-8"))["summary"]
    impossible = tmp_path / "impossible.json"
    impossible.write_text(json.dumps({**summary, "fact_recall": 1.5}), encoding="utf-8")
    argv = ["--gold", str(subset), "--out", str(tmp_path / "again"), "--quiet", "--compare"]
    assert cli.main([*argv, str(impossible)], settings=fake_settings) == 1
    assert "REGRESSION fact_recall" in capsys.readouterr().err
    # Against its own summary. Stand-in latencies are a few ms of noise, so the latency
    # gate (+50%) is left out here (None is skipped by `compare`).
    itself = tmp_path / "itself.json"
    itself.write_text(json.dumps({**summary, "latency_p50_s": None, "latency_p95_s": None}), encoding="utf-8")
    assert cli.main([*argv, str(itself)], settings=fake_settings) == 0


def test_rag_cli_exits_non_zero_on_regression(fake_settings, subset: Path, tmp_path: Path, monkeypatch) -> None:
    """The `rag eval` subcommand (rag/cli.py) turns a regression into exit status 1."""
    from rag import cli as rag_cli

    monkeypatch.setattr(cli, "get_settings", lambda: fake_settings)
    impossible = tmp_path / "impossible.json"
    impossible.write_text(json.dumps({"hit_at_k": 2.0}), encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        argv = ["eval", "--gold", str(subset), "--out", str(tmp_path / "o"), "--quiet", "--compare", str(impossible)]
        rag_cli.main(argv)
    assert exited.value.code == 1


def test_squad_prediction_strips_markers_and_abstentions_score_empty() -> None:
    assert strip_markers("Denver Broncos [1][2].") == "Denver Broncos."
    answer = Answer(answer="The articles don't say.", abstained=True, model="m")
    assert squad_prediction(answer) == ""


def _tiny_squad(path: Path) -> Path:
    """Two articles of two paragraphs, SQuAD v1.1 format."""
    def para(context: str, qid: str, question: str, answer: str) -> dict:
        qa = {"id": qid, "question": question, "answers": [{"text": answer, "answer_start": context.index(answer)}]}
        return {"context": context, "qas": [qa]}

    lighthouses = [
        para(
            "The Pharos of Alexandria was built in the third century BC on the island of Pharos.",
            "a1", "On which island was the Pharos of Alexandria built?", "Pharos",
        ),
        para(
            "The Eddystone Lighthouse stands on rocks fourteen kilometres south of Plymouth.",
            "a2", "How far south of Plymouth is the Eddystone Lighthouse?", "fourteen kilometres",
        ),
    ]
    glaciers = [
        para(
            "The Aletsch Glacier is the largest glacier in the Alps, at about 23 kilometres long.",
            "b1", "Which is the largest glacier in the Alps?", "The Aletsch Glacier",
        ),
        para(
            "Glacial ice appears blue because it absorbs red light more than blue light.",
            "b2", "Why does glacial ice look blue?", "it absorbs red light",
        ),
    ]  # fmt: skip
    data = {"version": "1.1", "data": [
        {"title": "Lighthouses", "paragraphs": lighthouses}, {"title": "Glaciers", "paragraphs": glaciers}
    ]}  # fmt: skip
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_squad_run_scores_em_f1_and_recall(fake_settings, tmp_path: Path) -> None:
    squad = _tiny_squad(tmp_path / "squad.json")
    out = tmp_path / "squad_out"
    argv = ["--squad", str(squad), "--limit", "3", "--seed", "1", "--bm25", "--k", "2", "--out", str(out), "--quiet"]
    assert cli.main(argv, settings=fake_settings) == 0
    doc = json.loads((out / "report.json").read_text(encoding="utf-8"))
    s = doc["summary"]
    assert {"em", "f1", "recall_at_k", "bm25_recall_at_k", "latency_p50_s"} <= set(s)
    assert s["n_questions"] == 3 and s["n_paragraphs"] == 4
    assert 0.0 <= s["em"] <= s["f1"] <= 1.0 and s["f1"] > 0
    assert s["recall_at_k"] > 0.5 and s["bm25_recall_at_k"] > 0.5
    assert all("[" not in (q["prediction"] or "") for q in doc["questions"])
    assert (out / "report.png").stat().st_size > 0


def test_failed_questions_are_counted_and_keep_their_latency(subset: Path) -> None:
    gold = load_gold(subset)

    def answer_fn(question: str):
        time.sleep(0.02)
        if question == gold[0]["question"]:
            raise TimeoutError("the LLM did not answer")
        return Answer(answer="I don't know.", abstained=True, model="m"), [], 0.01

    records = run_gold(gold, answer_fn, k=4, progress=False)
    assert records[0]["error"] == "TimeoutError: the LLM did not answer"
    assert records[0]["latency_s"] >= 0.02  # the time until it failed
    s = summarise(records)
    assert s["n_errors"] == 1 and s["latency_p95_s"] > 0.01  # the others all took 0.01 s


class _FailingPipeline:
    """Answers nothing: `ask` raises for the first question; `search` finds nothing."""

    def __init__(self, failing: str) -> None:
        self.failing = failing

    def ask(self, question: str, k: int, short: bool) -> Answer:
        if question == self.failing:
            raise TimeoutError("the LLM did not answer")
        return Answer(answer="Pharos.", abstained=False, model="m", short_answer="Pharos")

    def search(self, question: str, k: int, mode: str | None = None) -> list:
        return []


def test_squad_run_counts_failed_questions() -> None:
    questions = [
        SimpleNamespace(id=f"q{i}", question=f"Question {i}?", answers=["Pharos"], paragraph_id="p1", title="T")
        for i in range(3)
    ]
    result = run_squad(_FailingPipeline(questions[0].question), questions, k=2, bm25=False, progress=False)
    assert set(SQUAD_RATE_METRICS) <= set(result["summary"])  # what `compare` gates
    assert result["summary"]["n_errors"] == 1
    assert result["questions"][0]["error"] == "TimeoutError: the LLM did not answer"
    assert [q["error"] for q in result["questions"][1:]] == [None, None]


def test_squad_compare_gates_squad_metrics_and_refuses_a_gold_baseline(
    fake_settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    squad = _tiny_squad(tmp_path / "squad.json")
    argv = ["--squad", str(squad), "--limit", "3", "--k", "2", "--retrieval-only", "--quiet", "--out"]
    assert cli.main([*argv, str(tmp_path / "first")], settings=fake_settings) == 0
    summary = json.loads((tmp_path / "first" / "report.json").read_text(encoding="utf-8"))["summary"]
    capsys.readouterr()

    impossible = tmp_path / "impossible.json"
    impossible.write_text(json.dumps({**summary, "recall_at_k": 1.5}), encoding="utf-8")
    assert cli.main([*argv, str(tmp_path / "again"), "--compare", str(impossible)], settings=fake_settings) == 1
    assert "REGRESSION recall_at_k" in capsys.readouterr().err

    gold_baseline = PROJECT_ROOT / "eval" / "baselines" / "seeds.json"
    code = cli.main([*argv, str(tmp_path / "third"), "--compare", str(gold_baseline)], settings=fake_settings)
    assert code != 0 and code != 1  # not a regression: the comparison itself is impossible
    assert "no metric in common" in capsys.readouterr().err
