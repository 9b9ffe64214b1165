"""The chat LLM, hosted or local, always through the OpenAI chat-completions protocol."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import openai

from rag.errors import LLMUnavailable
from rag.schema import Usage
from rag.settings import Settings, public_url

Message = dict[str, str]

# What a call to the model can fail with: the SDK's own errors, and transport errors, which the
# SDK passes through unwrapped while a streamed reply is read (a server that dies mid-answer).
_FAILURES = (openai.APIError, httpx.TransportError)


@dataclass
class Completion:
    text: str = ""
    usage: Usage = field(default_factory=Usage)


class ChatLLM:
    """A thin wrapper over `openai.OpenAI` that turns transport failures into `LLMUnavailable`."""

    def __init__(self, base_url: str, api_key: str, model: str, timeout_s: float, max_tokens: int, concurrency: int) -> None:
        self.base_url = public_url(base_url)  # what messages and logs show; the client has the whole URL
        self.model = model
        self.max_tokens = max_tokens
        self.concurrency = concurrency  # how many requests the backend serves at once
        self.client = openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout_s, max_retries=1)

    @classmethod
    def from_settings(cls, settings: Settings, local_base_url: str | None = None) -> ChatLLM:
        if settings.use_local_llm:
            if local_base_url is None:
                raise ValueError("a local LLM needs the base URL of its running server")
            return cls(local_base_url, "local", settings.llm_model_name, settings.llm_timeout_s, settings.max_answer_tokens,
                       settings.llm_slots)  # fmt: skip
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "unused"
        return cls(
            settings.openai_base_url or "https://api.openai.com/v1",
            key,
            settings.llm_model_name,
            settings.llm_timeout_s,
            settings.max_answer_tokens,
            concurrency=8,
        )

    def _params(self, messages: list[Message], max_tokens: int | None, response_format: dict | None = None) -> dict:
        params = {
            "model": self.model,
            "messages": messages,
            "temperature": 0.0,
            "max_tokens": max_tokens or self.max_tokens,
        }
        if response_format is not None:  # a JSON schema the server enforces with its grammar
            params["response_format"] = response_format
        return params

    def complete(self, messages: list[Message], max_tokens: int | None = None, response_format: dict | None = None) -> Completion:
        try:
            response = self.client.chat.completions.create(**self._params(messages, max_tokens, response_format))
        except _FAILURES as e:
            raise self._unavailable(e) from None
        usage = response.usage
        return Completion(
            text=response.choices[0].message.content or "",
            usage=Usage(prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens) if usage else Usage(),
        )

    def stream(
        self, messages: list[Message], completion: Completion, max_tokens: int | None = None,
        response_format: dict | None = None,
    ) -> Iterator[str]:  # fmt: skip
        """Yields text deltas; fills `completion` as it goes. Closing the generator stops generation."""
        try:
            stream = self.client.chat.completions.create(
                **self._params(messages, max_tokens, response_format), stream=True, stream_options={"include_usage": True}
            )
        except _FAILURES as e:
            raise self._unavailable(e) from None
        try:
            for chunk in stream:
                if chunk.usage:
                    completion.usage = Usage(
                        prompt_tokens=chunk.usage.prompt_tokens, completion_tokens=chunk.usage.completion_tokens
                    )
                if chunk.choices and chunk.choices[0].delta.content:
                    delta = chunk.choices[0].delta.content
                    completion.text += delta
                    yield delta
        except _FAILURES as e:  # mid-stream: the server died, hung up or stopped sending
            raise self._unavailable(e) from None
        finally:
            try:
                stream.close()  # a client that went away stops the generation here
            except httpx.HTTPError:
                pass  # the connection is already broken: nothing left to stop

    def _unavailable(self, e: Exception) -> LLMUnavailable:
        if isinstance(e, openai.AuthenticationError):
            return LLMUnavailable(f"The LLM at {self.base_url} rejected the API key: check OPENAI_API_KEY.")
        if isinstance(e, openai.NotFoundError):
            return LLMUnavailable(f"The LLM at {self.base_url} has no model '{self.model}': set RAG_LLM_MODEL to one it serves.")
        if isinstance(e, httpx.TransportError):  # raised as is while a streamed reply is read
            return LLMUnavailable(
                f"The LLM server at {self.base_url} broke off its reply ({type(e).__name__}); "
                "retry in a few seconds (GET /readyz says when the model is back)."
            )
        if isinstance(e, (openai.APIConnectionError, openai.APITimeoutError)):
            return LLMUnavailable(
                f"The LLM server at {self.base_url} is not answering ({type(e).__name__}): "
                "check that it runs, or unset OPENAI_BASE_URL to use the local model."
            )
        status = getattr(e, "status_code", None)
        return LLMUnavailable(f"The LLM at {self.base_url} failed (HTTP {status}): {type(e).__name__}. Try again shortly.")
