"""The MiniLM embedder's engine: a tokenizer, onnxruntime sessions and the batching, with no
llama-index (`rag.embed` wraps it as a llama-index embedding), so that a child process can run it
too (`EmbeddingProcess`, `python -m rag.minilm`).

Why a child process for a long ingest: chromadb's Python binding holds the GIL for the whole of an
`add` (its Rust code does not release it), and an add of a batch of chunks takes ~1 s at 50k
chunks. Meanwhile an embedding thread of the same process cannot start its next batch: measured
on 2 cores with an add loop running beside it, 7.5-7.9 chunks/s in the same process against
39-43 in a child (65-67 alone). In a long ingest the writer adds each embedded batch while the next
is embedded, so each add stalls the embedding: 0.76-0.87x the raw speed. In a child process the
embedding goes on while the parent adds; the cores are then shared, not left waiting.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

MAX_WORD_PIECES = 256  # what the model was trained on; text beyond it never reaches the vector
START_TIMEOUT_S = 60.0  # a child that is not up by then is given up (the ingest embeds in-process)

log = logging.getLogger(__name__)


def load_tokenizer(path: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # the shipped tokenizer.json pads every text to 128
    tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)
    return tokenizer


class SessionRunner:
    """`workers` sessions of `threads` threads each, running a call's batches side by side."""

    def __init__(self, tokenizer: Any, model_file: Path, workers: int, threads: int) -> None:
        self.tokenizer = tokenizer
        self.workers, self.threads = workers, threads
        self._free, self._pool = _sessions(model_file, workers, threads)

    def embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        """Embed texts; returns float32 array (n, 384), rows of unit length."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        # Tokenised once, then run in batches of similar length in word pieces (what the model
        # computes on), so each padded batch wastes little work; a text's vector does not depend
        # on its batch, so the order changes nothing else. A call smaller than a batch per session
        # is shared out evenly, so a few questions use every session.
        encodings = self.tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        size = min(batch_size, -(-len(texts) // self.workers))
        batches = [order[i : i + size] for i in range(0, len(texts), size)]
        out = np.zeros((len(texts), 384), dtype=np.float32)
        work = [[encodings[j] for j in idx] for idx in batches]
        runs = self._pool.map(self._run, work) if self._pool is not None and len(work) > 1 else map(self._run, work)
        for idx, vectors in zip(batches, runs, strict=True):
            out[idx] = vectors
        return out

    def _run(self, encodings: list) -> np.ndarray:
        """One batch on an idle session (waits for one if concurrent calls hold them all)."""
        session = self._free.get()
        try:
            return run_encoded(session, encodings)
        finally:
            self._free.put(session)


_shared: dict[tuple[str, int, int], tuple[Any, Any]] = {}
_shared_lock = threading.Lock()


def _sessions(model_file: Path, workers: int, threads: int) -> tuple[Any, Any]:
    """The idle-session queue and the thread pool for one model file, made once per process and
    shared by every embedder of it: a session holds the model's weights and its buffers (~190 MB),
    and a process that builds several pipelines (a test suite, a benchmark, a service that
    reloads) would otherwise hold one copy per pipeline. Sessions are safe to run from several
    threads; each batch borrows an idle one."""
    import onnxruntime as ort

    key = (str(model_file), workers, threads)
    with _shared_lock:
        if key not in _shared:
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
            # Idle worker threads sleep instead of spinning: the cores are shared with the web server.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            free: Any = queue.SimpleQueue()
            for _ in range(workers):
                free.put(ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"]))
            pool = ThreadPoolExecutor(workers, thread_name_prefix="embed") if workers > 1 else None
            _shared[key] = (free, pool)
        return _shared[key]


def run_pooled(session: Any, tokenizer: Any, texts: list[str]) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors of `texts` as one padded batch through `session`."""
    return run_encoded(session, tokenizer.encode_batch(texts))


