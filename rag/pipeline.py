"""The one place where the pieces are wired together from settings.

`Pipeline` is what the CLI, the HTTP service, the Slack bot and the eval suite use:
ingest, list and remove documents, search, ask (whole or streamed), and chat.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from rag import when
from rag.answer import conflicts, prompts
from rag.answer.answerer import Answerer
from rag.components import ChatModel, Parts, build_parts
from rag.errors import EmptyQuestion, InvalidInput
from rag.ingest.chunk import Chunker
from rag.ingest.limits import LimitedIndexer
from rag.ingest.load import article_from_record
from rag.llm.client import ChatLLM, Message
from rag.llm.local import LocalLLMServer
from rag.nlp import lexicon
from rag.retrieve import HybridRetriever
from rag.schema import Answer, DocInfo, EvidenceSentence, Filters, IngestReport, Passage, Timings
from rag.settings import Settings

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 2000


def lone_surrogate(text: str) -> str | None:
    """Where the text holds a lone surrogate (JSON "\\ud800": not Unicode text), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"character {e.start} ({text[e.start]!r})"
    return None


def clean_question(question: str) -> str:
    if not isinstance(question, str) or not question.strip():
        raise EmptyQuestion()
    question = " ".join(question.split())
    if where := lone_surrogate(question):
        raise InvalidInput(f"The question has a lone surrogate at {where}; send valid Unicode text.")
    if len(question) > MAX_QUESTION_CHARS:
        raise InvalidInput(f"The question is {len(question)} characters long; keep it under {MAX_QUESTION_CHARS}.")
    return question


