"""The keyword index kept in segments scores exactly as bm25s does on a fresh build of the live
chunks, after adds, changes and removals, after a merge, and after a restart (journal replayed)."""

from __future__ import annotations

from pathlib import Path

import bm25s
import numpy as np
import pytest

import rag.keyword as keyword
from rag.keyword import KeywordIndex, _stems, prepare, search_tokens

SEEDS = Path(__file__).resolve().parents[2] / "seeds"

QUERIES = [
    "How many prisoners were swapped?", "Who led the delegation at the talks in Istanbul?", "ceasefire demands",
    "How much rye flour is fed to the starter?", "Which bolt is torqued to 14 Nm?", "seal ring wear",
]  # fmt: skip


def _articles() -> dict[str, list[str]]:
    """doc id -> chunks: the seed articles (news) cut into paragraphs, a recipe and a manual."""
    docs = {p.stem: [x for x in p.read_text().split("\n") if x.strip()] for p in sorted(SEEDS.glob("*.txt"))}
    docs["starter"] = [f"On day {n} the starter is fed {50 + n} grams of rye flour and water." for n in range(1, 12)]
    docs["pump"] = [f"Step {n}: check seal ring R{n} for wear, then torque bolt B{n} to {10 + n} Nm." for n in range(1, 12)]
    return docs


def _rows(docs: dict[str, list[str]], version: str = "") -> tuple[list[str], list[str], list[dict]]:
    ids, texts, metas = [], [], []
    for doc_id, chunks in docs.items():
        for n, text in enumerate(chunks):
            ids.append(f"{doc_id}#{n}@{version}"), texts.append(text)
            metas.append({"doc_id": doc_id, "published_ts": -1, "version": version})
    return ids, texts, metas


def _assert_scores_as_bm25s(index: KeywordIndex, docs: dict[str, list[str]]) -> None:
    ids, texts, _ = _rows(docs)
    reference = bm25s.BM25()
    reference.index(bm25s.tokenize([prepare(t) for t in texts], stopwords="en", stemmer=_stems, show_progress=False),
                    show_progress=False)
    for query in QUERIES:
        tokens = [t for t in search_tokens(query) if t in reference.vocab_dict]
        expected = reference.get_scores(tokens)
        got = {cid.split("@")[0]: score for cid, score in index.search(query, len(ids))}  # ids without version
        ours = np.array([got.get(cid.split("@")[0], 0.0) for cid in ids])
        assert np.allclose(ours, expected, atol=1e-4), query
        assert (expected > 0).sum() == len(got), query  # dead chunks never come back


@pytest.mark.parametrize("merge_min", [1000, 0])  # journal only; merged after every change
def test_changes_score_as_a_fresh_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merge_min: int):
    monkeypatch.setattr(keyword, "MERGE_MIN_SLOTS", merge_min)
    monkeypatch.setattr(keyword, "MERGE_SHARE", 0.1 if merge_min else 0.0)
    docs = _articles()
    first = {d: c for d, c in docs.items() if d not in ("starter", "pump")}
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild(*_rows(first))
    _assert_scores_as_bm25s(index, first)

    index.update(set(), *_rows({"starter": docs["starter"], "pump": docs["pump"]}, "v1"))  # added
    _assert_scores_as_bm25s(index, docs)
    changed = dict(docs, pump=[c.replace("wear", "cracks") for c in docs["pump"]][:5])
    index.update({"pump"}, *_rows({"pump": changed["pump"]}, "v2"))  # changed: fewer chunks, other words
    _assert_scores_as_bm25s(index, changed)
    seed = next(iter(first))
    index.update({seed}, [], [], [])  # removed
    del changed[seed]
    _assert_scores_as_bm25s(index, changed)
    assert index.doc_versions()["pump"] == "v2" and seed not in index.doc_versions()
    assert index.knows("cracks") and index.knows("rye")
    if merge_min == 0:
        assert len(index._current.segments) == 1  # merged: one segment of live chunks
    else:
        assert len(index._current.segments) == 3

    again = KeywordIndex(tmp_path / "kw")  # a restart: the first segment loaded, the journal replayed
    assert again.fingerprint == index.fingerprint
    _assert_scores_as_bm25s(again, changed)
    assert [again.search(q, 5) for q in QUERIES] == [index.search(q, 5) for q in QUERIES]


def test_a_journal_of_another_first_segment_is_not_applied(tmp_path: Path):
    docs = _articles()
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild(*_rows(docs))
    stale = (tmp_path / "kw" / "delta.jsonl").read_text()
    index.rebuild(*_rows({"pump": docs["pump"]}))  # a new first segment
    (tmp_path / "kw" / "delta.jsonl").write_text(stale)
    assert KeywordIndex(tmp_path / "kw").fingerprint == ""  # not trusted: rebuilt from the store at start-up


def test_filters_keep_exactly_the_matching_chunks_with_their_scores(tmp_path: Path):
    """A filtered search is the unfiltered one without the chunks the filter excludes: by article
    (news and a recipe) and by date (dated, undated, kept or not), scores unchanged."""
    from datetime import datetime, timezone

    from rag.schema import Filters
    from rag.store import matches

    docs = _articles()
    ids, texts, metas = _rows(docs)
    dated = {"starter": datetime(2024, 3, 5, tzinfo=timezone.utc), "pump": datetime(2025, 7, 1, tzinfo=timezone.utc)}
    for m in metas:
        if m["doc_id"] in dated:
            m["published_ts"] = int(dated[m["doc_id"]].timestamp())
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild(ids, texts, metas)
    meta_of = dict(zip(ids, metas))
    cases = [
        Filters(doc_ids=["starter", next(iter(docs))]),
        Filters(published_after=datetime(2025, 1, 1, tzinfo=timezone.utc)),
        Filters(published_before=datetime(2024, 12, 31, tzinfo=timezone.utc)),
        Filters(published_after=datetime(2025, 1, 1, tzinfo=timezone.utc), keep_undated=True),
        Filters(published_after=datetime(2024, 3, 1, tzinfo=timezone.utc), published_before=datetime(2024, 3, 31, tzinfo=timezone.utc)),
        Filters(published_before=datetime(2024, 12, 31, tzinfo=timezone.utc), keep_undated=True),
        Filters(doc_ids=["pump"], published_before=datetime(2024, 12, 31, tzinfo=timezone.utc)),
    ]
    for filters in cases:
        for query in QUERIES:
            everything = index.search(query, len(ids))
            expected = [(cid, score) for cid, score in everything if matches(filters, meta_of[cid])]
            assert index.search(query, len(ids), filters) == expected, (query, filters)
    starter_only = index.search("rye flour torque bolt", 50, Filters(published_before=datetime(2024, 12, 31, tzinfo=timezone.utc)))
    assert starter_only and {cid.split("#")[0] for cid, _ in starter_only} == {"starter"}
