"""Baselines for `rag eval --baselines`, each an `AnswerFn` returning our `Answer` shape.

All use the pipeline's embedding model and LLM.

llamaindex_vector
    Plain `VectorStoreIndex` over the seed files (llama-index's default
    `SentenceSplitter`, 1024-token chunks) in its own Chroma collection
    `<collection>_plain`, queried with `index.as_query_engine(llm=...)` at its defaults
    (similarity_top_k=2, compact synthesis). It does not cite: the answer carries no
    markers, so `citation_precision` / `citation_recall` do not apply (n/a, None) and
    the source nodes are only used as its retrieved passages (hit@k, MRR).
llamaindex_citation
    `CitationQueryEngine.from_args(index, llm=...)` at its defaults over the same index
    (similarity_top_k=2, sources re-split to 512 tokens). Its "[n]" markers refer to
    `response.source_nodes[n-1]`, which become `Citation(marker=n)` (the "Source n:"
    prefix removed from the text), so our scorer applies unchanged. "[Source n]" and
    "(Source n)", which the small local model often writes, count as "[n]"; a bare
    "Source n:" echoed at the start of the answer does not (it is not a citation).
dense_only, bm25_only
    Our chunks and answerer, with `Pipeline.search(mode="dense" | "keyword")`.

For the llama-index engines `abstained` is True only when the text says the sources
do not answer (ABSTAIN_PATTERN); token counts come from the LLM responses' `usage`.
"""

from __future__ import annotations

import re
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqdm import tqdm

from eval.runner import AnswerFn
from rag.bench import STARTER_TOP_K, spread
from rag.pipeline import Pipeline
from rag.schema import Answer, Citation, Passage, Timings, Usage

ABSTAIN_PATTERN = re.compile(
    r"\b(?:do(?:es)?n[o']?t|do(?:es)? not) (?:say|mention|specify|state|contain|provide|include)\b"
    r"|\bnot (?:mentioned|specified|stated|provided)\b|\bno (?:information|mention)\b"
    r"|\bcannot (?:be )?(?:determined?|answer(?:ed)?)\b|\bnone of the sources\b|\bunable to (?:determine|answer)\b",
    re.I,
)
_SOURCE_PREFIX = re.compile(r"^\s*Source \d+:\s*")
# Small models often write "[Source 2]" or "(Source 2)" for "[2]": read them as markers.
_SOURCE_MARKER = re.compile(r"[\[(]Source (\d+)[\])]", re.I)


def normalise_markers(text: str) -> str:
    """'Istanbul [Source 2].' -> 'Istanbul [2].'"""
    return _SOURCE_MARKER.sub(r"[\1]", text)

SYSTEMS = ("llamaindex_vector", "llamaindex_citation", "dense_only", "bm25_only")


def our_mode(pipeline: Pipeline, k: int, mode: str) -> AnswerFn:
    """Our answerer over dense-only or keyword-only (BM25) passages."""

    def run(question: str) -> tuple[Answer, list[Passage], float]:
        started = time.perf_counter()
        passages = pipeline.search(question, k=k, mode=mode)
        timings = Timings(retrieve_ms=round((time.perf_counter() - started) * 1000, 1))
        answer = pipeline.answerer.answer(question, passages, timings)
        seconds = time.perf_counter() - started
        answer.timings.total_ms = round(seconds * 1000, 1)
        return answer, passages, seconds

    return run


