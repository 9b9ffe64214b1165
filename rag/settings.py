"""Typed settings, read from the environment (and an optional `.env` file).

Everything a user can switch lives here; the rest of the code receives a
`Settings` object and never reads `os.environ` itself.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

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
    llm_threads: int = 2
    llm_context: int = 4096
    llm_port: int = 0  # 0: pick a free loopback port
    llm_timeout_s: float = 120.0
    max_answer_tokens: int = 120
    stream_tokens: bool = True  # stream from the LLM (gives time to first token)

    # Embeddings: local ONNX MiniLM by default; OpenAI embeddings by setting.
    embed_backend: Literal["local", "openai"] = "local"
    openai_embed_model: str = "text-embedding-3-small"
    embed_batch_size: int = 32

    # Chunking (tokens of the cl100k tokenizer that llama-index's splitter counts).
    chunk_size: int = 96
    chunk_overlap: int = 0

    # Retrieval.
    top_k: int = 4  # passages sent to the LLM
    candidates: int = 20  # per retriever, before fusion
    conflict_candidates: int = 4  # passages ranked after the top k, read only for disagreeing reports
    rrf_k: int = 60
    near_duplicate: float = 0.85  # cosine at which two passages count as the same text
    min_dense_score: float = 0.25  # below this, and with no keyword hit, abstain without asking
    min_passage_score: float = 0.15  # passages with a lower cosine are not sent to the LLM
    search_cache: int = 2048  # recent searches kept until the next ingest or removal (0: off)
    memory_search_max: int = 20_000  # up to this many chunks, dense search runs on an in-memory copy

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


@lru_cache
def get_settings() -> Settings:
    return Settings()
