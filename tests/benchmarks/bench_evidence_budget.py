"""How many of the gold facts reach the evidence the model is shown, by evidence word budget (not a test).

    rag eval --gold eval/gold/seeds.jsonl --out /tmp/e1            # once per set: fills its collection
    python -m tests.benchmarks.bench_evidence_budget --gold eval/gold/seeds.jsonl --reference-date 2026-11-29
    python -m tests.benchmarks.bench_evidence_budget --gold eval/gold/usnews.jsonl --collection eval_usnews \\
        --reference-date 2017-03-31 --budgets 60,80,100,120,160

The prompt's size is mostly its evidence (issue 14 asks for 220 tokens p50; issue 13 for the facts).
For each answerable gold question the passages are retrieved as `rag ask` retrieves them and the
evidence is chosen with each budget (`rag.answer.evidence.select`); reported per budget: the share
of gold facts found in the evidence text (the eval's `fact_found`), and the words and sentences
shown (p50). No model is asked, so it runs in a minute or two and any machine gives the same figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gold", type=Path, required=True)
    ap.add_argument("--collection", default="eval_seeds", help="the collection `rag eval` filled for this gold set")
    ap.add_argument("--reference-date", help="RAG_REFERENCE_DATE for the questions' time words")
    ap.add_argument("--budgets", default="60,80,100,120")
    args = ap.parse_args()
    os.environ["RAG_COLLECTION"] = args.collection
    if args.reference_date:
        os.environ["RAG_REFERENCE_DATE"] = args.reference_date

    from eval.metrics import facts_found
    from rag import when
    from rag.answer import evidence
    from rag.answer.question import Question
    from rag.pipeline import Pipeline
    from rag.settings import get_settings

    budgets = [int(b) for b in args.budgets.split(",")]
    gold = [json.loads(line) for line in args.gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    gold = [g for g in gold if g.get("answerable", True) and g.get("facts")]
    settings = get_settings()
    pipeline = Pipeline(settings, start_llm=False)
    if not pipeline.documents():
        raise SystemExit(f"collection {args.collection} is empty: run `rag eval --gold {args.gold} ...` once to fill it")
    found = {b: [] for b in budgets}
    words = {b: [] for b in budgets}
    shown_n = {b: [] for b in budgets}
    for g in gold:
        plan = when.plan(g["question"], None, settings)
        ranked = when.retrieve(pipeline.retriever, plan, settings.top_k + settings.conflict_candidates, settings)
        question = Question.read(g["question"])
        for b in budgets:
            shown = evidence.select(question, ranked, settings.evidence_sentences, b)
            text = " ".join(e.text for e in shown)
            hits = facts_found(text, g["facts"])
            found[b].append(sum(hits) / len(hits))
            words[b].append(len(text.split()))
            shown_n[b].append(len(shown))
    print(f"{args.gold} ({len(gold)} answerable questions), collection {args.collection}")
    print("| evidence words (budget) | gold facts in the evidence | words shown p50 | sentences p50 |")
    print("|---:|---:|---:|---:|")
    for b in budgets:
        print(f"| {b} | {statistics.mean(found[b]):.3f} | {statistics.median(words[b]):.0f} | {statistics.median(shown_n[b]):.0f} |")
    pipeline.close()


if __name__ == "__main__":
    main()
