"""`rag bench`: its percentiles, accounting of concurrent askers and table, and the command
end to end against the stand-in LLM (real Chroma and embeddings; timings are not asserted)."""

from __future__ import annotations

import argparse
import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rag import bench, cli
from rag.errors import Busy, LLMUnavailable
from rag.settings import get_settings
from tests.conftest import MODEL_DIR


def test_percentiles_match_numpy_and_none_for_no_values() -> None:
    values = [4.0, 1.0, 9.5, 2.25, 7.0, 3.0, 11.0]
    for q in (0, 50, 90, 95, 100):
        assert bench.pct(values, q) == pytest.approx(float(np.percentile(values, q)))
    assert bench.pct([], 50) is None
    assert bench.spread([]) == {"p50": None, "p95": None, "n": 0}
    assert bench.spread([1.0, 2.0, 3.0]) == {"p50": 2.0, "p95": 2.9, "n": 3}


def test_questions_are_answerable_ones_spread_over_the_gold_set() -> None:
    rows = [{"question": f"q{i}", "answerable": i % 3 != 0} for i in range(12)]  # 8 answerable
    picked = bench.pick_questions(rows, 4)
    assert picked == ["q1", "q4", "q7", "q10"]
    assert len(bench.pick_questions(rows, 50)) == 8
    assert bench.pick_questions([{"question": "no flag"}], 3) == ["no flag"]


def test_jobs_are_cycled_to_a_multiple_of_the_askers() -> None:
    assert bench.jobs_for(["a", "b", "c"], 2) == ["a", "b", "c", "a"]
    assert bench.jobs_for(["a", "b", "c"], 1) == ["a", "b", "c"]
    assert len(bench.jobs_for(["a"] * 5, 4)) == 8
    assert bench.jobs_for([], 3) == []


def test_concurrent_askers_count_answers_errors_and_rejections_apart_and_lose_none() -> None:
    running = peak = 0
    lock = threading.Lock()

    def ask(question: str) -> str:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        try:
            time.sleep(0.02)
            if question.startswith("busy"):
                raise Busy("queue full")
            if question.startswith("down"):
                raise LLMUnavailable("the model server is not answering")
            return "ok"
        finally:
            with lock:
                running -= 1

    level = bench.run_askers(ask, ["fine 1", "busy", "fine 2", "down", "fine 3"], 3, progress=False)
    # 5 questions cycled to 6: fine 1, busy, fine 2, down, fine 3, fine 1
    assert (level["asked"], level["answers"], level["rejected"], level["errors"], level["lost"]) == (6, 4, 1, 1, 0)
    assert peak == 3  # the askers really asked at once
    assert level["error_kinds"] == ["Busy: queue full", "LLMUnavailable: the model server is not answering"]
    assert level["answer_s"]["n"] == 4 and level["answers_per_min"] > 0


def test_a_question_never_accounted_for_is_reported_lost() -> None:
    outcomes = [bench.Outcome("answer", 1.0), bench.Outcome("rejected", 0.1, "Busy: full")]
    level = bench.summarise_askers(2, 3, outcomes, wall_s=2.0)
    assert level["lost"] == 1 and level["answers"] == 1 and level["rejected"] == 1
    assert level["answers_per_min"] == 30.0
    assert bench.classify(Busy("x")) == "rejected" and bench.classify(RuntimeError("x")) == "error"


