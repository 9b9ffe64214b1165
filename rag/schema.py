"""The data that crosses module boundaries: articles, passages and the answer object.

The `Answer` shape is a public interface (CLI `--json`, HTTP, Slack, eval):
add fields freely, never rename or remove one.
"""

from __future__ import annotations

from datetime import datetime, timezone

from pydantic import BaseModel, Field


def timestamp(value: datetime) -> int:
    """Seconds since the epoch; a date without a time zone is UTC (not this machine's zone)."""
    return int((value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp())


class Article(BaseModel):
    """A cleaned article, ready to chunk."""

    doc_id: str
    title: str
    text: str
    url: str | None = None
    published_at: datetime | None = None
    source: str | None = None  # where it was read from (path or "upload")
    content_hash: str = ""
    # The publication (site, outlet) and byline, when known. Named `publisher` here because `source`
    # above is the file the article was read from; passages and citations show it as `source`.
    publisher: str | None = None
    author: str | None = None


class DocInfo(BaseModel):
    """What `rag docs` and GET /v1/documents list."""

    doc_id: str
    title: str
    url: str | None = None
    published_at: datetime | None = None
    content_hash: str
    chunks: int
    chars: int
    near_duplicates: list[str] = Field(default_factory=list)  # doc ids this article largely repeats
    source: str | None = None  # the publication (site, outlet), when known
    author: str | None = None


class Passage(BaseModel):
    """A retrieved chunk: where it sits in its article and how it scored."""

    chunk_id: str
    doc_id: str
    title: str
    text: str
    start: int  # character span in the cleaned article text
    end: int
    score: float  # fused score, 0..1
    dense_score: float | None = None  # cosine similarity to the question
    keyword_score: float | None = None  # BM25
    url: str | None = None
    published_at: datetime | None = None
    also_in: list[str] = Field(default_factory=list)  # chunk ids of collapsed near-duplicates
    source: str | None = None  # the article's publication (site, outlet), when known
    author: str | None = None


class EvidenceSentence(BaseModel):
    """A sentence of a retrieved passage, numbered as the model sees it."""

    id: int  # the number shown to the model, from 1
    doc_id: str
    chunk_id: str
    title: str
    text: str
    start: int  # character span in the cleaned article text
    end: int
    score: float  # how well it matches the question (lexical, with the passage's rank)
    url: str | None = None
    published_at: datetime | None = None


class CitedSentence(BaseModel):
    """The exact sentence of an article that backs a citation."""

    evidence_id: int
    doc_id: str
    start: int  # character span in the cleaned article text
    end: int
    text: str


class Citation(BaseModel):
    marker: int
    doc_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    text: str
    score: float
    url: str | None = None
    # Additions: the sentence(s) of the passage that back it, and the article's date.
    sentences: list[CitedSentence] = Field(default_factory=list)
    published_at: datetime | None = None
    source: str | None = None  # the article's publication (site, outlet), when known
    author: str | None = None


class AnswerSentence(BaseModel):
    """One sentence of the answer with the markers of the citations that back it."""

    text: str  # without markers
    markers: list[int] = Field(default_factory=list)
    evidence: list[int] = Field(default_factory=list)  # ids of the evidence sentences that back it
    kind: str = "answer"  # "answer" (the model's, checked), "quote" (an evidence sentence quoted), "conflict"


class ConflictClaim(BaseModel):
    marker: int
    doc_id: str
    quote: str  # the words in that passage that state this side
    published_at: datetime | None = None  # the date of the article that states it, when known


class Conflict(BaseModel):
    """Cited articles that disagree on the same point."""

    about: str
    claims: list[ConflictClaim]


class Timings(BaseModel):
    retrieve_ms: float = 0.0
    evidence_ms: float | None = None  # question to numbered evidence, after retrieval
    generate_ms: float = 0.0
    first_token_ms: float | None = None
    verify_ms: float = 0.0
    total_ms: float = 0.0


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0


class EventDate(BaseModel):
    """An event a question names instead of a date ("before the talks", "since the merger was
    announced"), dated by the articles that report it (see `rag.when.date_event`)."""

    expression: str  # the question's words: "before the talks"
    event: str  # the event's words: "the talks"
    date: datetime | None = None  # the day it was first reported; None: not dated, so no filter was made
    doc_id: str | None = None  # the article that dated it: the earliest one reporting it
    title: str | None = None
    reports: int = 0  # articles found reporting it
    note: str = ""  # in words: how it was dated and what was searched, or why no filter was made


class TimeFrame(BaseModel):
    """The time a question was answered in: its reference date and the range of publication
    dates searched (the request's filters narrowed by the question's own time words)."""

    reference_date: datetime  # what "last week" in the question was resolved against
    published_after: datetime | None = None
    published_before: datetime | None = None
    # A named period ("in March"): articles published in it, or after it and naming a date in it.
    period_start: datetime | None = None
    period_end: datetime | None = None
    newest_first: bool = False  # "the latest": newer articles won ties among equally relevant passages
    expressions: list[str] = Field(default_factory=list)  # the question's words read as dates
    events: list[EventDate] = Field(default_factory=list)  # events named instead of dates, and how they were dated


class Answer(BaseModel):
    answer: str
    abstained: bool
    citations: list[Citation] = Field(default_factory=list)
    conflicts: list[Conflict] = Field(default_factory=list)
    model: str
    timings: Timings = Field(default_factory=Timings)
    # Additions beyond the shape:
    question: str = ""  # the standalone question that was answered (after condensing a chat)
    unsupported: list[str] = Field(default_factory=list)  # sentences removed: no passage backs them, or off the question
    usage: Usage = Field(default_factory=Usage)
    abstain_reason: str | None = None  # why, when abstained
    quoted: bool = False  # the model's answer failed the checks; the answer quotes the passage sentence that fits
    short_answer: str | None = None  # with `short`: the few words that answer (found in the answer or its passages)
    sentences: list[AnswerSentence] = Field(default_factory=list)  # the answer as structure; `answer` renders it
    evidence: list[EvidenceSentence] = Field(default_factory=list)  # what the model was shown
    time: TimeFrame | None = None  # the reference date and the publication dates searched


class Filters(BaseModel):
    doc_ids: list[str] | None = None
    published_after: datetime | None = None
    published_before: datetime | None = None
    # Not a filter: what the question's time words ("last week") are resolved against (default: now).
    reference_date: datetime | None = None
    # Articles without a date pass the date bounds too (bounds read from a question's words: what
    # cannot be dated is not known to be outside them). Given dates exclude undated articles.
    keep_undated: bool = False


class IngestReport(BaseModel):
    added: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    unchanged: list[str] = Field(default_factory=list)
    skipped: dict[str, str] = Field(default_factory=dict)  # path -> reason
    warnings: list[str] = Field(default_factory=list)  # ingested, but worth a look
    not_stored: list[str] = Field(default_factory=list)  # doc ids read but not written: the store failed (also in skipped)
    too_large: list[str] = Field(default_factory=list)  # doc ids over RAG_MAX_DOCUMENT_CHARS, not indexed (also in skipped)
    chunks: int = 0
    seconds: float = 0.0
