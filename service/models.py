"""The API's own request and response models. The answer object is `rag.schema.Answer`
(a public interface shared with the CLI and Slack), returned as is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator

from rag.pipeline import lone_surrogate
from rag.schema import Answer, DocInfo, Filters, IngestReport, Passage

K = Field(default=None, ge=1, le=20, description="passages to retrieve (default from settings)")


def _unicode(value: str) -> str:
    """Text that can be sent on: a lone surrogate (such as JSON "\\ud800") is not Unicode text."""
    if where := lone_surrogate(value):
        raise ValueError(f"lone surrogate at {where}; send valid Unicode text")
    return value


def _utc(value: datetime) -> datetime:
    """A date without a zone is UTC, not the server's local time (which cannot place year 1, say).
    Dates pydantic cannot represent (year 0, 10000) are already refused with the reason."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


Text = Annotated[str, AfterValidator(_unicode)]
# Switches and counts take JSON booleans and integers only: `"stream": "yes"` or `"k": true` is
# a client bug to report, not something to guess a meaning for (lax parsing took them as true and 1).
Flag = StrictBool
Count = StrictInt
Date = Annotated[datetime, AfterValidator(_utc)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_SINCE = ('only articles published on or after this: an ISO date ("2017-03-01") or a phrase ("7 days ago", '
          '"last week", "March 2017"), resolved against `reference_date`; with `published_after`, the later wins')
_UNTIL = "only articles published on or before this (all of it: \"March 2017\" runs to 31 March); as `since`"
_REFERENCE = ('what time words in the question ("last week", "in March") and in `since`/`until` are resolved '
              "against (ISO 8601; default RAG_REFERENCE_DATE, else now)")


class TimeFields(BaseModel):
    """The time filters of a request, declared once: the /v1 requests have them (with `doc_ids`,
    through `FilterFields`), and so has the OpenAI endpoint, as extra body fields."""

    published_after: Date | None = Field(default=None, description="ISO 8601; without a zone, UTC")
    published_before: Date | None = Field(default=None, description="ISO 8601; without a zone, UTC")
    since: Text | None = Field(default=None, description=_SINCE)
    until: Text | None = Field(default=None, description=_UNTIL)
    reference_date: Date | None = Field(default=None, description=_REFERENCE)

    def filters(self, settings: Any = None) -> Filters | None:
        return time_filters(self, settings)


# A model's fields are listed base by base, the last-named base first: each request below names
# `TimeFields` first so that its own fields come before them, in the order the API docs show.


class _DocIdsField(_Strict):
    doc_ids: list[Text] | None = Field(
        default=None, min_length=1, description="only these articles (omit it for all; an empty list is refused)"
    )


class FilterFields(TimeFields, _DocIdsField):
    """`doc_ids`, then the time fields; no other field is accepted."""


def time_filters(body: Any, settings: Any = None) -> Filters | None:
    """A request's filters: doc ids, dates (ISO fields, and `since`/`until` phrases resolved against its
    reference date) and the reference date for the question's own time words. A phrase that names no
    date is a 400 saying what to write."""
    from rag.when import since_until

    doc_ids = getattr(body, "doc_ids", None)
    ref = body.reference_date
    after, before = since_until(body.since, body.until, ref or getattr(settings, "reference_date", None))
    after = max(d for d in (after, body.published_after) if d) if after or body.published_after else None
    before = min(d for d in (before, body.published_before) if d) if before or body.published_before else None
    if doc_ids is None and after is None and before is None and ref is None:
        return None
    return Filters(doc_ids=doc_ids, published_after=after, published_before=before, reference_date=ref)


class AskRequest(FilterFields):
    question: str = Field(description="what to ask about the articles (up to 2000 characters)")
    k: Count | None = K
    stream: Flag = Field(default=False, description="server-sent events: token*, citations, done")
    short: Flag = Field(default=False, description="also return `short_answer`, the few words that answer")


class SearchRequest(FilterFields):
    question: str
    k: Count | None = K
    mode: Literal["hybrid", "dense", "keyword"] = "hybrid"


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: Text


class ChatRequest(FilterFields):
    messages: list[ChatMessage] = Field(min_length=1)
    k: Count | None = K
    stream: Flag = False


class SearchHit(BaseModel):
    rank: int
    doc_id: str
    title: str
    chunk_id: str
    start: int
    end: int
    text: str
    score: float
    dense_score: float | None = None
    keyword_score: float | None = None
    url: str | None = None
    published_at: datetime | None = None
    source: str | None = None  # the article's publication, when known
    author: str | None = None

    @classmethod
    def from_passage(cls, rank: int, p: Passage) -> SearchHit:
        return cls(rank=rank, **p.model_dump(include=set(cls.model_fields) - {"rank"}))


class SearchResponse(BaseModel):
    question: str
    passages: list[SearchHit]
    retrieve_ms: float


class DocumentIn(_Strict):
    text: Text = Field(description="the article body")
    title: Text | None = None
    url: Text | None = None
    published_at: Date | None = Field(default=None, description="ISO 8601; without a zone, UTC")
    id: Text | None = Field(default=None, description="document id (default: from the title, else the text)")
    source: Text | None = Field(default=None, description="the publication (default: the URL's host)")
    author: Text | None = None


class DocumentOut(DocInfo):
    pass


class DocumentDetail(DocInfo):
    text: str


class DocumentList(BaseModel):
    documents: list[DocumentOut]
    count: int


class IngestResponse(BaseModel):
    report: IngestReport
    documents: list[DocumentOut]


class Deleted(BaseModel):
    deleted: str


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    ready: bool
    llm: str  # loading | ready | restarting | failed
    documents: int
    error: str | None = None


class ErrorDetail(BaseModel):
    type: str
    message: str


def error_responses(*statuses: int, described: dict[int, str] | None = None) -> dict[int | str, dict[str, Any]]:
    """The error statuses a route documents, each with the one error body every failure has
    (`{"error": {...}}`), and what a status means there when it needs saying."""
    described = described or {}
    return {
        status: {"model": ErrorBody, **({"description": described[status]} if status in described else {})}
        for status in statuses
    }


class ErrorBody(BaseModel):
    error: ErrorDetail


# --- OpenAI-compatible ------------------------------------------------------------


class OAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    @field_validator("content")
    @classmethod
    def _text_parts(cls, content: str | list[dict[str, Any]] | None) -> str | list[dict[str, Any]] | None:
        if isinstance(content, str):
            return _unicode(content)
        for part in content or []:
            if part.get("type") == "text":
                if not isinstance(part.get("text"), str):
                    raise ValueError('a text part needs a string `text`: {"type": "text", "text": "..."}')
                _unicode(part["text"])
        return content

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(part["text"] for part in self.content if part.get("type") == "text")
        return self.content or ""


class _OAIChatFields(BaseModel):
    model_config = ConfigDict(extra="allow")
    model: str = "news-rag"
    messages: list[OAIMessage] = Field(min_length=1)
    stream: Flag = False
    k: Count | None = K


class OAIChatRequest(TimeFields, _OAIChatFields):  # the time fields: extra body fields (`extra_body=`), as on /v1/ask
    """Any model name is accepted; unknown OpenAI parameters are ignored."""


class OAIModel(BaseModel):
    id: str
    object: str = "model"
    created: int = 0
    owned_by: str = "news-rag"


class OAIModelList(BaseModel):
    object: str = "list"
    data: list[OAIModel]


class OAIUsage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class OAIChoiceMessage(BaseModel):
    role: str = "assistant"
    content: str


class OAIChoice(BaseModel):
    index: int = 0
    message: OAIChoiceMessage
    finish_reason: str = "stop"


class OAIChatCompletion(BaseModel):
    id: str
    object: str = "chat.completion"
    created: int
    model: str
    choices: list[OAIChoice]
    usage: OAIUsage
    rag: Answer = Field(description="the verified answer object, citations included")
