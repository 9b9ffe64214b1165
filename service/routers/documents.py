"""Articles: upload (file or JSON), list, read, delete. An upload is answerable at once;
a deleted article is gone from retrieval (and so never cited again)."""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from rag.errors import ArticleTooLarge, InvalidInput, InvalidJSON, StoreUnavailable, UnreadableFile
from rag.ingest.load import SUPPORTED
from rag.pipeline import Pipeline
from rag.schema import IngestReport
from service.deps import PipelineDep, StateDep
from service.models import (
    Deleted,
    DocumentDetail,
    DocumentIn,
    DocumentList,
    DocumentOut,
    IngestResponse,
    error_responses,
)

router = APIRouter(prefix="/v1/documents", tags=["documents"])

UPLOAD_TYPES = tuple(sorted(SUPPORTED))  # what the loader reads
_ERRORS = error_responses(400, 401, 404, 413, 503)
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")

_UPLOAD_SCHEMA = {
    "requestBody": {
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"file": {"type": "string", "format": "binary"}}, "required": ["file"]}
            },
            "application/json": {"schema": DocumentIn.model_json_schema(ref_template="#/components/schemas/{model}")},
        },
        "required": True,
    }
}


def _report_documents(pipeline: Pipeline, report: IngestReport) -> list[DocumentOut]:
    ids = list(dict.fromkeys(report.added + report.updated + report.unchanged))
    return [DocumentOut(**pipeline.document(i)[0].model_dump()) for i in ids]


@router.post("", status_code=201, response_model=IngestResponse, responses=_ERRORS, openapi_extra=_UPLOAD_SCHEMA)
async def upload(request: Request, state: StateDep, pipeline: PipelineDep) -> IngestResponse:
    """Add or update an article: a multipart `file` (.txt .md .markdown .html .htm .json .jsonl),
    or a JSON body {text, title?, url?, published_at?, id?}."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        form = await request.form(max_files=1, max_fields=5)
        file = form.get("file")
        if not isinstance(file, UploadFile) or not file.filename:
            raise InvalidInput("Send the article as a multipart field named `file` (e.g. curl -F file=@article.txt).")
        report = await _ingest_file(state, pipeline, file)
    elif content_type.startswith("application/json") or not content_type:
        doc = await _json_document(request)
        record = doc.model_dump(mode="json", exclude_none=True)
        report = await run_in_threadpool(_locked, state, pipeline.ingest_record, record, _default_id(doc))
    else:
        raise HTTPException(415, f"Content-Type {content_type!r} is not accepted: send multipart/form-data with a `file`, or JSON.")
    if report.skipped and not (report.added or report.updated or report.unchanged):
        if report.not_stored:  # the article was fine; the store was not
            raise StoreUnavailable("; ".join(report.skipped.values()))
        if report.too_large:  # over RAG_MAX_DOCUMENT_CHARS, as cleaned for indexing
            raise ArticleTooLarge("; ".join(report.skipped.values()))
        raise UnreadableFile("; ".join(report.skipped.values()))
    return IngestResponse(report=report, documents=await run_in_threadpool(_report_documents, pipeline, report))


async def _json_document(request: Request) -> DocumentIn:
    raw = await request.body()
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InvalidJSON("The body is nested too deeply to read: send one flat JSON object {\"text\": ...}.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", getattr(e, "pos", 0)), "msg": "JSON decode error",
                                       "input": {}, "ctx": {"error": getattr(e, "msg", str(e))}}]) from None  # fmt: skip
    try:
        return DocumentIn.model_validate(data)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from None


def _default_id(doc: DocumentIn) -> str:
    """From the title (the same title updates the same article); a title with letters an id
    cannot hold (non-Latin ones) gets a short hash of it, so such titles stay apart; without
    a usable title, from the text."""
    title = doc.title or ""
    slug = _SAFE_NAME.sub("-", title).strip("-.")[:100]
    if not slug:
        return "upload-" + _hash(doc.text)[:12]
    return title if title.isascii() else f"{slug}-{_hash(title)[:6]}"


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def _ingest_file(state, pipeline: Pipeline, file: UploadFile) -> IngestReport:
    name = Path(file.filename or "upload.txt").name
    suffix = Path(name).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise UnreadableFile(f"{name}: unsupported type '{suffix}'; upload one of {', '.join(UPLOAD_TYPES)}.")
    data = await file.read()  # its articles are held to RAG_MAX_DOCUMENT_CHARS as they are indexed
    stem = _SAFE_NAME.sub("-", Path(name).stem).strip("-.") or "upload-" + _hash(name)[:6]
    safe = stem + suffix
    with tempfile.TemporaryDirectory(prefix="rag-upload-") as tmp:
        path = Path(tmp) / safe
        path.write_bytes(data)
        report = await run_in_threadpool(_locked, state, pipeline.ingest, [path])
        # The temporary path is ours, not the user's: say the uploaded name (a .jsonl may skip several lines).
        report.skipped = {key.replace(str(path), name): why.replace(str(path), name) for key, why in report.skipped.items()}
    return report


def _locked(state, fn, *args):
    with state.write_lock:
        return fn(*args)


@router.get("", response_model=DocumentList, responses=_ERRORS)
async def list_documents(pipeline: PipelineDep) -> DocumentList:
    docs = [DocumentOut(**d.model_dump()) for d in await run_in_threadpool(pipeline.documents)]
    return DocumentList(documents=docs, count=len(docs))


@router.get("/{doc_id}", response_model=DocumentDetail, responses=_ERRORS)
async def get_document(doc_id: str, pipeline: PipelineDep) -> DocumentDetail:
    """Metadata and the cleaned text that citation spans (start, end) point into."""
    info, text = await run_in_threadpool(pipeline.document, doc_id)
    return DocumentDetail(**info.model_dump(), text=text)


@router.delete("/{doc_id}", response_model=Deleted, responses=_ERRORS)
async def delete_document(doc_id: str, state: StateDep, pipeline: PipelineDep) -> Deleted:
    await run_in_threadpool(_locked, state, pipeline.remove, doc_id)
    return Deleted(deleted=doc_id)

