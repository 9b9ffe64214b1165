"""The service's settings: the HTTP layer's (host, port, keys, limits, from RAG_* variables),
Slack's (from Slack's own variable names), and `AppSettings`, which reads them together with
the pipeline's (`rag.settings.Settings`) in one pass over the environment and `.env`.

`rag serve` and `rag slack` read `AppSettings` once and hand each part its section
(`.rag`, `.service`, `.slack`): the same objects, attributes and variable names as the three
classes have on their own, one reading and one error message naming every bad variable.
"""

from __future__ import annotations

from typing import TypeVar

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.settings import Settings

SLACK_API_URL = "https://slack.com/api/"  # slack_sdk's AsyncWebClient.BASE_URL


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


class SlackSettings(BaseSettings):
    """Slack credentials, from Slack's own variable names; the API URL from RAG_SLACK_API_URL."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    bot_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "bot_token"))
    signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "signing_secret")
    )
    app_token: SecretStr | None = Field(default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "app_token"))
    api_url: str = Field(default=SLACK_API_URL, validation_alias=AliasChoices("RAG_SLACK_API_URL", "api_url"))
    # Socket Mode (`rag slack --socket`) serves no HTTP: with a port set, it serves its admission
    # gate's and answers' metrics on http://RAG_HOST:PORT/metrics (0: any free port). Off when unset.
    metrics_port: int | None = Field(
        default=None, ge=0, le=65535, validation_alias=AliasChoices("RAG_SLACK_METRICS_PORT", "metrics_port")
    )

    @property
    def events_api_enabled(self) -> bool:
        return bool(self.bot_token and self.signing_secret)


S = TypeVar("S", bound=BaseSettings)


class AppSettings(Settings, ServiceSettings, SlackSettings):
    """Every setting of a service process, read in one pass; each part gets its section."""

    model_config = SettingsConfigDict(env_prefix="RAG_", env_file=".env", extra="ignore", populate_by_name=True)

    def _section(self, cls: type[S]) -> S:
        """The values of `cls`'s fields, as read here (checked already: not read or checked again)."""
        return cls.model_construct(**{name: getattr(self, name) for name in cls.model_fields})

    @property
    def rag(self) -> Settings:
        return self._section(Settings)

    @property
    def service(self) -> ServiceSettings:
        return self._section(ServiceSettings)

    @property
    def slack(self) -> SlackSettings:
        return self._section(SlackSettings)
