"""Who may write to a collection of the embedded store.

Embedded Chroma keeps each collection's vector index in the memory of every process that
opened it: a process that adds chunks leaves the others searching a stale index, and one
that deletes chunks makes the others fail ("Error finding id") until they restart. So a
process that opens a collection holds a shared lock on it for as long as it runs, and one
that writes to it must be its only user: it takes the lock exclusively for the write, and
a write that cannot get it is refused with what to do instead (add and remove articles
through the running service, stop the other process, or use a Chroma server).

Locks are `flock`s on a file beside the store, one per collection (`rag eval` writes to its
own collection while `rag serve` runs); the operating system drops them when a process
ends, however it ends. Within a process all stores of a collection share one lock.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rag.errors import StoreBusy

try:
    import fcntl
except ImportError:  # not on Windows: no cross-process check there
    fcntl = None  # type: ignore[assignment]

WRITE_WAIT_S = 5.0  # how long a write waits for other processes to let go


class CollectionLock:
    def __init__(self, path: Path, collection: str) -> None:
        self.path = path
        self.collection = collection
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        self._writing = threading.RLock()  # one writer at a time within this process
        self._depth = 0
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_SH)  # waits while another process is writing

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Exclusive use of the collection for the duration (re-entrant)."""
        with self._writing_within(WRITE_WAIT_S):
            yield

    @contextmanager
    def writing_if_free(self) -> Iterator[bool]:
        """Exclusive use if no other process has the collection open right now (no waiting):
        yields whether it was had. For work that may as well be left to a later start."""
        with self._writing:
            if self._depth == 0:
                try:
                    self._acquire_exclusive(0.0)
                except StoreBusy:
                    yield False
                    return
            with self._writing_within(0.0):
                yield True

    @contextmanager
    def _writing_within(self, wait_s: float) -> Iterator[None]:
        with self._writing:
            if self._depth == 0:
                self._acquire_exclusive(wait_s)
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and fcntl is not None:
                    fcntl.flock(self._fd, fcntl.LOCK_SH)

    def _acquire_exclusive(self, wait_s: float = WRITE_WAIT_S) -> None:
        if fcntl is None:
            return
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreBusy(
                        f"Another process has the collection '{self.collection}' of the embedded store open "
                        f"({self.path.parent}), so this one may not change it now: if that is `rag serve`, add or "
                        "remove articles through it (POST /v1/documents, DELETE /v1/documents/{id}); if it is a "
                        "short command, try again when it is done. To change the articles while other long-running "
                        "processes (`rag slack --socket`, a second `rag serve`) use them, run a Chroma server "
                        "(RAG_CHROMA_URL)."
                    ) from None
                time.sleep(0.1)


_locks: dict[Path, CollectionLock] = {}
_locks_guard = threading.Lock()


def collection_lock(store_dir: Path, collection: str) -> CollectionLock:
    """This process's lock on a collection of the embedded store in `store_dir`."""
    path = (store_dir / f"{collection}.lock").resolve()
    with _locks_guard:
        if path not in _locks:
            _locks[path] = CollectionLock(path, collection)
        return _locks[path]
