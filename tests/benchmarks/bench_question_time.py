"""Does taking a question's time words out of the retrieval text help? (not a test)

    python -m eval.usnews eval/data                                   # once: the US news gold corpus
    python -m tests.benchmarks.bench_question_time [--corpus eval/data/usnews/corpus] [--gold eval/gold/usnews.jsonl]

Each answerable gold question with no time words of its own is asked three ways about its source
article's publication date:
as written (no time words, no filter); with "in <Month>" added, reference date the end of the
collection; and with "last week" added, reference date three days after the source's date. The
time words give a date filter in both; they are either kept in the text that retrieval embeds and
matches, or taken out (`rag.when.STRIP_FROM_QUERY`). Reported: recall@5 (a gold source among the
top 5 passages' articles) and the mean rank of the first gold passage (20 when not found), per way.
The gold questions with time words of their own ("in 2016", "last year") are asked as written, with
the time words read and not read (`RAG_QUESTION_DATES`), reference date the end of the collection.
The store is built in a temporary directory (a few minutes of embedding on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from rag import when
from rag.pipeline import Pipeline
from rag.settings import PROJECT_ROOT, Settings


def _rank(passages, sources: set[str]) -> int:
    return next((i for i, p in enumerate(passages) if p.doc_id in sources), 20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "eval/data/usnews/corpus")
    parser.add_argument("--gold", type=Path, default=PROJECT_ROOT / "eval/gold/usnews.jsonl")
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse a store built before (default: a temp dir)")
    args = parser.parse_args()
    dates = {}
    for f in args.corpus.glob("*.json"):
        record = json.loads(f.read_text())
        if record.get("published_at"):
            dates[record["id"]] = datetime.fromisoformat(record["published_at"])
    end = max(dates.values())
    gold = [json.loads(line) for line in args.gold.read_text().splitlines() if line.strip()]
    gold = [g for g in gold if g.get("answerable") and g.get("sources") and all(s in dates for s in g["sources"])]
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=args.data_dir or Path(tmp), model_dir=Settings().models_path, auto_seed=False,
                            collection="bench_time")  # fmt: skip
        with Pipeline(settings, start_llm=False, progress=True) as pipeline:
            if pipeline.store.count_chunks() == 0:
                pipeline.ingest([args.corpus])
            ranks: dict[str, list[int]] = {}

            def record(way: str, passages, sources) -> None:
                ranks.setdefault(way, []).append(_rank(passages, sources))

            for g in gold:
                q = g["question"].rstrip("?")
                sources = set(g["sources"])
                day = dates[g["sources"][0]]
                settings.reference_date = end
                own = when.question_time(g["question"], end)
                if own.filters or own.newest_first:  # its own time words: asked as written only
                    record("own time words, as written", pipeline.search(g["question"], k=20), sources)
                    settings.question_dates = False
                    record("own time words, not read", pipeline.search(g["question"], k=20), sources)
                    settings.question_dates = True
                    continue
                record("as written, no filter", pipeline.search(g["question"], k=20), sources)
                for way, question, ref in [
                    ("in <Month>", f"{q} in {day:%B}?", end),
                    ("last week", f"{q} last week?", day + timedelta(days=3)),
                ]:
                    for strip in (False, True):
                        when.STRIP_FROM_QUERY = strip
                        settings.reference_date = ref
                        label = f"{way}, time words {'taken out' if strip else 'kept'}"
                        record(label, pipeline.search(question, k=20), sources)
            when.STRIP_FROM_QUERY = True
    print(f"{len(gold)} answerable gold questions, {len(dates)} dated articles")
    print(f"{'way':45} questions  recall@5  mean rank of first gold passage")
    for way, found in ranks.items():
        recall = sum(r < 5 for r in found) / len(found)
        print(f"{way:45} {len(found):9d} {recall:8.3f}  {statistics.mean(found):.2f}")


if __name__ == "__main__":
    main()
