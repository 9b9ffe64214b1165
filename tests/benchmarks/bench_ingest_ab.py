"""Whole-pipeline ingest against raw embedding on a subset of the scale corpus (issue 17 item 3).

Not a test: timings never decide one. Runs the code on PYTHONPATH (so one script measures two
trees, interleaved A B A B), into a fresh temporary store; prints one JSON line:

    PYTHONPATH=/work/main nice -n 10 python tests/benchmarks/bench_ingest_ab.py /tmp/sub/corpus

As `bench_scale ingest` does: raw embedding of a fixed random sample of the chunks the ingest
makes, in ingest's batch size, just before and just after the whole `ingest_paths` (files read,
cleaned, chunked, embedded, stored, keyword-indexed; the parse cache emptied first, as
it is at the scale of the whole corpus); wall chunks/s, CPU ms a chunk (all
threads of this process), and the ingest's chunks/s over the mean of the two raw runs.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--sample", type=int, default=600, help="chunks embedded for each raw run")
    parser.add_argument("--label", default="")
    args = parser.parse_args()

    import rag
    from rag.errors import UnreadableFile
    from rag.nlp import parse
    from rag.ingest.load import iter_files, load_file
    from rag.pipeline import Pipeline
    from rag.settings import get_settings

    store = Path(tempfile.mkdtemp(prefix="ingest-ab-"))
    try:
        base = get_settings()
        settings = base.model_copy(update={"data_dir": store, "model_dir": base.models_path, "auto_seed": False,
                                           "chroma_url": None})  # fmt: skip
        with Pipeline(settings, start_llm=False, progress=False) as pipeline:
            indexer = pipeline.indexer
            texts = []
            for f in iter_files([args.corpus]):
                try:
                    texts += [n.text for a in load_file(f, {}) for n in indexer.chunker.split(a)]
                except UnreadableFile:
                    pass
            sample = random.Random(11).sample(texts, min(args.sample, len(texts)))
            pipeline.embedding.get_text_embedding_batch(sample[:32])  # warm-up
            raws = []

            def raw() -> None:
                cpu0, t0 = time.process_time(), time.perf_counter()
                for i in range(0, len(sample), indexer.batch_chunks):
                    pipeline.embedding.get_text_embedding_batch(sample[i : i + indexer.batch_chunks])
                raws.append((len(sample) / (time.perf_counter() - t0), (time.process_time() - cpu0) / len(sample)))

            raw()
            parse._cache.clear()  # the sample's reading parsed the articles' ends: the ingest parses them again
            cpu0, t0 = time.process_time(), time.perf_counter()
            report = indexer.ingest_paths([args.corpus])
            wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
            raw()
            speed = report.chunks / wall
            raw_speed = statistics.mean(r[0] for r in raws)
            print(json.dumps({
                "label": args.label, "code": str(Path(rag.__file__).parent.parent), "utc": time.strftime("%H:%M", time.gmtime()),
                "chunks": report.chunks, "added": len(report.added), "skipped": len(report.skipped),
                "ingest_s": round(wall, 1), "ingest_chunks_per_s": round(speed, 1),
                "ingest_cpu_ms_per_chunk": round(cpu / report.chunks * 1000, 2),
                "raw_chunks_per_s": [round(r[0], 1) for r in raws],
                "raw_cpu_ms_per_chunk": round(statistics.mean(r[1] for r in raws) * 1000, 2),
                "ingest_vs_raw": round(speed / raw_speed, 3),
                "cpu_ms_over_raw": round(cpu / report.chunks * 1000 - statistics.mean(r[1] for r in raws) * 1000, 2),
            }), flush=True)  # fmt: skip
    finally:
        shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
