"""Every failure a user can cause or meet, each with a message that says what to do.

The CLI prints `str(error)` as one line; the HTTP layer maps `status` and `kind`
to a JSON body; the Slack layer posts a short apology built from `message`.
"""

from __future__ import annotations


class RagError(Exception):
    """Base class: `message` says what went wrong and how to fix it."""

    status = 500
    kind = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidSetting(RagError):
    kind = "invalid_setting"


class InvalidInput(RagError):
    status = 400
    kind = "invalid_request"


class InvalidJSON(InvalidInput):
    kind = "invalid_json"


class EmptyQuestion(InvalidInput):
    def __init__(self) -> None:
        super().__init__("The question is empty: ask something about the articles, e.g. 'How many prisoners were swapped?'")


class UnknownDocument(RagError):
    status = 404
    kind = "not_found"

    def __init__(self, doc_id: str):
        super().__init__(f"No document with id '{doc_id}': list the ids with `rag docs` (or GET /v1/documents).")
        self.doc_id = doc_id


class UnreadableFile(RagError):
    status = 400
    kind = "unreadable_file"


class ArticleTooLarge(RagError):
    status = 413
    kind = "payload_too_large"


class ModelFileError(RagError):
    status = 503
    kind = "model_unavailable"


class LLMUnavailable(RagError):
    status = 503
    kind = "llm_unavailable"


class StoreUnavailable(RagError):
    status = 503
    kind = "store_unavailable"


class StoreBusy(RagError):
    status = 409
    kind = "store_busy"


class Busy(RagError):
    status = 429
    kind = "busy"
