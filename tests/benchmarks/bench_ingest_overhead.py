"""CPU a chunk of the ingest pipeline without the embedding model, by phase (issue 17 item 3).

Not a test. The embedding is replaced by a look-up of the real vectors an earlier ingest of the
same corpus stored (`--vectors-from`, a Chroma directory such as /work/scale-data/store/chroma,
copied first: it is only read), so only the pipeline's own work is measured: reading and
cleaning, chunking, near-duplicate look-ups, store writes (Chroma's own threads included in the
process total) and the keyword index. Runs the code on PYTHONPATH into a fresh temporary store:

    PYTHONPATH=/work/main nice -n 10 python tests/benchmarks/bench_ingest_overhead.py CORPUS --vectors-from DIR

Phases are timed with `time.thread_time` on the thread that runs them (nested ones indented).
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--vectors-from", type=Path, required=True)
    parser.add_argument("--collection", default="articles")
    args = parser.parse_args()

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    import rag.ingest.indexer as ix
    import rag.keyword as kw
    import rag.store as st
    from rag.pipeline import Pipeline
    from rag.settings import get_settings

    source = chromadb.PersistentClient(path=str(args.vectors_from), settings=ChromaSettings(anonymized_telemetry=False))
    col, vectors, offset = source.get_collection(args.collection), {}, 0
    while True:
        got = col.get(include=["embeddings", "documents"], limit=5000, offset=offset)
        if not got["ids"]:
            break
        vectors.update({d: np.asarray(e, dtype=np.float32) for d, e in zip(got["documents"], got["embeddings"])})
        offset += 5000
    fallback = np.full(384, 1 / np.sqrt(384), dtype=np.float32)

    spent: dict[str, float] = collections.defaultdict(float)

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **k):
            t = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                spent[name] += time.thread_time() - t

        return wrapper

    class Lookup:
        def get_text_embedding_batch(self, texts):
            return [vectors.get(t, fallback) for t in texts]

    store = Path(tempfile.mkdtemp(prefix="ingest-overhead-"))
    try:
        base = get_settings()
        settings = base.model_copy(update={"data_dir": store, "model_dir": base.models_path, "auto_seed": False,
                                           "chroma_url": None})  # fmt: skip
        with Pipeline(settings, start_llm=False, progress=False) as p:
            indexer = p.indexer
            indexer.embedding = Lookup()
            ix.load_file = timed("read and clean", ix.load_file)
            indexer.chunker.split = timed("chunk", indexer.chunker.split)
            indexer._near_duplicates = timed("near-duplicates", indexer._near_duplicates)
            p.store.put_articles = timed("store writes (this thread)", p.store.put_articles)
            st.chunk_row = timed("  chunk rows", st.chunk_row)
            p.keyword.update = timed("keyword index", p.keyword.update)
            kw._compact = timed("  merges", kw._compact)
            cpu0, t0 = time.process_time(), time.perf_counter()
            report = indexer.ingest_paths([args.corpus])
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        n = max(report.chunks, 1)
        out = {"utc": time.strftime("%H:%M", time.gmtime()), "chunks": report.chunks, "wall_s": round(wall, 1),
               "process_cpu_ms_per_chunk": round(cpu / n * 1000, 2)}  # fmt: skip
        out.update({name: round(s / n * 1000, 2) for name, s in spent.items()})
        print(json.dumps(out))
    finally:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