def run_encoded(session: Any, encodings: list) -> np.ndarray:
    """Mean-pooled, L2-normalised vectors of tokenised texts as one padded batch through `session`."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    names = {i.name for i in session.get_inputs()}
    feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
    hidden = session.run(None, {k: v for k, v in feeds.items() if k in names})[0]
    weights = mask[..., None].astype(np.float32)
    pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)


class ChildFailed(RuntimeError):
    """The embedding child process is gone or answered nonsense."""


class EmbeddingProcess:
    """A child process (`python -m rag.minilm`) that embeds as the parent's embedder does: the same
    model file, sessions and batches, so the same vectors. It starts in the background (~0.5 s of
    imports and model loading) and talks over a socket pair, not stdout, so nothing a library
    prints can garble the answers. It ends when closed, or when the parent goes (end of file)."""

    def __init__(self, model_file: Path, tokenizer_file: Path, workers: int, threads: int, batch_size: int) -> None:
        self._conn: Connection | None = None
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()
        self._up = threading.Event()
        self._closed = False
        self.error: str | None = None
        args = [str(model_file), str(tokenizer_file), str(workers), str(threads), str(batch_size)]
        threading.Thread(target=self._start, args=(args,), name="embed-child-start", daemon=True).start()

    def _start(self, args: list[str]) -> None:
        mine, theirs = socket.socketpair()
        conn = Connection(mine.detach())
        try:
            env = {**os.environ, "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE")}
            with theirs:  # the child's end: closed here once the child holds it
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "rag.minilm", str(theirs.fileno()), *args],
                    pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL, env=env,
                )  # fmt: skip
            if not conn.poll(START_TIMEOUT_S):
                raise ChildFailed(f"it was not up within {START_TIMEOUT_S:.0f} s")
            try:
                conn.recv()
            except EOFError:
                code = self._proc.wait(timeout=10)
                raise ChildFailed(f"it ended before it was up (exit code {code}; its error is above)") from None
            with self._lock:
                if self._closed:  # the ingest ended while the child started
                    self._conn = conn
                    self._close_locked()
                    return
                self._conn = conn
        except Exception as e:  # noqa: BLE001 - the ingest embeds in-process instead
            self.error = f"{type(e).__name__}: {e}"
            log.warning("the embedding child process did not start (%s); embedding in this process", self.error)
            conn.close()
            self.close()
        finally:
            self._up.set()

    @property
    def ready(self) -> bool:
        """Up and answering (False while it starts, and for good once it failed)."""
        return self._up.is_set() and self._conn is not None

    def wait(self, timeout: float | None = None) -> bool:
        self._up.wait(timeout)
        return self.ready

    def embed(self, texts: list[str]) -> np.ndarray:
        """The texts' vectors; `ChildFailed` if the child is gone (the caller embeds them itself)."""
        with self._lock:
            if self._conn is None:
                raise ChildFailed(self.error or "not started")
            try:
                self._conn.send(texts)
                vectors = self._conn.recv()
            except (EOFError, OSError) as e:
                self.error = f"the child process ended ({type(e).__name__})"
                self._close_locked()
                raise ChildFailed(self.error) from e
        if not isinstance(vectors, np.ndarray) or vectors.shape != (len(texts), 384):
            raise ChildFailed(f"the child process answered {type(vectors).__name__}, not {len(texts)} vectors")
        return vectors

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._close_locked()

    def _close_locked(self) -> None:
        conn, proc, self._conn = self._conn, self._proc, None
        if conn is not None:
            try:
                conn.send(None)
            except OSError:
                pass
            conn.close()
        if proc is not None:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


def _serve(fd: int, model_file: str, tokenizer_file: str, workers: str, threads: str, batch_size: str) -> None:
    """The child: embed each list of texts received, until None or the end of the connection."""
    conn = Connection(fd)
    runner = SessionRunner(load_tokenizer(Path(tokenizer_file)), Path(model_file), int(workers), int(threads))
    conn.send("ready")
    while True:
        try:
            texts = conn.recv()
        except (EOFError, OSError):
            return
        if texts is None:
            return
        conn.send(runner.embed(texts, int(batch_size)))


if __name__ == "__main__":
    _serve(int(sys.argv[1]), *sys.argv[2:7])
