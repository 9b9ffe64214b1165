"""The keyword (BM25) index: persisted beside the store, rebuilt when the chunks change.

Words are stemmed as the answer checker stems them (irregular verbs to their base
form), a question's adjacent words are also tried joined ("front line" finds
"frontline"), and a question asking for a weekday or a month also looks for their
names. It is rebuilt on ingest and remove (a few ms for thousands of chunks)
and loaded from disk at start-up; a fingerprint of the chunk ids tells whether the copy on disk is
current (another process, or a Chroma server shared with other machines, may have
changed the chunks), so it is never rebuilt per query.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from rag.nlp.text import stem
from rag.schema import Filters
from rag.store import matches

# bm25s sets its own logger to DEBUG when imported: its per-load chatter is not for users.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_THOUSANDS = re.compile(r"(?<=\d)[,.](?=\d{3}\b)")


def prepare(text: str) -> str:
    """'1,000' and '1.000' become '1000', so numbers match however they are written."""
    return _THOUSANDS.sub("", text)


# Bumped when tokenisation changes, so that indexes saved by older code are rebuilt once.
TOKENS_VERSION = 4


# Questions whose answer shares no word with them: "On which day did the talks take place?"
# is answered by "on Friday", so the keyword query also looks for the words such answers use.
_ANSWER_WORDS = [
    (re.compile(r"\b(?:which|what) day\b|\bday of the week\b", re.I),
     "Monday Tuesday Wednesday Thursday Friday Saturday Sunday"),
    (re.compile(r"\b(?:which|what) month\b", re.I),
     "January February March April May June July August September October November December"),
]  # fmt: skip


def expand(question: str) -> str:
    """The question, plus the words its kind of answer is written with (see `_ANSWER_WORDS`)."""
    return " ".join([question] + [words for pattern, words in _ANSWER_WORDS if pattern.search(question)])


def fingerprint(ids: list[str]) -> str:
    return hashlib.sha256("\n".join([f"tokens v{TOKENS_VERSION}", *sorted(ids)]).encode()).hexdigest()


_SPLIT = re.compile(r"(?u)\b\w\w+\b")  # bm25s.tokenize's defaults, as the index was built with
_STOP_EN = frozenset(STOPWORDS_EN)


def query_tokens(query: str) -> list[str]:
    """The stems `bm25s.tokenize(..., stopwords="en", stemmer=_stems)` makes of one prepared text,
    without its per-call progress bars (a quarter of a search's time, embedding aside)."""
    return [stem(w) for w in _SPLIT.findall(query.lower()) if w not in _STOP_EN]


def _stems(words: list[str]) -> list[str]:
    """The answer checker's stems (irregular verbs to their base form: "wore" is "wear")."""
    return [stem(w) for w in words]


@dataclass(frozen=True)
class _Snapshot:
    """One build of the index. Searches read one snapshot, and a rebuild publishes a new one in
    a single assignment, so a search racing a rebuild never mixes old scores with new ids."""

    ids: list[str] = field(default_factory=list)
    meta: list[dict[str, Any]] = field(default_factory=list)
    fingerprint: str = ""
    bm25: bm25s.BM25 | None = None


class KeywordIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._current = _Snapshot()
        self.version = 0  # bumped on every rebuild: what caches of search results are keyed on
        self._load()

    @property
    def fingerprint(self) -> str:
        return self._current.fingerprint

    def _tokens(self, texts: list[str]) -> Any:
        return bm25s.tokenize([prepare(t) for t in texts], stopwords="en", stemmer=_stems, show_progress=False)

    def knows(self, word: str) -> bool:
        """Whether the word (stemmed) occurs anywhere in the indexed chunks."""
        bm25 = self._current.bm25
        return bm25 is not None and stem(prepare(word).lower()) in bm25.vocab_dict

    def is_current(self, ids: list[str]) -> bool:
        return self.fingerprint == fingerprint(ids)

    def rebuild(self, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> None:
        bm25 = None
        if ids:
            bm25 = bm25s.BM25()
            bm25.index(self._tokens(texts), show_progress=False)
        meta = [{"doc_id": m.get("doc_id"), "published_ts": m.get("published_ts", -1)} for m in metadatas]
        built = _Snapshot(list(ids), meta, fingerprint(list(ids)), bm25)
        self._save(built)
        self._current = built
        self.version += 1  # last: a search racing this rebuild is not cached as current

    def search(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first; only chunks that share a term with the query."""
        index = self._current
        if index.bm25 is None or not index.ids:
            return []
        query = prepare(expand(query))
        tokens = query_tokens(query)
        # Compounds written apart in the question: "front line" finds "frontline".
        words = re.findall(r"[a-z]+", query.lower())
        tokens += [stem(a + b) for a, b in zip(words, words[1:])]
        known = list(dict.fromkeys(t for t in tokens if t in index.bm25.vocab_dict))
        if not known:
            return []
        mask = None
        if filters is not None:
            mask = np.array([matches(filters, m) for m in index.meta], dtype=np.float32)
            if not mask.any():
                return []
        # Scores of every chunk, then the top n: bm25s.retrieve would start a thread pool per query.
        scores = index.bm25.get_scores(known, weight_mask=mask)
        k = min(n, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(index.ids[int(i)], float(scores[i])) for i in top if scores[i] > 0]

    def _save(self, index: _Snapshot) -> None:
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}-{threading.get_ident()}")  # per writer
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if index.bm25 is not None:
            index.bm25.save(str(tmp / "bm25"), show_progress=False)
        manifest = {"fingerprint": index.fingerprint, "ids": index.ids, "meta": index.meta}
        (tmp / "chunks.json").write_text(json.dumps(manifest))
        shutil.rmtree(self.path, ignore_errors=True)
        tmp.rename(self.path)

    def _load(self) -> None:
        manifest = self.path / "chunks.json"
        if not manifest.exists():
            return
        try:
            data = json.loads(manifest.read_text())
            bm25 = bm25s.BM25.load(str(self.path / "bm25"), show_progress=False) if data["ids"] else None
            self._current = _Snapshot(data["ids"], data["meta"], data["fingerprint"], bm25)
        except Exception:  # a damaged copy is rebuilt from the store
            self._current = _Snapshot()
