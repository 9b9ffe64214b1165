"""The keyword (BM25) index: persisted beside the store, kept current in segments.

Words are stemmed as the answer checker stems them (irregular verbs to their base
form), a question's adjacent words are also tried joined ("front line" finds
"frontline"), and a question asking for a weekday or a month also looks for their
names. A name the indexed articles abbreviate is also looked for by its abbreviation, and
an abbreviation by its name ("Regional Express (Rex)" in one chunk: a question on
"Regional Express" finds the chunk that says "Rex chief operating officer"). Tokens are
bm25s's (`bm25s.tokenize` with English stop words) and scores are bm25s's default BM25
(Lucene's idf; k1 1.5, b 0.75).

An added or changed article does not rebuild the index: its chunks are tokenised alone
and appended as a small segment, and the chunks they replace are marked dead. Document
frequencies, the number of chunks and the mean length are kept for the live chunks of all
segments, so a query scores exactly as a fresh build of the whole corpus would. When the
segments after the first hold more than a tenth of the chunks, they are merged into one
(from the kept token ids: no text is read or tokenised again). On disk: the first segment
(`main.npz`, rewritten at a merge) and a journal of the later changes, one line each
(`delta.jsonl`, appended to).
A fingerprint of the chunk ids tells whether the copy on disk is current (another process,
or a Chroma server shared with other machines, may have changed the chunks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

from rag.nlp.names import defined_abbreviations, key
from rag.nlp.text import stem
from rag.schema import Filters
from rag.store import matches, matching_dates

# bm25s sets its own logger to DEBUG when imported: its per-load chatter is not for users.
logging.getLogger("bm25s").setLevel(logging.WARNING)

_THOUSANDS = re.compile(r"(?<=\d)[,.](?=\d{3}\b)")


def prepare(text: str) -> str:
    """'1,000' and '1.000' become '1000', so numbers match however they are written."""
    return _THOUSANDS.sub("", text)


# Bumped when tokenisation (or what is kept of a chunk) changes: an index saved with another
# version is rebuilt from the store once, at start-up.
TOKENS_VERSION = 6


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


def search_tokens(query: str) -> list[str]:
    """The distinct tokens a search looks for: the question's, the words its kind of answer is
    written with (`expand`), and its adjacent words joined ("front line" finds "frontline")."""
    query = prepare(expand(query))
    tokens = query_tokens(query)
    words = re.findall(r"[a-z]+", query.lower())
    tokens += [stem(a + b) for a, b in zip(words, words[1:])]
    return list(dict.fromkeys(tokens))


def _stems(words: list[str]) -> list[str]:
    """The answer checker's stems (irregular verbs to their base form: "wore" is "wear")."""
    return [stem(w) for w in words]


MAX_NAME_WORDS = 7  # the longest name an abbreviation is looked up for (`defined_abbreviations`: 7 words)
K1, B = 1.5, 0.75  # bm25s's defaults, which the index was built with before it kept segments
MERGE_SHARE = 0.1  # later segments (and dead slots) are merged into the first at this share of the chunks
MERGE_MIN_SLOTS = 1000  # ...and at least this many slots (below it, replaying the journal at start-up is cheap)


@lru_cache(maxsize=200_000)
def _stem_word(word: str) -> str:
    return stem(word)


def text_tokens(text: str) -> list[str]:
    """A chunk's tokens, as `bm25s.tokenize` makes them (the same as `query_tokens` of the prepared text)."""
    return [_stem_word(w) for w in _SPLIT.findall(prepare(text).lower()) if w not in _STOP_EN]


@dataclass(frozen=True)
class _Segment:
    """Postings of a run of chunk slots: term t occurs in slots `slots[ptr[t]:ptr[t + 1]]`,
    `tfs` times each. Terms added to the vocabulary after it was built have no postings here."""

    ptr: np.ndarray
    slots: np.ndarray
    tfs: np.ndarray

    @classmethod
    def build(cls, first_slot: int, tokens: list[np.ndarray], vocab_size: int) -> _Segment:
        return cls.from_pairs(first_slot, *_distinct_terms(tokens), vocab_size)

    @classmethod
    def from_pairs(cls, first_slot: int, slot: np.ndarray, term: np.ndarray, tf: np.ndarray, vocab_size: int) -> _Segment:
        """The segment of `_distinct_terms`' pairs (slot offsets from `first_slot`)."""
        order = np.argsort(term, kind="stable")  # each term's slots stay in ascending order
        ptr = np.zeros(vocab_size + 1, dtype=np.int64)
        ptr[1:] = np.cumsum(np.bincount(term, minlength=vocab_size))
        return cls(ptr, (slot[order] + first_slot).astype(np.int32), tf[order])

    def postings(self, term: int) -> tuple[np.ndarray, np.ndarray]:
        if term + 1 >= len(self.ptr):
            return self.slots[:0], self.tfs[:0]
        a, b = self.ptr[term], self.ptr[term + 1]
        return self.slots[a:b], self.tfs[a:b]


