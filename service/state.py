"""What the app holds for its lifetime: the pipeline (built once), the LLM line, metrics."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from rag.errors import LLMUnavailable, RagError
from rag.pipeline import Pipeline
from rag.settings import Settings
from service.gate import LLMGate
from service.metrics import Metrics
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
                concurrency = self.service.llm_concurrency or llm.concurrency
                self.gate = LLMGate(concurrency, self.service.queue_size)
                log.info("model %s ready at %s (%d at once, %d may wait)", llm.model, llm.base_url, concurrency,
                         self.service.queue_size)  # fmt: skip
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
            return self.gate
        if self.llm_error:
            raise LLMUnavailable(f"The model failed to start: {self.llm_error}")
        raise LLMUnavailable("The model is still loading; retry in a few seconds (GET /readyz says when it is ready).")
