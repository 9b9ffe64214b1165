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


def _ranked(index: KeywordIndex, query: str) -> list[str]:
    return [cid.split("@")[0] for cid, _ in index.search(query, 20)]


ABBREVIATED = {
    # aviation: the name defined once, the abbreviation after; another company's officer beside it
    "rex-a": ["The twin-propeller Regional Express (Rex) plane carrying 16 passengers landed safely."],
    "rex-b": ['"This is a rare event," said Rex chief operating officer Neville Howell.'],
    "uber": ["Uber said it will hire a chief operating officer to help its chief executive."],
    # health: the name written out where the abbreviation is asked about; a match report beside it
    "fda": ["The Food and Drug Administration (FDA) approved the drug in May.",
            "The Food and Drug Administration said the trial was stopped."],
    "cricket": ["The trial match was stopped by rain."],
    "war": ["Islamic State (IS) fighters withdrew from the town."],
}  # fmt: skip


def test_a_name_is_also_searched_by_the_abbreviation_the_articles_define(tmp_path: Path):
    """A name the articles abbreviate finds the chunk that uses only the abbreviation, and an
    abbreviation the chunk that uses only the name (aviation and health), after a restart too;
    once the defining article is gone, the other form is no longer searched."""
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild(*_rows(ABBREVIATED))
    for current in (index, KeywordIndex(tmp_path / "kw")):  # as built, and as loaded from disk
        ranked = _ranked(current, "Who is the chief operating officer of Regional Express?")
        assert ranked.index("rex-b#0") < ranked.index("uber#0")
        ranked = _ranked(current, "Why did the FDA stop the trial?")
        assert ranked.index("fda#1") < ranked.index("cricket#0")
    index.update({"rex-a"}, [], [], [])
    ranked = _ranked(index, "Who is the chief operating officer of Regional Express?")
    assert ranked.index("uber#0") < ranked.index("rex-b#0")
    index.update(set(), *_rows({"rex-a": ABBREVIATED["rex-a"]}, version="2"))  # journalled
    ranked = _ranked(KeywordIndex(tmp_path / "kw"), "Who is the chief operating officer of Regional Express?")
    assert ranked.index("rex-b#0") < ranked.index("uber#0")


def test_a_word_that_is_an_abbreviation_only_in_capitals_is_not_expanded(tmp_path: Path):
    """The verb "is", or "Is" opening a question, is not "IS" (Islamic State)."""
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild(*_rows(ABBREVIATED))
    assert "war#0" not in _ranked(index, "Who is the chief operating officer of Uber?")
    assert "war#0" not in _ranked(index, "Is the chief operating officer of Uber leaving?")
    assert _ranked(index, "Where did IS withdraw from?")[0] == "war#0"


def test_an_index_saved_by_other_tokenisation_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    index = KeywordIndex(tmp_path / "kw")
    index.rebuild(*_rows(ABBREVIATED))
    assert KeywordIndex(tmp_path / "kw").fingerprint
    monkeypatch.setattr(keyword, "TOKENS_VERSION", keyword.TOKENS_VERSION + 1)
    assert KeywordIndex(tmp_path / "kw").fingerprint == ""  # not trusted: rebuilt from the store at start-up