class _UsageCounter:
    """Sums prompt/completion tokens of llama-index LLM calls (instrumentation events)."""

    def __init__(self) -> None:
        from llama_index.core.instrumentation import get_dispatcher
        from llama_index.core.instrumentation.event_handlers import BaseEventHandler
        from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMCompletionEndEvent

        counter = self
        self.lock = threading.Lock()
        self.prompt_tokens = self.completion_tokens = 0

        class Handler(BaseEventHandler):
            def handle(self, event: Any, **kwargs: Any) -> None:
                if isinstance(event, (LLMChatEndEvent, LLMCompletionEndEvent)) and event.response is not None:
                    raw = getattr(event.response, "raw", None)
                    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
                    if usage is not None:
                        get = usage.get if isinstance(usage, dict) else lambda key: getattr(usage, key, 0)
                        with counter.lock:
                            counter.prompt_tokens += get("prompt_tokens") or 0
                            counter.completion_tokens += get("completion_tokens") or 0

        get_dispatcher().add_event_handler(Handler())

    def take(self) -> Usage:
        with self.lock:
            usage = Usage(prompt_tokens=self.prompt_tokens, completion_tokens=self.completion_tokens)
            self.prompt_tokens = self.completion_tokens = 0
        return usage


def build_plain_index(pipeline: Pipeline, seeds_dir: Path | None = None, corpus: Path | None = None) -> Any:
    """A fresh `VectorStoreIndex` of the seed files in Chroma collection `<collection>_plain`.

    With `corpus` (a folder or file of articles, `rag eval --corpus`), its articles as our
    loader reads them (title and text; JSON records are not text files for
    `SimpleDirectoryReader`) instead of the seed files.
    """
    from llama_index.core import Document, SimpleDirectoryReader, StorageContext, VectorStoreIndex
    from llama_index.vector_stores.chroma import ChromaVectorStore

    from rag.errors import UnreadableFile
    from rag.ingest.load import iter_files, load_file

    seeds = seeds_dir or pipeline.settings.seeds_dir
    name = f"{pipeline.settings.collection}_plain"
    client = pipeline.store.client
    if name in {getattr(c, "name", c) for c in client.list_collections()}:
        client.delete_collection(name)
    collection = client.create_collection(name)
    if corpus is not None:
        articles = []
        for path in iter_files([corpus]):
            try:
                articles.extend(load_file(path, skipped={}))
            except UnreadableFile:  # left out of ours too (ingest_corpus reports it)
                continue
        docs = [Document(text=f"{a.title}\n\n{a.text}", metadata={"doc_id": a.doc_id}) for a in articles]
    else:
        docs = SimpleDirectoryReader(str(seeds), file_metadata=lambda p: {"doc_id": Path(p).stem}).load_data()
    for doc in docs:  # the id is for scoring only: neither embedded nor shown to the LLM
        doc.excluded_embed_metadata_keys.append("doc_id")
        doc.excluded_llm_metadata_keys.append("doc_id")
    storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
    return VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=pipeline.embedding)


def llamaindex_llm(pipeline: Pipeline) -> Any:
    from llama_index.llms.openai_like import OpenAILike

    llm = pipeline.llm
    return OpenAILike(
        model=llm.model, api_base=llm.base_url, api_key="x", is_chat_model=True, context_window=4096, max_tokens=256,
        timeout=pipeline.settings.llm_timeout_s * 2, max_retries=1,  # a slow local model is not worth 3 retries
    )  # fmt: skip


def _passage(node_with_score: Any, rank: int) -> Passage:
    node = node_with_score.node
    text = _SOURCE_PREFIX.sub("", node.get_content())
    meta = node.metadata or {}
    start = node.start_char_idx if node.start_char_idx is not None else 0
    return Passage(
        chunk_id=node.node_id,
        doc_id=str(meta.get("doc_id", "")),
        title=str(meta.get("file_name", meta.get("doc_id", ""))),
        text=text,
        start=start,
        end=node.end_char_idx if node.end_char_idx is not None else start + len(text),
        score=float(node_with_score.score or 0.0),
        dense_score=float(node_with_score.score) if node_with_score.score is not None else None,
    )


