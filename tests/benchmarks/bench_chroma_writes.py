"""CPU a chunk of Chroma's own write work, by what is written, and whether a collection Schema
lightens it (issue 17: the store writes are most of the ingest's non-embedding CPU).

Not a test. First the corpus is ingested once by the project's own pipeline with stand-in vectors
(a hash of each chunk's text: the real embedder would take ~40 ms a chunk and is not what is
measured) and its rows are kept (`--rows` reuses them). Then each arm writes those rows into a
fresh embedded store, in its own process, the way the ingest does (chunks in upserts of 256,
then the article records), and reports the process CPU (Chroma's Rust threads included), the
rows sqlite holds afterwards and the store's size. Arms alternate (A B A B) so that a change of
machine load falls on both:

  plain   the collections as rag/store.py creates them
  schema  a Schema that turns off the full-text index of documents and every metadata inverted
          index but the keys the project filters on (chunks: doc_id, published_ts; records: none)
  nodoc   as plain without the documents (the most the full-text index could cost)
  lean    as plain without llama-index's own metadata keys, which no project code reads
  vec     ids and embeddings only (HNSW insertion and the bare records)

    PYTHONPATH=$PWD nice -n 10 python tests/benchmarks/bench_chroma_writes.py CORPUS --rows /tmp/rows.pkl \
        --arms plain schema nodoc plain schema nodoc

Findings (chromadb 1.5.9, session 13, 2026-12-07; the US news CSV's 3,824 articles written as
.json files: 34,844 chunks and 3,778 records; the lead's model runs kept the load at 3.5-5, so
compare arms within a run only). Total CPU ms a chunk (chunk upserts + article records):

  02:29-02:45  plain 3.98 / 4.28   schema 4.37 / 4.61   nodoc 3.81 / 3.97
  02:45-02:55  vec 3.49 / 3.10     plain 5.01 / 4.99
  02:57-03:12  lean 4.90 / 4.79    plain 4.81 / 5.12
  03:15-03:36  plain 5.60 / 5.58   schema 6.02 / 6.28   nodoc 4.43 / 4.85   (this script)

- Embedded Chroma keeps the Schema (it refuses `where_document` and filters on unindexed keys)
  but does not apply it to writes: the schema arm's sqlite holds the same 38,622 full-text rows
  (every chunk and every record) and 571,774 metadata rows as plain, and the store is the same
  size (450 MB). Its writes are no cheaper (0.3-0.7 ms a chunk dearer, every time). Chroma's
  SqliteMetadataWriter inserts every document into `embedding_fulltext_search` unconditionally.
- What the full-text index could cost at most (nodoc: no documents at all, which the project
  cannot do: it reads chunk and article texts back from Chroma): 0.2-1.2 ms a chunk.
- Dropping llama-index's own metadata keys (lean): store 450 -> 290 MB, CPU unchanged (noise).
- The bulk is HNSW insertion (vec: ~3.1-3.5 ms a chunk with these stand-in random vectors, M=32,
  ef_construction=200, on Chroma's two HNSW threads).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ARMS = ("plain", "schema", "nodoc", "lean", "vec")
LLAMA_KEYS = ("_node_content", "_node_type", "document_id", "ref_doc_id")


class HashEmbedding:
    """A unit vector drawn from a seed hashed from the text: the same text, the same vector."""

    def get_text_embedding_batch(self, texts: list[str]) -> list[np.ndarray]:
        out = []
        for t in texts:
            rng = np.random.default_rng(int.from_bytes(hashlib.sha1(t.encode()).digest()[:8], "little"))
            v = rng.standard_normal(384).astype(np.float32)
            out.append(v / np.linalg.norm(v))
        return out


def build_rows(corpus: Path, dest: Path) -> None:
    """Ingest the corpus into a temporary store with stand-in vectors; keep the rows written."""
    from rag.pipeline import Pipeline
    from rag.settings import get_settings

    store = Path(tempfile.mkdtemp(prefix="chroma-writes-rows-"))
    try:
        base = get_settings()
        settings = base.model_copy(update={"data_dir": store, "model_dir": base.models_path, "auto_seed": False,
                                           "chroma_url": None})  # fmt: skip
        include = ["embeddings", "documents", "metadatas"]
        with Pipeline(settings, start_llm=False, progress=False) as p:
            p.indexer.embedding = HashEmbedding()
            p.indexer.ingest_paths([corpus])
            chunks: dict[str, list] = {k: [] for k in ("ids", *include)}
            offset = 0
            while (got := p.store.chunks.get(include=include, limit=5000, offset=offset))["ids"]:
                for k in chunks:
                    chunks[k] += list(got[k])
                offset += 5000
            docs = p.store.docs.get(include=include)
        rows = {"chunks": chunks, "docs": {k: list(docs[k]) for k in ("ids", *include)}}
        dest.write_bytes(pickle.dumps(rows))
    finally:
        shutil.rmtree(store, ignore_errors=True)


def _schema(filtered: dict[str, object]):
    """A Schema: the settings' HNSW parameters, no full-text index, inverted indexes only on `filtered`."""
    from chromadb.api.types import (BoolInvertedIndexConfig, FloatInvertedIndexConfig, FtsIndexConfig, HnswIndexConfig,
                                    IntInvertedIndexConfig, Schema, StringInvertedIndexConfig, VectorIndexConfig)  # fmt: skip

    from rag.settings import get_settings

    s = get_settings()
    schema = Schema()
    schema.create_index(VectorIndexConfig(space="cosine", hnsw=HnswIndexConfig(
        max_neighbors=s.hnsw_m, ef_construction=s.hnsw_construction_ef, ef_search=s.hnsw_search_ef)))  # fmt: skip
    schema.delete_index(FtsIndexConfig(), key="#document")
    for config in (StringInvertedIndexConfig(), IntInvertedIndexConfig(), FloatInvertedIndexConfig(),
                   BoolInvertedIndexConfig()):  # fmt: skip
        schema.delete_index(config)
    for key, config in filtered.items():
        schema.create_index(config, key=key)
    return schema