@dataclass(frozen=True)
class _Snapshot:
    """One state of the index. Searches read one snapshot, and every change publishes a new one
    in a single assignment, so a search racing a change never mixes old scores with new ids.
    Slots are positions of chunks; a replaced or removed chunk's slot stays, marked dead, until
    the next merge."""

    ids: list[str] = field(default_factory=list)  # slot -> chunk id
    meta: list[dict[str, Any]] = field(default_factory=list)  # slot -> doc_id, published_ts, version
    tokens: list[np.ndarray] = field(default_factory=list)  # slot -> term ids
    alive: np.ndarray = field(default_factory=lambda: np.zeros(0, bool))
    lengths: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    df: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # over live chunks
    vocab: dict[str, int] = field(default_factory=dict)  # append-only: shared by later snapshots
    segments: tuple[_Segment, ...] = ()
    first_segment_slots: int = 0
    fingerprint: str = ""
    generation: str = ""  # names the first segment on disk; the journal applies to it only

    @property
    def live(self) -> int:
        return int(self.alive.sum())


def _live_fingerprint(snap: _Snapshot) -> str:
    return fingerprint([i for i, a in zip(snap.ids, snap.alive) if a])


class KeywordIndex:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._current = _Snapshot()
        self._changing = threading.Lock()
        self._rewrite = False  # the journal on disk cannot be appended to (see _load)
        self.version = 0  # bumped on every change: what caches of search results are keyed on
        self._slots: tuple[_Snapshot, dict[str, int]] | None = None  # a snapshot's chunk id -> slot
        self._dates: tuple[_Snapshot, np.ndarray] | None = None  # a snapshot's published_ts by slot
        self._aliases: tuple[_Snapshot, _Aliases] | None = None  # a snapshot's defined abbreviations
        self._load()

    @property
    def fingerprint(self) -> str:
        return self._current.fingerprint

    def knows(self, word: str) -> bool:
        """Whether the word (stemmed) occurs anywhere in the indexed chunks."""
        index = self._current
        term = index.vocab.get(stem(prepare(word).lower()))
        return term is not None and term < len(index.df) and index.df[term] > 0

    def is_current(self, ids: list[str]) -> bool:
        return self.fingerprint == fingerprint(ids)

    def live_chunks(self) -> list[tuple[str, str]]:
        """(chunk id, version) of every indexed chunk."""
        index = self._current
        return [(i, m.get("version", "")) for i, m, a in zip(index.ids, index.meta, index.alive) if a]

    def metadata_of(self, ids: list[str]) -> list[dict[str, Any] | None]:
        """Each chunk's doc_id, published_ts and version as indexed (None: not a live chunk here)."""
        index = self._current
        cached = self._slots
        if cached is None or cached[0] is not index:  # built once per snapshot, on first use
            cached = (index, {chunk_id: slot for slot, chunk_id in enumerate(index.ids) if index.alive[slot]})
            self._slots = cached
        slots = cached[1]
        return [index.meta[slots[i]] if i in slots else None for i in ids]

    def count_dated(self, filters: Filters) -> tuple[int, int]:
        """(live chunks whose articles' dates pass a filter's date range, live chunks); the filter's
        list of articles, if any, is not applied."""
        index = self._current
        if not index.live:
            return 0, 0
        inside = matching_dates(filters, self._published(index)) & index.alive
        return int(inside.sum()), index.live

    def _published(self, index: _Snapshot) -> np.ndarray:
        """A snapshot's publication timestamps by slot (-1: undated), built once per snapshot."""
        cached = self._dates
        if cached is None or cached[0] is not index:
            cached = (index, np.array([int(m.get("published_ts", -1)) for m in index.meta], dtype=np.int64))
            self._dates = cached
        return cached[1]

    def doc_versions(self) -> dict[str, str]:
        """doc id -> version of the chunks indexed for it."""
        index = self._current
        return {m.get("doc_id"): m.get("version", "") for m, a in zip(index.meta, index.alive) if a}

    def abbreviations(self, query: str) -> dict[str, str]:
        """Short -> long form of the abbreviations the indexed articles define, for the names and
        short forms the query holds (`_Aliases.pairs`): "Regional Express" -> {"rex": "regional
        express"}. The answer checks read them with those the passages define themselves, since
        the article that defines one need not be among the passages retrieved."""
        return self._aliases_of(self._current).pairs(query)

    def _aliases_of(self, index: _Snapshot) -> _Aliases:
        cached = self._aliases
        if cached is None or cached[0] is not index:  # built once per snapshot, on first use
            cached = (index, _Aliases.of(index))
            self._aliases = cached
        return cached[1]

    # --- changes ---------------------------------------------------------------------

    def rebuild(self, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> None:
        """The index of exactly these chunks, from scratch."""
        with self._changing:
            vocab: dict[str, int] = {}
            tokens = [_term_ids(text_tokens(t), vocab) for t in texts]
            snap = _compact(list(ids), [_meta(m, t) for m, t in zip(metadatas, texts)], tokens, vocab)
            self._save_first(snap)
            self._publish(snap)

    def update(self, remove_docs: Iterable[str], ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]) -> None:
        """Drop every chunk of `remove_docs`, then add these chunks (a changed article: both).
        Costs the new chunks' tokenisation and a copy of the per-slot and per-term arrays."""
        tokens_text = [text_tokens(t) for t in texts]
        meta = [_meta(m, t) for m, t in zip(metadatas, texts)]  # as the tokens: outside the lock
        with self._changing:
            old = self._current
            snap = _apply(old, set(remove_docs), list(ids), meta, tokens_text)
            if snap is old:
                return
            entry = {"remove": sorted(set(remove_docs)), "ids": list(ids), "meta": snap.meta[len(old.ids):],
                     "tokens": tokens_text}
            if self._should_merge(old, snap):
                snap = _compact([i for i, a in zip(snap.ids, snap.alive) if a],
                                [m for m, a in zip(snap.meta, snap.alive) if a],
                                [t for t, a in zip(snap.tokens, snap.alive) if a], snap.vocab)
                self._save_first(snap)
            else:
                with open(self.path / "delta.jsonl", "a", encoding="utf-8") as journal:
                    journal.write(json.dumps(entry) + "\n")
            self._publish(snap)

    def _should_merge(self, old: _Snapshot, new: _Snapshot) -> bool:
        """Merge when the later segments and the dead slots grew large (each costs a little per
        query, and the journal is replayed at start-up), or when there is no clean first segment
        on disk to journal against."""
        first = new.first_segment_slots
        dirty = len(new.ids) - first + int((~new.alive[:first]).sum())
        return self._rewrite or not old.generation or dirty > max(MERGE_MIN_SLOTS, MERGE_SHARE * new.live)

    def _publish(self, snap: _Snapshot) -> None:
        self._current = snap
        self.version += 1  # last: a search racing this change is not cached as current

    # --- search ------------------------------------------------------------------------

    def search(self, query: str, n: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """(chunk id, BM25 score) best first; only chunks that share a term with the query."""
        index = self._current
        if not index.live:
            return []
        tokens = search_tokens(query)
        tokens += [t for t in dict.fromkeys(self._aliases_of(index).tokens(query)) if t not in tokens]
        terms = [index.vocab.get(t) for t in tokens]
        known = [t for t in terms if t is not None and t < len(index.df) and index.df[t] > 0]
        if not known:
            return []
        scores = self._scores(index, known)
        if filters is not None:  # tested on the chunks that share a term only: on all, ~170 ms at 50k chunks
            hit = np.flatnonzero(scores)
            if filters.doc_ids:
                keep = np.array([matches(filters, index.meta[i]) for i in hit], dtype=bool)
            else:
                keep = matching_dates(filters, self._published(index)[hit])
            scores[hit[~keep]] = 0
        k = min(n, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(k)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(index.ids[int(i)], float(scores[i])) for i in top if scores[i] > 0]

    @staticmethod
    def _scores(index: _Snapshot, terms: list[int]) -> np.ndarray:
        """BM25 of every slot (0 for dead ones) with the live chunks' statistics."""
        n_docs = index.live
        mean_length = float(index.lengths[index.alive].sum()) / n_docs
        norm = np.float32(K1) * (np.float32(1 - B) + np.float32(B) * index.lengths / np.float32(mean_length))
        scores = np.zeros(len(index.ids), dtype=np.float32)
        for term in terms:
            df = float(index.df[term])
            idf = np.float32(np.log(1 + (n_docs - df + 0.5) / (df + 0.5)))
            for segment in index.segments:
                slots, tfs = segment.postings(term)
                if len(slots):
                    scores[slots] += idf * (tfs / (norm[slots] + tfs))
        return scores * index.alive

    # --- disk ----------------------------------------------------------------------------

    def _save_first(self, snap: _Snapshot) -> None:
        """The first segment, written whole (at a rebuild or a merge); the journal starts empty."""
        self.path.mkdir(parents=True, exist_ok=True)
        flat = np.concatenate(snap.tokens) if snap.tokens else np.zeros(0, np.int32)
        offsets = np.cumsum([0] + [len(t) for t in snap.tokens]).astype(np.int64)
        vocab = sorted(snap.vocab, key=snap.vocab.get)
        head = json.dumps({"ids": snap.ids, "meta": snap.meta, "vocab": vocab, "generation": snap.generation,
                           "tokens_version": TOKENS_VERSION})
        tmp = self.path / f"main.npz.tmp-{os.getpid()}-{threading.get_ident()}"  # per writer
        with open(tmp, "wb") as f:
            np.savez(f, flat=flat.astype(np.int32), offsets=offsets, head=np.frombuffer(head.encode(), np.uint8))
        os.replace(tmp, self.path / "main.npz")
        tmp = self.path / f"delta.jsonl.tmp-{os.getpid()}-{threading.get_ident()}"
        tmp.write_text(json.dumps({"generation": snap.generation}) + "\n")
        os.replace(tmp, self.path / "delta.jsonl")
        self._rewrite = False
        shutil.rmtree(self.path / "bm25", ignore_errors=True)  # left by code from before segments
        (self.path / "chunks.json").unlink(missing_ok=True)

    def _load(self) -> None:
        try:
            with np.load(self.path / "main.npz") as f:
                head = json.loads(f["head"].tobytes().decode())
                flat, offsets = f["flat"], f["offsets"]
            if head.get("tokens_version") != TOKENS_VERSION:
                raise ValueError("tokenised by other code: rebuilt from the store")
            vocab = {t: i for i, t in enumerate(head["vocab"])}
            tokens = [flat[offsets[i] : offsets[i + 1]] for i in range(len(head["ids"]))]
            snap = _compact(head["ids"], head["meta"], tokens, vocab, generation=head["generation"])
            lines = (self.path / "delta.jsonl").read_text(encoding="utf-8").splitlines()
            if json.loads(lines[0])["generation"] != snap.generation:
                raise ValueError("the journal belongs to another first segment")
            for line in lines[1:]:
                try:
                    change = json.loads(line)
                except ValueError:  # cut short by a crash: the start-up check against the store catches up,
                    self._rewrite = True  # and the next change writes a clean first segment
                    break
                snap = _apply(snap, set(change["remove"]), change["ids"], change["meta"], change["tokens"])
            self._current = snap
        except Exception:  # missing, from older code, or damaged: rebuilt from the store
            self._current = _Snapshot()


def _meta(m: dict[str, Any], text: str | None = None) -> dict[str, Any]:
    """What the index keeps of a chunk: its article, date and version, and the abbreviations its
    text defines (short -> long, `rag.nlp.names.defined_abbreviations`), if any."""
    meta = {"doc_id": m.get("doc_id"), "published_ts": m.get("published_ts", -1), "version": m.get("version", "")}
    abbreviations = defined_abbreviations(text) if text is not None else m.get("abbr")
    if abbreviations:
        meta["abbr"] = abbreviations
    return meta


@dataclass(frozen=True)
class _Aliases:
    """The abbreviations the live chunks define, both ways: short -> long forms, long -> short."""

    longs: dict[str, set[str]]
    shorts: dict[str, set[str]]

    @classmethod
    def of(cls, snap: _Snapshot) -> _Aliases:
        longs: dict[str, set[str]] = {}
        shorts: dict[str, set[str]] = {}
        for m, alive in zip(snap.meta, snap.alive):
            for short, long in (m.get("abbr") or {}).items() if alive else ():
                longs.setdefault(short, set()).add(long)
                shorts.setdefault(long, set()).add(short)
        return cls(longs, shorts)

    def pairs(self, query: str) -> dict[str, str]:
        """Short -> long form of each abbreviation the articles define whose name or short form the
        query holds. A name's words are matched folded ("regional express"); a short form only
        as written with a capital ("IS" for "Islamic State", not the verb "is", nor "Is"
        opening a question). An abbreviation the articles define two ways ("AP": a news agency
        in one, an Indian state in another) says nothing certain, and is left out."""
        if not self.longs:
            return {}
        found: dict[str, str] = {}
        words = key(query).split()
        for n in range(1, MAX_NAME_WORDS + 1):
            for i in range(len(words) - n + 1):
                name = " ".join(words[i : i + n])
                found.update((short, name) for short in self.shorts.get(name, ()) if len(self.longs[short]) == 1)
        for n, word in enumerate(re.findall(r"[A-Za-z][\w&.-]*", query)):
            longs = self.longs.get(key(word), ())
            written_short = any(c.isupper() for c in word[1:]) or (n > 0 and word[0].isupper())  # not "Is ...?"
            if len(longs) == 1 and written_short:
                found[key(word)] = next(iter(longs))
        return found

    def tokens(self, query: str) -> list[str]:
        """The tokens of both forms of each abbreviation in `pairs`: the query holds one of them."""
        return [t for short, long in self.pairs(query).items() for t in query_tokens(f"{short} {long}")]


def _distinct_terms(tokens: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(slot offset, term id, count) of each distinct term of each chunk, ordered by slot, then
    term: what `np.unique(ids, return_counts=True)` of each chunk gives, for all chunks in one
    sort (a per-chunk call costs ~10 us of Python each, the bulk of a merge of 50k chunks)."""
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    if not lengths.sum():
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float32)
    terms = np.concatenate(tokens).astype(np.int64)
    slots = np.repeat(np.arange(len(tokens), dtype=np.int64), lengths)
    width = int(terms.max()) + 1
    keys, counts = np.unique(slots * width + terms, return_counts=True)
    return keys // width, keys % width, counts.astype(np.float32)


def _term_ids(tokens: list[str], vocab: dict[str, int]) -> np.ndarray:
    """Term ids of the tokens; new terms are appended to the (shared, append-only) vocabulary."""
    return np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.int32, count=len(tokens))


def _compact(ids: list[str], meta: list[dict[str, Any]], tokens: list[np.ndarray], vocab: dict[str, int],
             generation: str | None = None) -> _Snapshot:
    """One segment over these chunks (all live)."""
    vocab = dict(vocab)  # a fresh first segment: later snapshots may share it, earlier ones keep theirs
    slot, term, tf = _distinct_terms(tokens)
    df = np.bincount(term, minlength=len(vocab)).astype(np.int64)
    snap = _Snapshot(
        ids=list(ids), meta=list(meta), tokens=list(tokens), alive=np.ones(len(ids), bool),
        lengths=np.array([len(t) for t in tokens], dtype=np.float32), df=df, vocab=vocab,
        segments=(_Segment.from_pairs(0, slot, term, tf, len(vocab)),), first_segment_slots=len(ids),
        generation=generation or os.urandom(8).hex(),
    )
    return _with_fingerprint(snap)


def _apply(snap: _Snapshot, remove_docs: set[str], ids: list[str], meta: list[dict[str, Any]],
           tokens_text: list[list[str]]) -> _Snapshot:
    """The snapshot with the chunks of `remove_docs` dead and these chunks added as a segment."""
    dead = np.array([m.get("doc_id") in remove_docs for m in snap.meta], dtype=bool) & snap.alive
    if not dead.any() and not ids:
        return snap
    df = snap.df.copy()
    for slot in np.flatnonzero(dead):
        df[np.unique(snap.tokens[slot])] -= 1
    vocab = snap.vocab  # appended to in place: older snapshots ignore term ids beyond their df
    tokens = [_term_ids(t, vocab) for t in tokens_text]
    slot, term, tf = _distinct_terms(tokens)
    df = np.concatenate([df, np.zeros(len(vocab) - len(df), np.int64)]) + np.bincount(term, minlength=len(vocab))
    segments = snap.segments + ((_Segment.from_pairs(len(snap.ids), slot, term, tf, len(vocab)),) if ids else ())
    new = _Snapshot(
        ids=snap.ids + list(ids), meta=snap.meta + [_meta(m) for m in meta], tokens=snap.tokens + tokens,
        alive=np.concatenate([snap.alive & ~dead, np.ones(len(ids), bool)]),
        lengths=np.concatenate([snap.lengths, np.array([len(t) for t in tokens], dtype=np.float32)]),
        df=df, vocab=vocab, segments=segments, first_segment_slots=snap.first_segment_slots,
        generation=snap.generation,
    )
    return _with_fingerprint(new)


def _with_fingerprint(snap: _Snapshot) -> _Snapshot:
    return _Snapshot(**{**snap.__dict__, "fingerprint": _live_fingerprint(snap)})
