"""Typed settings, read from the environment (and an optional `.env` file).

Everything a user can switch lives here; the rest of the code receives a
`Settings` object and never reads `os.environ` itself.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import InvalidSetting

PROJECT_ROOT = Path(__file__).resolve().parents[1]

LocalModelName = Literal["qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    # Where everything local lives: embedded Chroma, keyword index, model files.
    data_dir: Path = Field(default=Path.home() / ".local" / "share" / "news-rag")
    # Model files are big; several data dirs (tests, eval collections) may share one.
    model_dir: Path | None = None
    seeds_dir: Path = PROJECT_ROOT / "seeds"
    auto_seed: bool = True
    collection: str = "articles"

    # Vector store: embedded persistent Chroma unless a server URL is given.
    chroma_url: str | None = None
    # With a Chroma server, how often (seconds) to look for articles other processes added,
    # changed or removed, and bring the keyword index and caches up to date (0: never).
    store_sync_s: float = Field(default=5.0, ge=0)

    # LLM, always spoken to through the OpenAI chat-completions protocol.
    # With neither OPENAI_BASE_URL nor OPENAI_API_KEY set, a local model is served on loopback.
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "RAG_OPENAI_API_KEY")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "RAG_OPENAI_BASE_URL")
    )
    llm_model: str | None = None  # RAG_LLM_MODEL; defaults per backend (see `llm_model_name`)
    local_model: LocalModelName = "qwen2.5-coder-1.5b"
    llm_threads: int = Field(default=2, ge=1)
    llm_context: int = Field(default=12288, ge=512)  # shared by the slots: 3,072 tokens each with 4
    llm_slots: int = Field(default=4, ge=1, le=16)  # local model: requests answered at once (continuous batching)
    llm_port: int = Field(default=0, ge=0, le=65535)  # 0: pick a free loopback port
    llm_timeout_s: float = Field(default=120.0, gt=0)
    max_answer_tokens: int = Field(default=120, ge=1)
    # A folder of prompt files (`answer_system.txt`, ...) that take the place of the packaged ones.
    prompts_dir: Path | None = None
    stream_tokens: bool = True  # stream from the LLM (gives time to first token)

    # Embeddings: local ONNX MiniLM by default; OpenAI embeddings by setting.
    embed_backend: Literal["local", "openai"] = "local"
    openai_embed_model: str = "text-embedding-3-small"
    # Texts a session embeds at once (local model). Small batches pad less and stay in cache: 8 ran
    # 1.04x faster than 16 and 1.06x than 32 (same CPU as 4), two sessions side by side (rag.embed).
    embed_batch_size: int = Field(default=8, ge=1)

    # The longest article (characters of cleaned text) any ingest accepts: CLI, uploads, JSON bodies.
    max_document_chars: int = Field(default=1_000_000, ge=1)

    # Chunking (tokens of the cl100k tokenizer that llama-index's splitter counts).
    chunk_size: int = Field(default=96, ge=16)
    chunk_overlap: int = Field(default=0, ge=0)

    # Retrieval.
    top_k: int = Field(default=4, ge=1)  # passages sent to the LLM
    candidates: int = Field(default=20, ge=1)  # per retriever, before fusion
    # Passages ranked after the top k, read only for disagreeing reports.
    conflict_candidates: int = Field(default=4, ge=0)
    evidence_sentences: int = Field(default=6, ge=1, le=40)  # evidence sentences shown to the model, at most
    evidence_words: int = Field(default=120, ge=10, le=2000)  # and at most this many words of them (see README)
    rrf_k: int = Field(default=60, ge=1)
    near_duplicate: float = Field(default=0.85, gt=0, le=1)  # cosine at which two passages count as the same text
    # Below this, and with no keyword hit, abstain without asking the LLM.
    min_dense_score: float = Field(default=0.25, ge=-1, le=1)
    min_passage_score: float = Field(default=0.15, ge=-1, le=1)  # passages with a lower cosine are not sent to the LLM
    # Recent searches kept until the next ingest or removal (0: off).
    search_cache: int = Field(default=2048, ge=0)
    # Up to this many chunks, dense search runs on an in-memory copy of the collection.
    memory_search_max: int = Field(default=20_000, ge=0)
    # Chroma's HNSW index of a *new* collection (links per node, candidate list while building it)
    # and of every search (candidate list; applied to existing collections too). Tuned on real
    # news embeddings at 150k chunks (tests/benchmarks/bench_scale.py): see the README.
    hnsw_m: int = Field(default=32, ge=4, le=128)
    hnsw_construction_ef: int = Field(default=200, ge=10)
    hnsw_search_ef: int = Field(default=200, ge=10)

    # Time in questions (rag.when): what "last week" is resolved against (ISO date; empty: now), whether
    # the question's time words become a date filter at all, and how close two passages' scores (0..1)
    # must be for the newer article to go first when a question asks for "the latest".
    reference_date: datetime | None = None
    question_dates: bool = True
    recency_tie: float = Field(default=0.1, ge=0, le=1)

    # Feeds polled inside `rag serve` (comma-separated URLs; empty: none), how often, and the least
    # time between two requests to one host (robots.txt's Crawl-delay, if longer, wins).
    watch_feeds: str = ""
    watch_every: str = "15m"
    feed_host_interval_s: float = Field(default=1.0, ge=0)

    @field_validator("watch_every")
    @classmethod
    def _watch_every_is_a_duration(cls, value: str) -> str:
        parse_every(value)  # its ValueError is reported under RAG_WATCH_EVERY by `read`
        return value

    @property
    def watch_feed_urls(self) -> list[str]:
        return [u.strip() for u in self.watch_feeds.split(",") if u.strip()]

    @property
    def feeds_state_path(self) -> Path:
        """Where the feed watcher keeps what it fetched and stored: one file per collection."""
        return self.data_dir / "feeds" / f"{self.collection}.sqlite"

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Settings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError("RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_SIZE")
        return self

    @property
    def models_path(self) -> Path:
        return self.model_dir or self.data_dir / "models"

    @property
    def use_local_llm(self) -> bool:
        return not (self.openai_base_url or self.openai_api_key)

    @property
    def llm_model_name(self) -> str:
        if self.llm_model:
            return self.llm_model
        return self.local_model if self.use_local_llm else "gpt-4o-mini"


def parse_every(value: str | float) -> float:
    """Seconds from "15m", "1h", "90s", "2h30m" or a plain number of seconds; at least 1 s."""
    text = str(value).strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        seconds = float(text)
    else:
        parts = re.findall(r"(\d+(?:\.\d+)?)\s*([hms])", text)
        if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([hms])", "", text).strip():
            raise ValueError(f"'{value}' is not a duration: write it as 15m, 1h, 90s or a number of seconds")
        seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if seconds < 1:
        raise ValueError(f"'{value}' is too short: poll at most once a second")
    return seconds


S = TypeVar("S", bound=BaseSettings)


def read(cls: type[S], **values: Any) -> S:
    """`cls(**values)`, or an error naming each environment variable to fix (never its value:
    it may be a secret)."""
    try:
        return cls(**values)
    except ValidationError as e:
        problems = [_problem(cls, err) for err in e.errors()]
        fix = "Fix or unset it (see the README's Settings)."
        raise InvalidSetting(f"Invalid setting: {'; '.join(problems)}. {fix}") from None


def _problem(cls: type[BaseSettings], err: Any) -> str:
    message = err["msg"].removeprefix("Value error, ")
    return f"{env_name(cls, str(err['loc'][0]))}: {message}" if err["loc"] else message


def env_name(cls: type[BaseSettings], field: str) -> str:
    """The environment variable(s) a settings field is read from."""
    info = cls.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices):
        return " / ".join(str(choice) for choice in alias.choices)
    if isinstance(alias, str):
        return alias
    return f"{cls.model_config.get('env_prefix') or ''}{field}".upper()


def public_url(url: str) -> str:
    """The URL as logs and error messages may show it: without a user, password or query
    (where some servers take their key)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


@lru_cache
def get_settings() -> Settings:
    return read(Settings)