def to_answer(response: Any, model: str, cites: bool, usage: Usage, seconds: float) -> tuple[Answer, list[Passage]]:
    """A llama-index `Response` in our `Answer` shape (see the module doc)."""
    text = str(response).strip()
    if cites:
        text = normalise_markers(text)
    passages = [_passage(n, i) for i, n in enumerate(response.source_nodes, 1)]
    citations = []
    if cites:
        citations = [
            Citation(
                marker=i, doc_id=p.doc_id, title=p.title, chunk_id=p.chunk_id,
                start=p.start, end=p.end, text=p.text, score=p.score,
            )  # fmt: skip
            for i, p in enumerate(passages, 1)
        ]
    answer = Answer(
        answer=text,
        abstained=bool(ABSTAIN_PATTERN.search(text)) or not text or text == "Empty Response",
        citations=citations,
        model=model,
        timings=Timings(total_ms=round(seconds * 1000, 1)),
        usage=usage,
    )
    return answer, passages


def llamaindex_engine(engine: Any, model: str, cites: bool, counter: _UsageCounter) -> AnswerFn:
    def run(question: str) -> tuple[Answer, list[Passage], float]:
        counter.take()
        started = time.perf_counter()
        response = engine.query(question)
        seconds = time.perf_counter() - started
        answer, passages = to_answer(response, model, cites, counter.take(), seconds)
        return answer, passages, seconds

    return run


def baseline_systems(pipeline: Pipeline, k: int, corpus: Path | None = None) -> dict[str, AnswerFn]:
    """Every baseline by name (SYSTEMS), built on the pipeline's embedding and LLM (over `corpus`
    when given, else the seed files)."""
    from llama_index.core.query_engine import CitationQueryEngine

    index = build_plain_index(pipeline, corpus=corpus)
    llm = llamaindex_llm(pipeline)
    counter = _UsageCounter()
    model = pipeline.llm.model
    return {
        "llamaindex_vector": llamaindex_engine(index.as_query_engine(llm=llm), model, False, counter),
        "llamaindex_citation": llamaindex_engine(CitationQueryEngine.from_args(index, llm=llm), model, True, counter),
        "dense_only": our_mode(pipeline, k, "dense"),
        "bm25_only": our_mode(pipeline, k, "keyword"),
    }


# --- the starter that `rag bench` compares with (registered as an entry point) ---------


def bench_starter(
    pipeline: Any, corpus: Path | None, questions: Sequence[str], warm_up: str, progress: bool
) -> dict[str, Any]:
    """The plain LlamaIndex starter that `rag bench` compares with (see rag/bench.py's doc):
    its answer times and prompt tokens on the same questions, model and server."""
    from llama_index.core.query_engine import CitationQueryEngine

    index = build_plain_index(pipeline, corpus=corpus)
    llm = llamaindex_llm(pipeline)
    engine = CitationQueryEngine.from_args(index, llm=llm, similarity_top_k=STARTER_TOP_K)
    counter = _UsageCounter()
    try:
        engine.query(warm_up)  # first-call costs (tokenizer, prompt templates) are not answering
    except Exception:  # noqa: BLE001 - the measured questions will show the failure
        pass
    seconds, tokens, errors = [], [], []
    for question in tqdm(questions, desc="starter", unit="q", disable=not progress, leave=False, file=sys.stderr):
        counter.take()
        started = time.perf_counter()
        try:
            engine.query(question)
        except Exception as e:  # noqa: BLE001 - counted and shown, the run goes on
            errors.append(f"{type(e).__name__}: {e}"[:200])
            continue
        seconds.append(time.perf_counter() - started)
        if used := counter.take().prompt_tokens:
            tokens.append(used)
    return {
        "engine": f"CitationQueryEngine.from_args(index, similarity_top_k={STARTER_TOP_K}), default chunks, "
        f"OpenAILike max_tokens={llm.max_tokens}",
        "answers": len(seconds),
        "errors": len(errors),
        "answer_s": spread(seconds),
        "prompt_tokens": spread(tokens, 0),
        "error_kinds": sorted(set(errors))[:5],
    }