def run_arm(arm: str, rows_path: Path) -> dict:
    """Write the rows as `arm` says into a fresh embedded store (this process does nothing else)."""
    import chromadb
    from chromadb.api.types import IntInvertedIndexConfig, StringInvertedIndexConfig
    from chromadb.config import Settings as ChromaSettings

    from rag.settings import get_settings
    from rag.store import hnsw_configuration

    rows = pickle.loads(rows_path.read_bytes())
    chunks, docs = rows["chunks"], rows["docs"]
    if arm == "lean":
        chunks["metadatas"] = [{k: v for k, v in m.items() if k not in LLAMA_KEYS} for m in chunks["metadatas"]]
    path = Path(tempfile.mkdtemp(prefix=f"chroma-writes-{arm}-"))
    try:
        client = chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))
        if arm == "schema":
            filtered = {"doc_id": StringInvertedIndexConfig(), "published_ts": IntInvertedIndexConfig()}
            chunk_col = client.get_or_create_collection("articles", schema=_schema(filtered))
            doc_col = client.get_or_create_collection("articles_docs", schema=_schema({}))
        else:
            chunk_col = client.get_or_create_collection("articles", configuration=hnsw_configuration(get_settings()))
            doc_col = client.get_or_create_collection("articles_docs", configuration=hnsw_configuration(get_settings()))
        columns = ["ids", "embeddings"] + ([] if arm == "vec" else ["metadatas"])
        columns += [] if arm in ("vec", "nodoc") else ["documents"]
        n = len(chunks["ids"])
        cpu0 = time.process_time()
        for i in range(0, n, 256):
            chunk_col.upsert(**{k: chunks[k][i : i + 256] for k in columns})
        cpu1 = time.process_time()
        for i in range(0, len(docs["ids"]), 30):
            doc_col.upsert(**{k: docs[k][i : i + 30] for k in columns})
        cpu2 = time.process_time()
        refused = []
        for what, call in (("where_document", lambda: chunk_col.get(where_document={"$contains": "the"}, limit=1)),
                           ("where title", lambda: chunk_col.get(where={"title": "x"}, limit=1))):  # fmt: skip
            try:
                call()
            except Exception:  # noqa: BLE001 - a schema refuses what it does not index
                refused.append(what)
        client.close()
        db = sqlite3.connect(path / "chroma.sqlite3")
        fts = db.execute("select count(*) from embedding_fulltext_search").fetchone()[0]
        meta = db.execute("select count(*) from embedding_metadata").fetchone()[0]
        db.close()
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    finally:
        shutil.rmtree(path, ignore_errors=True)
    return {"arm": arm, "utc": time.strftime("%H:%M", time.gmtime()), "chunks": n,
            "chunks_cpu_ms": round((cpu1 - cpu0) / n * 1000, 2), "records_cpu_ms": round((cpu2 - cpu1) / n * 1000, 2),
            "total_cpu_ms": round((cpu2 - cpu0) / n * 1000, 2), "fts_rows": fts, "metadata_rows": meta,
            "store_mb": round(size / 1e6, 1), "queries_refused": refused}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path, nargs="?")
    parser.add_argument("--rows", type=Path, required=True, help="rows of an earlier run, or where to keep them")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=["plain", "schema", "plain", "schema"])
    parser.add_argument("--one", choices=ARMS, help=argparse.SUPPRESS)  # a single arm, in this process
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_arm(args.one, args.rows)))
        return
    if not args.rows.exists():
        if args.corpus is None:
            parser.error("a corpus is needed to build --rows")
        build_rows(args.corpus, args.rows)
    for arm in args.arms:
        out = subprocess.run([sys.executable, __file__, "--rows", str(args.rows), "--one", arm],
                             capture_output=True, text=True, check=True)  # fmt: skip
        print(out.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
