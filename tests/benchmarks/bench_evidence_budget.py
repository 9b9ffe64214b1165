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
    ap.add_argument("--depths", default="", help="passages read (RAG_TOP_K + RAG_CONFLICT_CANDIDATES; default as set), e.g. 8,12,16")
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
    depths = [int(d) for d in args.depths.split(",") if d] or [settings.top_k + settings.conflict_candidates]
    arms = [(d, b) for d in depths for b in budgets]
    found = {a: [] for a in arms}
    words = {a: [] for a in arms}
    shown_n = {a: [] for a in arms}
    read = {d: [] for d in depths}
    for g in gold:
        plan = when.plan(g["question"], None, settings)
        deepest = when.retrieve(pipeline.retriever, plan, max(depths), settings)
        question = Question.read(g["question"])
        for d in depths:
            ranked = deepest[:d]
            hits = facts_found(" ".join(p.text for p in ranked), g["facts"])
            read[d].append(sum(hits) / len(hits))
            for b in budgets:
                shown = evidence.select(question, ranked, settings.evidence_sentences, b)
                text = " ".join(e.text for e in shown)
                hits = facts_found(text, g["facts"])
                found[d, b].append(sum(hits) / len(hits))
                words[d, b].append(len(text.split()))
                shown_n[d, b].append(len(shown))
    print(f"{args.gold} ({len(gold)} answerable questions), collection {args.collection}")
    print("| passages read | gold facts in them | evidence words (budget) | gold facts in the evidence | words shown p50 | sentences p50 |")
    print("|---:|---:|---:|---:|---:|---:|")
    for d, b in arms:
        print(f"| {d} | {statistics.mean(read[d]):.3f} | {b} | {statistics.mean(found[d, b]):.3f} "
              f"| {statistics.median(words[d, b]):.0f} | {statistics.median(shown_n[d, b]):.0f} |")
    pipeline.close()


if __name__ == "__main__":
    main()
