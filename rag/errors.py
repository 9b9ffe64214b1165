"""Every failure a user can cause or meet, each with a message that says what to do.

The CLI prints `str(error)` as one line; the HTTP layer maps `status` and `kind`
to a JSON body; the Slack layer posts a short apology built from `message`.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: `message` says what went wrong and how to fix it."""

    status = 500  # the HTTP status it is sent with
    kind = "internal_error"  # the `error.type` of the JSON body

    def __init_subclass__(cls, status: int | None = None, kind: str | None = None, **kwargs: object) -> None:
        """`class NotThere(RagError, status=404, kind="not_found")`: each error names its status
        and kind in one line; one left out is its base's."""
        super().__init_subclass__(**kwargs)
        if status is not None:
            cls.status = status
        if kind is not None:
            cls.kind = kind

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidSetting(RagError, kind="invalid_setting"):
    """A setting (environment, `.env`) that cannot be used; the message names the variable."""


class InvalidInput(RagError, status=400, kind="invalid_request"):
    """Something a client sent that cannot be used."""


class InvalidJSON(InvalidInput, kind="invalid_json"):
    """A body or line that is not the JSON asked for."""


class EmptyQuestion(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The question is empty: ask something about the articles, e.g. 'How many prisoners were swapped?'")


class UnknownDocument(RagError, status=404, kind="not_found"):
    def __init__(self, doc_id: str):
        super().__init__(f"No document with id '{doc_id}': list the ids with `rag docs` (or GET /v1/documents).")
        self.doc_id = doc_id


class UnreadableFile(RagError, status=400, kind="unreadable_file"):
    """A file that cannot be read as an article (format, encoding, nothing left after cleaning)."""


class ArticleTooLarge(RagError, status=413, kind="payload_too_large"):
    """An article over RAG_MAX_DOCUMENT_CHARS."""


class ModelFileError(RagError, status=503, kind="model_unavailable"):
    """The local model's file is missing or broken."""


class LLMUnavailable(RagError, status=503, kind="llm_unavailable"):
    """The model server does not answer (starting, restarting, or away)."""


class StoreUnavailable(RagError, status=503, kind="store_unavailable"):
    """The article store does not answer (a Chroma server away)."""


class StoreBusy(RagError, status=409, kind="store_busy"):
    """Another process holds the embedded collection for writing."""


class Busy(RagError, status=429, kind="busy"):
    """The model's queue is full: try again shortly."""
