"""What the app holds for its lifetime: the pipeline (built once), the LLM line, metrics."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

import httpx
import openai

from rag.errors import LLMUnavailable, RagError
from rag.pipeline import Pipeline
from rag.settings import Settings
from service.gate import LLMGate, llm_gauges
from service.metrics import Gauges, Metrics
from service.settings import ServiceSettings

log = logging.getLogger(__name__)


@dataclass
class AppState:
    settings: Settings
    service: ServiceSettings
    pipeline: Pipeline | None = None
    owns_pipeline: bool = False
    metrics: Metrics = field(default_factory=Metrics)
    gate: LLMGate | None = None  # set once the model is loaded
    llm_error: str | None = None
    write_lock: threading.Lock = field(default_factory=threading.Lock)  # ingest/remove one at a time
    _loader: threading.Thread | None = None
    _probe: tuple[float, str | None] = (float("-inf"), None)  # (when, problem) of the last remote LLM check
    _probe_lock: threading.Lock = field(default_factory=threading.Lock)

    PROBE_TIMEOUT_S = 2.0
    PROBE_TTL_S = 5.0  # /readyz may be polled often: ask the remote LLM at most this often

    def __post_init__(self) -> None:
        self.metrics.read_at_scrape(self.gauges)

    def gauges(self) -> Gauges:
        """The LLM line and the local model's restarts, as /metrics shows them."""
        local = self.pipeline.local_llm if self.pipeline is not None else None
        return llm_gauges(self.gate, self.service.queue_size, local)

    @property
    def llm_status(self) -> str:
        if self.gate is not None:
            return "ready"
        return "failed" if self.llm_error else "loading"

    def start_llm(self) -> None:
        """Load (or connect to) the model in the background; /readyz says when it is done."""

        def load() -> None:
            assert self.pipeline is not None
            try:
                llm = self.pipeline.llm
                self.gate = LLMGate.for_model(llm.concurrency, self.service)
                log.info("model %s ready at %s (%d at once, %d may wait)", llm.model, llm.base_url,
                         self.gate.concurrency, self.gate.queue_size)  # fmt: skip
            except RagError as e:
                self.llm_error = e.message
                log.error("the model did not start: %s", e.message)
            except Exception as e:  # noqa: BLE001 - reported on /readyz
                self.llm_error = f"{type(e).__name__}: {e}"
                log.exception("the model did not start")

        self._loader = threading.Thread(target=load, name="llm-loader", daemon=True)
        self._loader.start()

    def ready_gate(self) -> LLMGate:
        if self.gate is not None:
            if outage := self.llm_outage():
                raise LLMUnavailable(f"The model is unavailable: {outage}. Retry in a few seconds (GET /readyz says when it is back).")
            return self.gate
        if self.llm_error:
            raise LLMUnavailable(f"The model failed to start: {self.llm_error}")
        raise LLMUnavailable("The model is still loading; retry in a few seconds (GET /readyz says when it is ready).")

    def llm_outage(self) -> str | None:
        """Why the local model cannot answer now (its process failed and is being restarted), else None."""
        local = self.pipeline.local_llm if self.pipeline is not None else None
        if local is not None and local.status == "restarting":
            return f"{local.last_failure}; it is being restarted"
        return None

    def llm_problem(self) -> str | None:
        """Blocking: why the loaded model would not answer a question now, else None.

        The local model: its process is restarting or does not answer /health. A remote LLM:
        GET /models does not answer within PROBE_TIMEOUT_S (cheap, no tokens spent), checked at
        most every PROBE_TTL_S so that frequent /readyz polls do not load the LLM's server."""
        if (outage := self.llm_outage()) is not None:
            return outage
        assert self.pipeline is not None
        if self.pipeline.local_llm is not None:
            return None if self.pipeline.local_llm.healthy() else "the model server stopped answering"
        with self._probe_lock:
            checked, problem = self._probe
            if time.monotonic() - checked >= self.PROBE_TTL_S:
                problem = self._probe_remote()
                self._probe = (time.monotonic(), problem)
        return problem

    def _probe_remote(self) -> str | None:
        llm = self.pipeline.llm  # type: ignore[union-attr]
        try:
            llm.client.with_options(timeout=self.PROBE_TIMEOUT_S, max_retries=0).models.list()
        except openai.AuthenticationError:
            return f"the LLM at {llm.base_url} rejects the API key: check OPENAI_API_KEY"
        except openai.APIStatusError as e:
            if e.status_code >= 500:
                return f"the LLM at {llm.base_url} fails (HTTP {e.status_code} on GET /models)"
            return None  # it answers; some OpenAI-compatible servers have no /models
        except (openai.APIError, httpx.HTTPError) as e:
            return f"the LLM at {llm.base_url} does not answer ({type(e).__name__} on GET /models within {self.PROBE_TIMEOUT_S:g} s)"
        return None
