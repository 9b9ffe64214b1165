"""Settings of the HTTP layer only (host, port, keys, limits), read from RAG_* variables.

The pipeline's own settings stay in `rag.settings.Settings`.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # RAG_API_KEYS="key1,key2": every /v1 route then needs `Authorization: Bearer <key>`.
    api_keys: SecretStr | None = None
    # Questions beyond the ones the LLM is answering wait here; past it: 429 + Retry-After.
    queue_size: int = Field(default=4, ge=0)
    # How many questions the LLM backend answers at once; default: the backend's own
    # (1 for the local model, more for hosted ones).
    llm_concurrency: int | None = Field(default=None, ge=1)
    max_json_bytes: int = Field(default=1 * 1024 * 1024, ge=1024)
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)
    # A request body must arrive whole within this many seconds (408 after): slowly sent bodies
    # would otherwise hold connections open indefinitely.
    body_timeout_s: float = Field(default=30.0, gt=0)
    model_id: str = "news-rag"  # what GET /v1/models lists; any name is accepted in requests

    @field_validator("api_keys", mode="before")
    @classmethod
    def _blank_is_none(cls, v: object) -> object:
        return None if isinstance(v, str) and not v.strip() else v

    def keys(self) -> list[str]:
        if self.api_keys is None:
            return []
        return [k.strip() for k in self.api_keys.get_secret_value().split(",") if k.strip()]
