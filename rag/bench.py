"""`rag bench`: the pipeline benchmark on the seeds (not a test; timings never decide a test).

Prints ingest chunks/s next to the embedding model's raw chunks/s, retrieval p50/p95,
and, with the configured LLM, time to first token and total answer time p50/p95.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.settings import get_settings

QUESTIONS = [
    "How many prisoners did each side agree to swap?",
    "Who led Ukraine's delegation?",
    "Where were the talks held?",
    "How long did the talks last?",
    "Who chaired the meeting?",
    "What did Russia demand before a ceasefire?",
    "Which leaders did Zelensky call after the talks?",
    "What did Macron say after the talks?",
]


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(answers: int, repeats: int) -> dict:
    from rag.pipeline import Pipeline

    base = get_settings()
    with tempfile.TemporaryDirectory() as tmp:
        settings = base.model_copy(update={"data_dir": Path(tmp), "model_dir": base.models_path, "auto_seed": False})
        with Pipeline(settings, start_llm=False) as pipeline:
            # Raw embedding speed on the very chunks ingest will produce.
            from rag.ingest.load import iter_files, load_file

            articles = [a for f in iter_files([settings.seeds_dir]) for a in load_file(f)]
            texts = [n.text for a in articles for n in pipeline.indexer.chunker.split(a)]
            pipeline.embedding.get_text_embedding_batch(texts[:8])  # warm-up
            started = time.perf_counter()
            pipeline.embedding.get_text_embedding_batch(texts)
            raw = len(texts) / (time.perf_counter() - started)

            report = pipeline.ingest([settings.seeds_dir])
            ingest = report.chunks / report.seconds

            retrieve_ms = []
            for _ in range(repeats):
                pipeline.retriever.embed_query.cache_clear()  # measure the whole path, not the cache
                for q in QUESTIONS:
                    t = time.perf_counter()
                    pipeline.search(q)
                    retrieve_ms.append((time.perf_counter() - t) * 1000)

            result = {
                "chunks": report.chunks,
                "embed_raw_chunks_per_s": round(raw, 1),
                "ingest_chunks_per_s": round(ingest, 1),
                "ingest_vs_raw": round(ingest / raw, 3),
                "retrieve_p50_ms": round(_pct(retrieve_ms, 50), 1),
                "retrieve_p95_ms": round(_pct(retrieve_ms, 95), 1),
            }
            if answers:
                pipeline.llm  # noqa: B018 - start the model before timing
                pipeline.ask(QUESTIONS[0])  # warm-up: loads weights into the page cache
                first, total = [], []
                for q in (QUESTIONS * 4)[:answers]:
                    answer = pipeline.ask(q)
                    total.append(answer.timings.total_ms / 1000)
                    if answer.timings.first_token_ms is not None:
                        first.append(answer.timings.first_token_ms / 1000)
                result.update(
                    model=pipeline.llm.model,
                    answers=len(total),
                    first_token_p50_s=round(_pct(first, 50), 2),
                    first_token_p95_s=round(_pct(first, 95), 2),
                    answer_p50_s=round(_pct(total, 50), 2),
                    answer_p95_s=round(_pct(total, 95), 2),
                )
    return result


def cmd_bench(args: argparse.Namespace) -> None:
    result = run(args.answers, args.repeats)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    width = max(len(k) for k in result)
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("--answers", type=int, default=8, help="questions to answer with the LLM (0: skip)")
    parser.add_argument("--repeats", type=int, default=5, help="rounds of retrieval timing")
    parser.add_argument("--json", action="store_true")
    parser.set_defaults(func=cmd_bench)