class Pipeline:
    """Ingest, search, ask and chat over the parts it is given (`rag.components.Parts`);
    `Pipeline(settings)` builds the real parts the settings ask for (`build_parts`)."""

    def __init__(
        self, settings: Settings, *, parts: Parts | None = None, start_llm: bool = True, progress: bool = False
    ) -> None:  # fmt: skip
        self.settings = settings
        self.progress = progress
        parts = parts or build_parts(settings)
        self.embedding = parts.embedder
        self.store = parts.store
        self.keyword = parts.keyword
        self.indexer = LimitedIndexer(self.store, self.embedding, Chunker(settings.chunk_size, settings.chunk_overlap),
                                      self.keyword, max_chars=settings.max_document_chars)  # fmt: skip
        self.retriever = HybridRetriever(self.store, self.embedding, self.keyword, settings)
        self.local_llm: LocalLLMServer | None = None
        self._llm: ChatModel | None = parts.chat_model
        self._llm_lock = threading.Lock()
        self.indexer.ensure_keyword_index()
        self._closing = threading.Event()
        if settings.chroma_url and settings.store_sync_s:
            watch = threading.Thread(target=self._watch_store, args=(settings.store_sync_s,), name="store-watch")
            watch.daemon = True
            watch.start()
        if start_llm:
            self.llm  # noqa: B018 - start the model now rather than on the first question

    # --- lifecycle ---------------------------------------------------------------

    @property
    def llm(self) -> ChatModel:
        """The chat model; a local one is started (assembled first if need be) on first use."""
        with self._llm_lock:
            if self._llm is None:
                self._llm = self._start_llm()
            return self._llm

    def _start_llm(self) -> ChatLLM:
        base_url = None
        if self.settings.use_local_llm:
            self.local_llm = LocalLLMServer(self.settings)
            self.local_llm.start(progress=self.progress)
            base_url = self.local_llm.base_url
        return ChatLLM.from_settings(self.settings, base_url)

    def wrap_llm(self, wrapper: Callable[[Callable[[], ChatModel]], ChatModel]) -> None:
        """Put a layer between the pipeline and its model (the eval suite's replay of kept
        replies): `wrapper` gets the function that starts the real model, to call when needed."""
        with self._llm_lock:
            self._llm = wrapper(self._start_llm)

    @property
    def answerer(self) -> Answerer:
        return Answerer(self.llm, self.settings)

    def llm_ready(self) -> bool:
        if self._llm is None:
            return False
        return self.local_llm.healthy() if self.local_llm else True

    def _watch_store(self, every: float) -> None:
        """With a Chroma server, other processes may add, change or remove articles: within
        `every` seconds the keyword index is rebuilt (and with it the search caches reset)."""
        known = None  # the first look rebuilds: an article changed in place keeps its chunk ids
        while not self._closing.wait(every):
            try:
                now = self.store.articles_fingerprint()
                if now != known:
                    self.indexer.refresh_keyword_index()
                    known = now
            except Exception as e:  # noqa: BLE001 - the server may be away for a while: look again later
                log.warning("could not check the Chroma server for changes (%s); trying again", type(e).__name__)

    def close(self) -> None:
        self._closing.set()
        if self.local_llm:
            self.local_llm.stop()
        self.store.close()

    def warm_up(self) -> None:
        """Load now what a question or a new article needs and would otherwise load when it
        first comes (a service calls this while its model starts): WordNet's index (a few
        seconds on two cores), the spaCy pipeline (~1 s), dateparser's tables (a question with
        a date in it), the units library's definitions (~0.4 s, at the first conflict on a
        measure) and the chunker's sentence tokenizer (~3 s, at the first paragraph longer than
        a chunk)."""
        lexicon.load()
        conflicts.unit_name("km")
        when.plan("What was said at the talks in March, before the vote?", None, self.settings)
        self.indexer.chunker.warm_up()

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- documents ---------------------------------------------------------------

    def ensure_seeded(self) -> IngestReport | None:
        """Ingest the seed articles when the store is empty (first use)."""
        if not self.settings.auto_seed or self.store.count_chunks() > 0 or not self.settings.seeds_dir.is_dir():
            return None
        log.info("first use: ingesting the seed articles from %s", self.settings.seeds_dir)
        return self.ingest([self.settings.seeds_dir])

    def ingest(self, paths: list[Path]) -> IngestReport:
        return self.indexer.ingest_paths(paths, progress=self.progress)

    def ingest_record(self, record: dict, default_id: str) -> IngestReport:
        """One article given as JSON: {"text", "title"?, "url"?, "published_at"?, "id"?}."""
        article = article_from_record(record, default_id, source="upload")
        return self.indexer.ingest_articles([article])

    def ingest_articles(self, articles: list, progress: bool | None = None) -> IngestReport:
        """Articles read elsewhere (feeds, pages, eval corpora), into the store as files are."""
        return self.indexer.ingest_articles(articles, progress=self.progress if progress is None else progress)

    def documents(self) -> list[DocInfo]:
        return self.store.list_docs()

    def document(self, doc_id: str) -> tuple[DocInfo, str]:
        return self.store.get_doc(doc_id)

    def remove(self, doc_id: str) -> None:
        self.indexer.remove(doc_id)

    # --- questions ---------------------------------------------------------------

    def search(self, question: str, k: int | None = None, filters: Filters | None = None, mode: str = "hybrid") -> list[Passage]:
        time_plan = when.plan(clean_question(question), filters, self.settings)  # "last week" -> a date filter
        return when.retrieve(self.retriever, time_plan, k or self.settings.top_k, self.settings, mode)

    def cached_search(
        self, question: str, k: int | None = None, filters: Filters | None = None, mode: str = "hybrid"
    ) -> list[Passage] | None:
        """What `search` would return, if this search was made since the index last changed; else None (no work)."""
        if not when.ready():
            return None  # the parser loads once, in a worker thread (see `search`), not here
        time_plan = when.plan(clean_question(question), filters, self.settings)
        if time_plan.found.newest_first or time_plan.found.period or time_plan.found.events:
            return None  # merged, re-ranked or dated (events) by more than one search: see `when.retrieve`
        return self.retriever.cached(time_plan.query, k, time_plan.filters, mode)

    def ask(self, question: str, k: int | None = None, filters: Filters | None = None, short: bool = False) -> Answer:
        for item in self.stream(question, k, filters, short=short):
            if isinstance(item, Answer):
                return item
        raise AssertionError("unreachable")

    def stream(
        self, question: str, k: int | None = None, filters: Filters | None = None, short: bool = False,
        evidence: bool = False,
    ) -> Iterator[str | list[EvidenceSentence] | Answer]:
        """Text deltas as the model writes, then the verified `Answer` (its text may differ:
        unsupported sentences are removed and citations renumbered). With `short`, the
        answer also carries `short_answer`: the few words that answer (one more model call).
        With `evidence`, the numbered evidence sentences (a list) come first, before the
        model is asked."""
        question = clean_question(question)
        started = time.perf_counter()
        k = k or self.settings.top_k
        time_plan = when.plan(question, filters, self.settings)  # time words -> date filter, recency preference
        ranked = when.retrieve(self.retriever, time_plan, k + self.settings.conflict_candidates, self.settings)
        timings = Timings(retrieve_ms=round((time.perf_counter() - started) * 1000, 1))
        if not ranked and time_plan.dated:  # nothing in that period: say so (no model call)
            if evidence:
                yield []
            nothing = when.nothing_in_period(question, time_plan.searched(), self.llm.model, timings)
            yield when.with_sources(nothing, [], time_plan)
            return
        answerer = self.answerer
        defined = self.keyword.abbreviations(question)  # by articles that may not be among those retrieved
        for item in answerer.stream(question, ranked[:k], timings, more=ranked[k:], abbreviations=defined,
                                    openings=self.store.openings):  # fmt: skip
            if isinstance(item, list):  # the evidence shown to the model, before its first token
                if evidence:
                    yield item
                continue
            if isinstance(item, Answer):
                when.with_sources(item, ranked, time_plan)
                if short:
                    item.short_answer = answerer.shorten(question, item)
                item.timings.total_ms = round((time.perf_counter() - started) * 1000, 1)
            yield item

    def condense(self, history: list[Message], question: str) -> str:
        """A follow-up rewritten, from the chat history, into a standalone question."""
        question = clean_question(question)
        turns = [m for m in history if m.get("role") in ("user", "assistant") and m.get("content")]
        if not turns:
            return question
        lines = [f"{m['role'].capitalize()}: {_short(m['content'])}" for m in turns[-6:]]
        prompt = prompts.load("condense").format(history="\n".join(lines), question=question)
        rewritten = self.llm.complete([{"role": "user", "content": prompt}], max_tokens=60).text.strip().strip('"')
        rewritten = (rewritten.splitlines() or [""])[0].strip()  # a reply of "" or '"' has no line
        return rewritten if 3 <= len(rewritten) <= MAX_QUESTION_CHARS else question

    def chat(self, messages: list[Message], k: int | None = None, filters: Filters | None = None) -> Answer:
        """Multi-turn: the last user message, made standalone from the earlier turns, answered with citations."""
        history, question = split_chat(messages)
        standalone = self.condense(history, question)
        return self.ask(standalone, k, filters)


def split_chat(messages: list[Message]) -> tuple[list[Message], str]:
    if not messages or messages[-1].get("role") != "user":
        raise InvalidInput("`messages` must end with a user message: [{\"role\": \"user\", \"content\": \"...\"}].")
    return messages[:-1], messages[-1].get("content") or ""


def _short(text: str, limit: int = 300) -> str:
    """Assistant turns carry markers and sources; the gist is enough to resolve a follow-up."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"
