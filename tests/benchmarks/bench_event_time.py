"""Does dating a question's events ("after the talks", "before the merger was announced") help
retrieval on the gold sets? (not a test)

    python -m eval.usnews eval/data           # once: the US news gold corpus
    python -m tests.benchmarks.bench_event_time

Every gold question that names an event (`rag.when.question_time(...).events`) is searched with
its events dated by the articles (`rag.when.date_event`) and not (`rag.when.DATE_EVENTS`).
Reported per gold set: how each event was dated (the `time.events` note), and for the answerable
questions recall@5 (a gold source among the top 5 passages' articles) and the mean rank of the
first gold passage (20 when not found), both ways. The stores are built in a temporary directory
(a minute or two of embedding on 2 cores for US news).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from rag import when
from rag.pipeline import Pipeline
from rag.settings import PROJECT_ROOT, Settings


def _rank(passages, sources: set[str]) -> int:
    return next((i for i, p in enumerate(passages) if p.doc_id in sources), 20)


def run(name: str, corpus: Path, gold_path: Path, tmp: Path) -> None:
    gold = [json.loads(line) for line in gold_path.read_text().splitlines() if line.strip()]
    gold = [g for g in gold if when.question_time(g["question"]).events]
    settings = Settings(data_dir=tmp / name, model_dir=Settings().models_path, auto_seed=False,
                        collection=f"bench_events_{name}")  # fmt: skip
    with Pipeline(settings, start_llm=False, progress=True) as pipeline:
        pipeline.ingest([corpus])
        ranks: dict[bool, list[int]] = {True: [], False: []}
        for g in gold:
            for dated in (True, False):
                when.DATE_EVENTS = dated
                plan = when.plan(g["question"], None, settings)
                passages = when.retrieve(pipeline.retriever, plan, 20, settings)
                if dated:
                    print(f"{name}: {g['question']}  [answerable={g.get('answerable')}]")
                    for e in plan.events or []:
                        print(f"    {e.note}")
                if g.get("answerable") and g.get("sources"):
                    ranks[dated].append(_rank(passages, set(g["sources"])))
        when.DATE_EVENTS = True
    for dated, r in ranks.items():
        if r:
            recall = sum(x < 5 for x in r) / len(r)
            print(f"{name}, events {'dated' if dated else 'not dated'}: {len(r)} answerable questions, "
                  f"recall@5 {recall:.3f}, mean first gold rank {statistics.mean(r):.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--usnews", type=Path, default=PROJECT_ROOT / "eval/data/usnews/corpus")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        run("seeds", PROJECT_ROOT / "seeds", PROJECT_ROOT / "eval/gold/seeds.jsonl", Path(tmp))
        if args.usnews.is_dir():
            run("usnews", args.usnews, PROJECT_ROOT / "eval/gold/usnews.jsonl", Path(tmp))


if __name__ == "__main__":
    main()
