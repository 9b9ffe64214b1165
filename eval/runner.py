"""Run the eval: gold questions (and baselines) or a SQuAD sample through a `Pipeline`.

Gold run (`run_gold`)
    Each question goes through `Pipeline.ask`, the code path the CLI and the HTTP
    service use. The retrieved passages are fetched again with `Pipeline.search(q, k)`
    (same retriever, same k, deterministic) for hit@k and MRR. One record per question:
    the `score_question` scores plus `response` (the full `Answer` as JSON) and
    `passages` (the retrieved passages, in rank order). A question whose answer
    function raises (an LLM timeout, say) is scored as an empty answer and carries the
    exception in `error`; the run goes on. Its time until the failure is its latency,
    and the summary's `n_errors` counts such questions.

SQuAD run (`run_squad`)
    The sampled questions' articles (every paragraph of each, one document per
    paragraph) are ingested into their own collection; each question is answered with
    the full pipeline. Citation markers are stripped before scoring; an abstention is
    the empty prediction (scores 0). `em` and `f1` are the official SQuAD v1.1 scores
    (max over gold answers) as fractions 0..1 (the official script prints them x100);
    `recall_at_k` is the share of questions whose gold paragraph is among the doc ids of
    the first k retrieved passages. `bm25_recall_at_k` is the same for keyword-only
    retrieval (no LLM). A failed question is an abstention with the exception in `error`
    (counted in `n_errors`).
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval.metrics import percentile, recall_at_k, score_question, squad_exact_match, squad_f1
from rag.answer.short import without_question_words
from rag.pipeline import Pipeline
from rag.schema import Answer, IngestReport, Passage

log = logging.getLogger(__name__)

OURS = "ours"
SQUAD_COLLECTION = "squad_dev"

# An answer function: question -> (answer, retrieved passages in rank order, seconds).
AnswerFn = Callable[[str], tuple[Answer, list[Passage], float]]


def load_gold(path: str | Path, limit: int | None = None) -> list[dict[str, Any]]:
    """The gold questions of a JSONL file (the first `limit` when given)."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows[:limit] if limit else rows


def ours(pipeline: Pipeline, k: int) -> AnswerFn:
    """Our system: `Pipeline.ask`, and `Pipeline.search` for the passages it retrieved."""

    def run(question: str) -> tuple[Answer, list[Passage], float]:
        started = time.perf_counter()
        answer = pipeline.ask(question, k=k)
        seconds = time.perf_counter() - started
        return answer, pipeline.search(question, k=k), seconds

    return run


def run_gold(
    gold: Sequence[dict[str, Any]], answer_fn: AnswerFn, k: int, desc: str = OURS, progress: bool = True
) -> list[dict[str, Any]]:
    """Score every gold question answered by `answer_fn`; one record per question."""
    records = []
    for q in tqdm(gold, desc=desc, unit="q", disable=not progress):
        error = None
        started = time.perf_counter()
        try:
            answer, passages, seconds = answer_fn(q["question"])
        except Exception as e:  # one failed question (e.g. an LLM timeout) must not lose the run
            log.warning("%s: %s failed: %s: %s", desc, q["id"], type(e).__name__, e)
            answer, passages = Answer(answer="", abstained=False, model="error"), []
            seconds = time.perf_counter() - started  # a timeout is slow too: it counts in the percentiles
            error = f"{type(e).__name__}: {e}"
        record = score_question(q, answer, passages, latency_s=round(seconds, 3) if seconds else None, k=k)
        record["response"] = answer.model_dump(mode="json")
        record["passages"] = [p.model_dump(mode="json") for p in passages]
        record["error"] = error
        records.append(record)
    return records


def ingest_corpus(pipeline: Pipeline, corpus: Path, gold: Sequence[dict[str, Any]] = ()) -> IngestReport:
    """Make the pipeline's collection hold exactly the articles of `corpus` (a folder or file).

    New or changed articles are ingested (an unchanged one is a no-op, as in `rag ingest`);
    articles of the collection that the corpus no longer gives are removed, so a run scores
    against this corpus and no earlier version of it. A file the loader cannot read is
    reported and left out. Raises ValueError when a gold question names an article the
    corpus does not give: the question could not be scored fairly.
    """
    report = pipeline.ingest([corpus])
    for where, reason in report.skipped.items():
        log.warning("corpus: skipped %s: %s", where, reason)
    present = set(report.added) | set(report.updated) | set(report.unchanged)
    keep = present | set(report.not_stored)  # a store failure keeps the earlier version
    for doc in pipeline.documents():
        if doc.doc_id not in keep:
            pipeline.remove(doc.doc_id)
    missing = sorted({doc for q in gold for doc in q.get("sources", [])} - present)
    if missing:
        shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise ValueError(f"the corpus {corpus} has no article {shown}, which the gold questions name as sources")
    return report


# ---------------------------------------------------------------------------
# SQuAD

_MARKERS = re.compile(r"\s*\[\d+\]")


def strip_markers(text: str) -> str:
    """'Paris [1][2].' -> 'Paris.'"""
    return " ".join(_MARKERS.sub("", text).split())


def squad_prediction(answer: Answer) -> str:
    """What SQuAD scores: the short answer; without one, the answer's first sentence less the
    words the question already says (SQuAD answers are spans, not sentences); '' for an abstention."""
    if answer.abstained:
        return ""
    if answer.short_answer:
        return answer.short_answer
    first = next((s.text for s in answer.sentences if s.kind != "conflict"), None)  # structure, not the rendered string
    return without_question_words(first or strip_markers(answer.answer), answer.question)


