"""Hybrid retrieval on the seeds, with real embeddings and Chroma; the tests of the retriever's
caches and in-memory copy run on the in-memory parts (`memory_pipeline`): they are about the
retriever's bookkeeping, which must hold whatever the store and embedder."""

from __future__ import annotations

from rag.pipeline import Pipeline
from rag.schema import Filters
from rag.settings import PROJECT_ROOT


def test_prisoner_question_finds_a_passage_with_the_number(fake_pipeline: Pipeline):
    passages = fake_pipeline.search("How many prisoners did each side agree to swap?", k=4)
    assert any("1,000" in p.text for p in passages)
    assert passages == sorted(passages, key=lambda p: -p.score)


def test_near_duplicates_are_collapsed_but_disagreeing_ones_kept(fake_pipeline: Pipeline):
    medinsky = (
        "Vladimir Medinsky, a presidential aide to Putin and former culture minister who headed the Russian "
        "delegation, expressed satisfaction over how the talks went and said that the two sides had agreed there "
        "would be a 1,000 by 1,000 person prisoner swap."
    )
    # A syndicated copy of a seed paragraph, and a copy that changes the number.
    fake_pipeline.ingest_record({"id": "wire-copy", "title": "Wire copy", "text": medinsky}, "wire-copy")
    fake_pipeline.ingest_record(
        {"id": "wire-typo", "title": "Wire typo", "text": medinsky.replace("1,000 by 1,000", "1,200 by 1,200")}, "wire-typo"
    )
    passages = fake_pipeline.search("What did Medinsky say about the prisoner swap?", k=6)
    chunk_ids = [p.chunk_id for p in passages]
    twins = {"wire-copy#0", "003_c1e344e38b025e9e#3"}
    assert len(twins & set(chunk_ids)) == 1, "a verbatim copy is one passage, not two"
    kept = next(p for p in passages if p.chunk_id in twins)
    assert kept.also_in == list(twins - {kept.chunk_id})
    assert "wire-typo#0" in chunk_ids, "a near-copy with a different number is kept: the reports disagree"


def test_filters_restrict_documents(fake_pipeline: Pipeline):
    only = "002_2a3384441d849c70"
    passages = fake_pipeline.search("prisoner exchange", k=5, filters=Filters(doc_ids=[only]))
    assert passages and {p.doc_id for p in passages} == {only}


def test_keyword_and_dense_modes(fake_pipeline: Pipeline):
    kw = fake_pipeline.search("Dolmabahçe Palace", k=3, mode="keyword")
    assert kw[0].doc_id == "003_c1e344e38b025e9e" and kw[0].keyword_score
    dense = fake_pipeline.search("Where did the delegations sit?", k=3, mode="dense")
    assert all(p.keyword_score is None for p in dense)


def test_repeated_searches_follow_ingest_update_and_removal(memory_pipeline: Pipeline):
    question = "What did the lighthouse keeper of Vardø report?"
    before = memory_pipeline.search(question, k=3)
    assert memory_pipeline.search(question, k=3) == before, "a repeated search gives the same passages"
    assert all(p.doc_id != "vardo" for p in before)

    memory_pipeline.ingest_record(
        {"id": "vardo", "title": "Vardø", "text": "The lighthouse keeper of Vardø reported three whales in the harbour."},
        "vardo",
    )
    added = memory_pipeline.search(question, k=3)
    assert added[0].doc_id == "vardo" and "three whales" in added[0].text, "a new article is found at once"

    memory_pipeline.ingest_record(
        {"id": "vardo", "title": "Vardø", "text": "The lighthouse keeper of Vardø reported seven seals on the pier."},
        "vardo",
    )
    updated = [p for p in memory_pipeline.search(question, k=3) if p.doc_id == "vardo"]
    assert updated and all("seven seals" in p.text and "whales" not in p.text for p in updated), "no stale text"

    memory_pipeline.remove("vardo")
    assert all(p.doc_id != "vardo" for p in memory_pipeline.search(question, k=3)), "a removed article is gone"


def test_keyword_search_joins_compounds_and_knows_irregular_verbs(fake_pipeline: Pipeline):
    front = fake_pipeline.search("How long is the front line?", k=3, mode="keyword")
    assert any("1,000km frontline" in p.text for p in front), "'front line' finds 'frontline'"
    wearing = fake_pipeline.search("What were the negotiators wearing?", k=3, mode="keyword")
    assert any("wore military uniforms" in p.text for p in wearing), "'wearing' finds 'wore'"


def test_query_tokens_are_the_tokens_the_index_was_built_with():
    import bm25s

    from rag.keyword import _stems, prepare, query_tokens

    texts = [p.read_text(encoding="utf-8") for p in sorted((PROJECT_ROOT / "seeds").iterdir()) if p.is_file()]
    texts += ["Who wore what? The 1,000-strong delegation's talks, they'd said, ran on."]
    for text in texts:
        text = prepare(text)
        expected = bm25s.tokenize([text], stopwords="en", stemmer=_stems, show_progress=False, return_ids=False)[0]
        assert query_tokens(text) == expected


