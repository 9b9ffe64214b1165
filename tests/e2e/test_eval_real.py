"""The eval runner with the real local model on a small gold subset (slow: ~10 s a question)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.metrics import SUMMARY_KEYS
from eval.report import write_report
from eval.runner import load_gold, ours, run_gold
from rag.settings import PROJECT_ROOT

pytestmark = pytest.mark.e2e

GOLD = PROJECT_ROOT / "eval" / "gold" / "seeds.jsonl"


def test_real_model_subset_is_scored(real_pipeline, tmp_path: Path) -> None:
    rows = load_gold(GOLD)
    subset = [r for r in rows if r["answerable"]][:4] + [r for r in rows if not r["answerable"]][:2]
    k = real_pipeline.settings.top_k
    records = run_gold(subset, ours(real_pipeline, k), k, progress=False)
    paths = write_report(tmp_path, {"ours": records})

    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    s = doc["summary"]
    assert set(SUMMARY_KEYS) <= set(s)
    assert s["n_answerable"] == 4 and s["n_unanswerable"] == 2
    assert s["fact_recall"] > 0
    assert s["hit_at_k"] is not None and s["mrr"] is not None
    assert s["abstention_rate_unanswerable"] is not None and s["false_abstention_rate"] is not None
    assert s["completion_tokens"] > 0 and s["latency_p50_s"] > 0
    assert all(q["response"]["model"] for q in doc["questions"])
    assert paths["png"].stat().st_size > 0