def squad_record(
    q: Any, answer: Answer | None, passages: Sequence[Passage], seconds: float | None, k: int
) -> dict[str, Any]:
    """One scored SQuAD question; `answer` None for a retrieval-only run (EM/F1 None)."""
    prediction = squad_prediction(answer) if answer is not None else None
    doc_ids = [p.doc_id for p in passages]
    return {
        "id": q.id,
        "question": q.question,
        "gold_answers": q.answers,
        "paragraph_id": q.paragraph_id,
        "prediction": prediction,
        "abstained": answer.abstained if answer is not None else None,
        "em": squad_exact_match(prediction, q.answers) if prediction is not None else None,
        "f1": squad_f1(prediction, q.answers) if prediction is not None else None,
        "recall_at_k": recall_at_k(doc_ids, q.paragraph_id, k),
        "retrieved_doc_ids": doc_ids,
        "latency_s": round(seconds, 3) if seconds is not None else None,
        "response": answer.model_dump(mode="json") if answer is not None else None,
    }


def squad_summary(records: Sequence[dict[str, Any]], bm25_recall: float | None, k: int) -> dict[str, Any]:
    def mean(key: str) -> float | None:
        xs = [float(r[key]) for r in records if r.get(key) is not None]
        return sum(xs) / len(xs) if xs else None

    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    return {
        "em": mean("em"),
        "f1": mean("f1"),
        "recall_at_k": mean("recall_at_k"),
        "bm25_recall_at_k": bm25_recall,
        "abstention_rate": mean("abstained"),
        "latency_p50_s": percentile(latencies, 50) if latencies else None,
        "latency_p95_s": percentile(latencies, 95) if latencies else None,
        "n_questions": len(records),
        "n_errors": sum(1 for r in records if r.get("error")),
        "k": k,
    }


def squad_articles(all_articles: Iterable[dict[str, str]], questions: Sequence[Any]) -> list[dict[str, str]]:
    """Every paragraph (as an article record) of the articles the questions come from."""
    titles = {q.title for q in questions}
    return [a for a in all_articles if a["title"] in titles]


def ingest_squad(pipeline: Pipeline, articles: Sequence[dict[str, str]], progress: bool = True) -> None:
    """Each paragraph its own document, as `Pipeline.ingest_record` makes it, in one batch
    (one keyword-index rebuild instead of one per paragraph); unchanged ones are skipped."""
    from rag.ingest.load import article_from_record

    have = {d.doc_id for d in pipeline.documents()}
    todo = [article_from_record(a, a["id"], source="upload") for a in articles if a["id"] not in have]
    if todo:
        pipeline.ingest_articles(todo, progress=progress)


def run_squad(
    pipeline: Pipeline,
    questions: Sequence[Any],
    k: int,
    bm25: bool = True,
    progress: bool = True,
    answer: bool = True,
) -> dict[str, Any]:
    """Answer and score the sampled SQuAD questions; {"summary", "questions"}.

    `answer=False` scores retrieval only (recall@k; no LLM is started)."""
    records = []
    for q in tqdm(questions, desc="squad", unit="q", disable=not progress):
        reply, seconds, error = None, None, None
        if answer:
            started = time.perf_counter()
            try:
                reply = pipeline.ask(q.question, k=k, short=True)
            except Exception as e:  # one failed question must not lose the run; it scores 0
                log.warning("squad: %s failed: %s: %s", q.id, type(e).__name__, e)
                error = f"{type(e).__name__}: {e}"
                reply = Answer(answer="", abstained=True, model="error", abstain_reason=error)
            seconds = time.perf_counter() - started
        record = squad_record(q, reply, pipeline.search(q.question, k=k), seconds, k)
        record["error"] = error
        records.append(record)
    bm25_recall = None
    if bm25:
        hits = [
            recall_at_k([p.doc_id for p in pipeline.search(q.question, k=k, mode="keyword")], q.paragraph_id, k)
            for q in questions
        ]
        for r, hit in zip(records, hits):
            r["bm25_recall_at_k"] = hit
        bm25_recall = sum(hits) / len(hits) if hits else None
    return {"summary": squad_summary(records, bm25_recall, k), "questions": records}


def write_squad_report(out_dir: str | Path, result: dict[str, Any], command: str = "") -> dict[str, Path]:
    """report.json, report.md and report.png (bars: EM, F1, recall@k ours vs BM25; n/a ones left out)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = result["summary"]
    paths = {"json": out / "report.json", "md": out / "report.md", "png": out / "report.png"}
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = ["# SQuAD v1.1 dev sample", ""] + ([f"`{command}`", ""] if command else [])
    lines += ["| metric | value |", "|---|---:|"]
    lines += [f"| {key} | {_fmt(value)} |" for key, value in s.items()]
    paths["md"].write_text("\n".join(lines) + "\n", encoding="utf-8")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = s["k"]
    bars = [
        ("EM", s["em"], "C0"),
        ("F1", s["f1"], "C0"),
        (f"recall@{k} ours", s["recall_at_k"], "C0"),
        (f"recall@{k} BM25", s["bm25_recall_at_k"], "C1"),
    ]
    shown = [bar for bar in bars if bar[1] is not None]  # n/a (--retrieval-only, no --bm25): no bar, not 0
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar([b[0] for b in shown], [b[1] for b in shown], color=[b[2] for b in shown])
    ax.set_ylim(0, 1.05)
    ax.set_title(f"SQuAD v1.1 dev, {s['n_questions']} questions")
    fig.tight_layout()
    fig.savefig(paths["png"], dpi=110)
    plt.close(fig)
    return paths


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