def test_in_memory_dense_search_ranks_as_chroma_does(fake_pipeline: Pipeline):
    retriever = fake_pipeline.retriever
    mirror = retriever.mirror()
    assert mirror is not None and len(mirror.hits) == fake_pipeline.store.count_chunks()
    only = Filters(doc_ids=["002_2a3384441d849c70", "004_b3b971f3e0a869a4"])
    for question in ["How many prisoners were swapped?", "Who chaired the meeting?", "What did Starmer say?"]:
        query = retriever.embed_query(question)
        for filters in (None, only):
            ours = [(h.chunk_id, round(h.cosine, 4)) for h in mirror.nearest(query, 10, filters)]
            chroma = [(cid, round(cos, 4)) for cid, cos in fake_pipeline.store.nearest(query, 10, filters)]
            assert ours == chroma, (question, filters)


def test_a_large_collection_is_searched_by_chroma(fake_pipeline: Pipeline, monkeypatch):
    question = "Where were the talks held?"
    expected = fake_pipeline.search(question, k=4)
    monkeypatch.setattr(fake_pipeline.settings, "memory_search_max", 1)
    bread = {"id": "note", "title": "Bread", "text": "Bread needs flour, water, salt and yeast."}
    fake_pipeline.ingest_record(bread, "note")
    assert fake_pipeline.retriever.mirror() is None
    assert [p.chunk_id for p in fake_pipeline.search(question, k=4)] == [p.chunk_id for p in expected]


def test_questions_asked_together_are_embedded_together_and_alike(fake_pipeline: Pipeline):
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    from rag.retrieve import QueryBatcher

    model = fake_pipeline.retriever.embedding
    sizes: list[int] = []

    def embed(texts: list[str]) -> np.ndarray:
        sizes.append(len(texts))
        return model.embed(texts)

    batcher = QueryBatcher(embed)
    questions = [f"How many prisoners did side {i} swap?" for i in range(24)]
    with ThreadPoolExecutor(8) as pool:
        vectors = list(pool.map(batcher, questions))
    for question, vector in zip(questions, vectors):
        np.testing.assert_allclose(vector, model.get_query_embedding(question), atol=1e-5)
    assert sum(sizes) == len(questions) and max(sizes) > 1, sizes

    def broken(texts: list[str]) -> np.ndarray:
        raise RuntimeError("model file unreadable")

    failing = QueryBatcher(broken)
    try:
        failing("anything")
    except RuntimeError as exc:
        assert "unreadable" in str(exc)
    else:
        raise AssertionError("the caller must get the model's error")


def test_keyword_search_during_rebuilds_sees_one_whole_index(tmp_path):
    """Searches run while uploads and deletions rebuild the index (no lock): each must see
    either the old index or the new one, never new ids with old scores."""
    import threading

    from rag.keyword import KeywordIndex

    index = KeywordIndex(tmp_path / "bm25")
    small = ([f"s{i}" for i in range(3)], ["prisoner swap talks"] * 3)
    large = ([f"l{i}" for i in range(60)], [f"prisoner swap number {i} in Istanbul" for i in range(60)])
    failures: list[str] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                ids = {cid[0] for cid, _ in index.search("prisoner swap", 80)}
                if len(ids) > 1:
                    failures.append(f"ids from two builds: {ids}")
            except Exception as e:  # noqa: BLE001 - the failure under test
                failures.append(repr(e))

    searcher = threading.Thread(target=search)
    searcher.start()
    try:
        for i in range(150):
            ids, texts = large if i % 2 else small
            index.rebuild(ids, texts, [{"doc_id": c} for c in ids])
    finally:
        stop.set()
        searcher.join()
    assert not failures, failures[:3]


def test_the_in_memory_copy_follows_adds_updates_and_removals_as_a_fresh_read(memory_pipeline: Pipeline):
    """After a change, the in-memory copy is brought up to date (only new chunks read): it must
    hold exactly what reading the whole collection again would."""
    from rag.retrieve import Mirror

    retriever = memory_pipeline.retriever

    def assert_fresh() -> None:
        kept = retriever.mirror()
        fresh = Mirror(memory_pipeline.store.get_chunks(None))
        assert sorted((h.chunk_id, h.text, h.metadata.get("version")) for h in kept.hits) == sorted(
            (h.chunk_id, h.text, h.metadata.get("version")) for h in fresh.hits
        )
        query = retriever.embed_query("How much rye flour does the starter get?")
        assert [h.chunk_id for h in kept.nearest(query, 5)] == [h.chunk_id for h in fresh.nearest(query, 5)]

    assert_fresh()
    memory_pipeline.ingest_record({"id": "starter", "text": "The starter gets 50 grams of rye flour a day."}, "s")
    assert_fresh()
    memory_pipeline.remove("starter")  # and added again at once: the same plain chunk ids, another version
    memory_pipeline.ingest_record({"id": "starter", "text": "The starter gets 65 grams of rye flour a day."}, "s")
    assert_fresh()
    memory_pipeline.ingest_record({"id": "starter", "text": "The starter gets 80 grams of rye flour twice a day."}, "s")
    assert_fresh()
    assert "80 grams" in memory_pipeline.search("How much rye flour does the starter get?", k=1, mode="dense")[0].text
    memory_pipeline.remove("starter")
    memory_pipeline.remove("002_2a3384441d849c70")
    assert_fresh()