def _result() -> dict:
    levels = [
        bench.summarise_askers(1, 4, [bench.Outcome("answer", s) for s in (5.0, 6.0, 5.5, 7.0)], 23.5),
        bench.summarise_askers(
            2, 4, [bench.Outcome("answer", s) for s in (8.0, 9.0, 9.5)] + [bench.Outcome("error", 1.0, "X: y")], 15.0
        ),
    ]
    one = {
        "answers": 4, "errors": 0, "abstained": 1, "error_kinds": [],
        "evidence_s": bench.spread([0.12, 0.2, 0.15, 0.18]), "first_token_s": bench.spread([2.0, 2.5, 2.2]),
        "answer_s": bench.spread([5.0, 6.0, 5.5, 7.0]), "prompt_tokens": bench.spread([210, 230, 190], 0),
    }  # fmt: skip
    starter = {
        "engine": "CitationQueryEngine", "answers": 4, "errors": 0, "error_kinds": [],
        "answer_s": bench.spread([30.0, 31.0, 29.0, 40.0]), "prompt_tokens": bench.spread([1400, 1500], 0),
    }  # fmt: skip
    return {
        "corpus": "seeds", "gold": "eval/gold/seeds.jsonl", "questions": 4, "chunks": 58,
        "embed_raw_chunks_per_s": 16.6, "ingest_chunks_per_s": 17.1, "ingest_vs_raw": 1.03,
        "retrieve_p50_ms": 20.0, "retrieve_p95_ms": 30.0, "retrieve_n": 8, "model": "m", "slots": 1,
        "slots_source": "reported by the server", "one_asker": one, "concurrency": levels, "starter": starter,
        "ours_vs_starter_p50": bench.ratio(5.75, 30.5), "starter_vs_ours_p50": bench.ratio(30.5, 5.75),
        "ours_after_vs_starter_p50": bench.ratio(5.75, 30.5),
    }  # fmt: skip


def test_the_table_shows_every_figure() -> None:
    table = bench.render(_result())
    lines = table.splitlines()
    evidence = next(line for line in lines if "time to first evidence" in line)
    assert "165 ms" in evidence and "197 ms" in evidence  # p50 and p95 of 0.12, 0.15, 0.18, 0.2 s
    assert "5.75 s" in next(line for line in lines if "total answer time" in line and "starter" not in line)
    assert "210" in next(line for line in lines if line.strip().startswith("prompt tokens"))
    row2 = next(line for line in lines if line.split()[:2] == ["2", "4"])
    assert row2.split()[2:6] == ["3", "1", "0", "0"]  # answers, errors, rejected, lost
    assert "0.189" in table and "5.30x slower" in table  # ours/starter at p50, and its inverse
    assert "error: X: y" in table and "1 server slot(s)" in table
    assert "starter: skipped" in bench.render({**_result(), "starter": None})


def test_askers_flag() -> None:
    assert bench.askers_list("1,2,4") == (1, 2, 4)
    assert bench.askers_list("4, 4,1") == (4, 1)
    for bad in ("0,1", "two", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            bench.askers_list(bad)


def test_rag_bench_end_to_end_with_the_stand_in_llm(fake_llm, tmp_path: Path, monkeypatch, capsys) -> None:
    """The command as a user runs it: a fresh store (the user's data dir stays untouched),
    both answer phases, the table on stdout and the JSON file."""
    user_dir = tmp_path / "user-data"
    for name in ("RAG_CHROMA_URL", "OPENAI_API_KEY", "RAG_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("OPENAI_BASE_URL", fake_llm.base_url)
    monkeypatch.setenv("RAG_LLM_MODEL", "fake")
    monkeypatch.setenv("RAG_DATA_DIR", str(user_dir))
    monkeypatch.setenv("RAG_MODEL_DIR", str(MODEL_DIR))
    out = tmp_path / "bench.json"
    get_settings.cache_clear()
    try:
        cli.main(["bench", "--questions", "2", "--repeats", "1", "--askers", "1,2", "--skip-starter",
                  "--json", str(out), "--quiet"])  # fmt: skip
    finally:
        get_settings.cache_clear()
    table = capsys.readouterr().out
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert not user_dir.exists()
    assert doc["questions"] == 2 and doc["chunks"] > 0 and doc["model"] == "fake"
    one = doc["one_asker"]
    assert one["answers"] == 2 and one["errors"] == 0
    assert one["prompt_tokens"]["p50"] > 0 and doc["prompt_tokens_p50"] == one["prompt_tokens"]["p50"]
    assert 0 < one["evidence_s"]["p50"] <= one["first_token_s"]["p50"] <= one["answer_s"]["p50"]
    assert [lv["askers"] for lv in doc["concurrency"]] == [1, 2]
    for lv in doc["concurrency"]:
        assert lv["asked"] == 2 and lv["answers"] == 2 and lv["errors"] == lv["rejected"] == lv["lost"] == 0
    assert "starter" not in doc and "starter: skipped" in table
    assert "time to first token" in table and "answers/min" in table and f"wrote {out}" in table
