"""One set of assertions against the real embedded Chroma store and the in-memory fake
(`tests.fixtures.fakes.InMemoryStore`): what the retriever, the indexer and the pipeline rely
on from a `VectorStore`, so the fake cannot drift from the real thing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rag.components import VectorStore
from rag.errors import UnknownDocument
from rag.ingest.chunk import Chunker
from rag.ingest.load import build_article
from rag.schema import Article, Filters
from rag.store import ChromaStore
from tests.conftest import make_settings
from tests.fixtures.fakes import HashingEmbedder, InMemoryStore

EMBEDDER = HashingEmbedder()
# Two unrelated domains, dated and undated.
TEXTS = {
    "harbour": ("Harbour dues", "The harbour board raised mooring dues for fishing boats by 12 percent. "
                "Trawler crews said the dues would cut their catch money.", "2024-01-10"),
    "orchard": ("Orchard frost", "A late frost killed most apple blossom in the valley orchards. "
                "Growers expect the smallest apple harvest in a decade.", "2024-06-02"),
    "choir": ("Choir tour", "The youth choir sang in four cathedrals on its spring tour and recorded an album.", None),
}  # fmt: skip


def article(doc_id: str, text: str | None = None) -> tuple[Article, list]:
    title, body, date = TEXTS[doc_id]
    art = build_article(doc_id, text or body, title=title, published_at=date, source=f"{doc_id}.txt")
    nodes = Chunker(16, 0).split(art)
    for node, vector in zip(nodes, EMBEDDER.get_text_embedding_batch([n.text for n in nodes])):
        node.embedding = vector
    return art, nodes


@pytest.fixture(params=["chroma", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    if request.param == "chroma":
        made: VectorStore = ChromaStore(
            make_settings(tmp_path / "data", auto_seed=False), embed_model=EMBEDDER.model_name
        )
    else:
        made = InMemoryStore()
    for doc_id in TEXTS:
        art, nodes = article(doc_id)
        made.put_article(art, nodes, [], chunking="16/0")
    yield made
    made.close()


def query(text: str):
    return EMBEDDER.embed_queries([text])[0]


def test_articles_and_their_chunks_are_listed_and_read(store: VectorStore) -> None:
    assert [d.doc_id for d in store.list_docs()] == ["choir", "harbour", "orchard"]
    info, text = store.get_doc("orchard")
    assert text.startswith("A late frost") and info.chunks >= 2 and info.published_at.year == 2024
    assert store.source("harbour") == "harbour.txt" and store.source("nowhere") is None
    assert store.stored_versions(["harbour", "nowhere"]) == {"harbour": (article("harbour")[0].content_hash, "16/0")}
    assert store.openings(["orchard", "nowhere", "orchard"], 30) == {"orchard": "A late frost killed most apple"}
    assert store.openings(["choir"], 1000) == {"choir": TEXTS["choir"][1]}
    assert store.openings([], 10) == {} and store.get_chunks([]) == []
    ids, texts, metas = store.all_chunks()
    assert sorted(ids) == store.chunk_ids() and len(ids) == store.count_chunks()
    assert {m["doc_id"] for m in metas} == set(TEXTS) and all(t for t in texts)
    ids, _, metas = store.chunks_of(["choir"])
    assert ids and {m["doc_id"] for m in metas} == {"choir"}
    wanted = [ids[-1], "nowhere#0", ids[0]]
    assert [h.chunk_id for h in store.get_chunks(wanted)] == [ids[-1], ids[0]]  # in the order asked, unknown left out
    assert store.get_chunks([]) == []
    with pytest.raises(UnknownDocument):
        store.get_doc("nowhere")


def test_nearest_honours_document_and_date_filters(store: VectorStore) -> None:
    apple = query("apple harvest frost")
    assert store.nearest(apple, 1)[0][0].startswith("orchard#")
    cosines = [c for _, c in store.nearest(apple, 10)]
    assert cosines == sorted(cosines, reverse=True) and -1.0 <= cosines[-1] <= cosines[0] <= 1.0

    def docs(**filters) -> set[str]:
        return {cid.split("#")[0] for cid, _ in store.nearest(apple, 10, Filters(**filters))}

    march = datetime(2024, 3, 1, tzinfo=UTC)
    assert docs(doc_ids=["harbour", "choir"]) == {"harbour", "choir"}
    assert docs(published_after=march) == {"orchard"}
    assert docs(published_before=march) == {"harbour"}  # undated articles are not inside a given range
    assert docs(published_before=march, keep_undated=True) == {"harbour", "choir"}
    assert docs(published_after=march, published_before=datetime(2024, 12, 31)) == {"orchard"}
    assert docs(doc_ids=["orchard"], published_before=march) == set()


def test_a_new_version_replaces_the_old_one_whole(store: VectorStore) -> None:
    before = set(store.chunks_of(["harbour"])[0])
    old_hits = store.get_chunks(sorted(before))
    fingerprint, version = store.articles_fingerprint(), store.live_versions()["harbour"]
    art, nodes = article("harbour", "Mooring dues stay as they are this year, the harbour board said after a vote.")
    store.put_article(art, nodes, [])
    ids, texts, _ = store.chunks_of(["harbour"])
    assert ids and all(i.startswith("harbour#") and "@" in i for i in ids)  # a replacing version's ids
    assert not before & set(store.chunk_ids()), "the replaced chunks are deleted"
    assert "stay as they are" in " ".join(texts)
    assert store.live_versions(refresh=True)["harbour"] != version and store.articles_fingerprint() != fingerprint
    assert store.live_only(old_hits) == []  # hits read before the write are not shown after it
    assert store.repair().removed == 0


def test_similar_articles_and_removal(store: VectorStore) -> None:
    harbour = query(TEXTS["harbour"][1])
    orchard = query(TEXTS["orchard"][1])
    found = store.similar_docs_many([harbour, orchard], ["choir", "orchard"], threshold=0.5)
    assert found == [["harbour"], []]  # the article's own record is excluded
    store.put_article(*article("choir"), ["harbour"])
    assert store.get_doc("choir")[0].near_duplicates == ["harbour"]
    store.delete_article("harbour")
    assert [d.doc_id for d in store.list_docs()] == ["choir", "orchard"]
    assert store.chunks_of(["harbour"])[0] == [] and not any(i.startswith("harbour#") for i in store.chunk_ids())
    assert store.get_doc("choir")[0].near_duplicates == [], "a removed article is no longer named as repeated"
    with pytest.raises(UnknownDocument):
        store.delete_article("harbour")


def test_a_collection_larger_than_a_read_page_is_read_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole-collection reads go in pages (SQLite allows 32,766 variables a statement, and embedded
    Chroma spends one per row read with its metadata): with pages of 2 rows, every read gives
    what one call gives, for articles of two domains."""
    import rag.store

    store = ChromaStore(make_settings(tmp_path / "data", auto_seed=False), embed_model=EMBEDDER.model_name)
    try:
        for doc_id in TEXTS:
            art, nodes = article(doc_id)
            store.put_article(art, nodes, [], chunking="16/0")
        whole = (store.all_chunks(), store.chunk_ids(), store.list_docs(), store.get_chunks(None))
        monkeypatch.setattr(rag.store, "READ_PAGE", 2)
        rows_read: list[int] = []
        for collection in (store.chunks, store.docs):
            def counted(*args, _get=collection.get, **kwargs):
                got = _get(*args, **kwargs)
                rows_read.append(len(got["ids"]))
                return got
            monkeypatch.setattr(collection, "get", counted)
        paged = (store.all_chunks(), store.chunk_ids(), store.list_docs(), store.get_chunks(None))
        assert rows_read and max(rows_read) <= 2
        assert len(whole[1]) > 2 * 2 and len(whole[2]) > 2  # several pages of chunks and of articles
        assert paged[:3] == whole[:3]
        assert [h.chunk_id for h in paged[3]] == [h.chunk_id for h in whole[3]]
        assert [h.chunk_id for h in store.get_chunks(whole[1][::-1])] == whole[1][::-1]  # ids asked in pages too
        assert store.repair().removed == 0 and store.chunk_ids() == whole[1]
    finally:
        store.close()
