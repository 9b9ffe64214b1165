"""Ingest as a stream: files are read, cleaned and chunked while the chunks before them are
embedded and stored, in batches that span articles. A real embedded Chroma and the real
embedding model; no seeds, so each test ingests only its own articles."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import rag.ingest.indexer as indexer_module
from rag.ingest.load import iter_files, load_file
from rag.nlp.parse import sentences
from rag.pipeline import Pipeline
from tests.conftest import make_settings

TOWNS = ["Arlow", "Brenmoor", "Castavel", "Dunmere", "Eskby", "Farrowick", "Glenharrow", "Holmsey", "Istead", "Jorvale"]


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    with Pipeline(make_settings(tmp_path / "data", auto_seed=False), start_llm=False) as p:
        p.indexer.batch_chunks = 5  # every batch spans articles, and there are many of them
        yield p


def _corpus(folder: Path) -> Path:
    """Ten articles of two to six chunks each (at the chunk size of 96 tokens), then a copy of
    the first under another name: a near-duplicate stored in a later batch than its original."""
    folder.mkdir()
    for n, town in enumerate(TOWNS):
        body = " ".join(
            f"In {town} the council met for the {k + 1}th time this year and approved {n * 10 + k} new street lamps "
            f"for the {['north', 'south', 'east', 'west'][k % 4]} district, at a cost of {k + 2} thousand pounds each."
            for k in range(6 + 4 * (n % 3))
        )
        (folder / f"{n:02d}-{town.lower()}.txt").write_text(f"{town} council news\n{body}", encoding="utf-8")
    first = sorted(folder.glob("*.txt"))[0]
    (folder / "99-copy.txt").write_text(first.read_text(encoding="utf-8"), encoding="utf-8")
    return folder


def _expected(pipeline: Pipeline, folder: Path) -> dict[str, list[str]]:
    """doc id -> its chunks' texts, as the chunker cuts them."""
    articles = [a for f in iter_files([folder]) for a in load_file(f)]
    return {a.doc_id: [n.text for n in pipeline.indexer.chunker.split(a)] for a in articles}


def _stored(pipeline: Pipeline) -> dict[str, list[str]]:
    got = pipeline.store.chunks.get(include=["documents", "metadatas"])
    assert len(got["ids"]) == len(set(got["ids"]))
    by_doc: dict[str, list[tuple[int, str]]] = {}
    for chunk_id, text, meta in zip(got["ids"], got["documents"], got["metadatas"]):
        by_doc.setdefault(meta["doc_id"], []).append((int(chunk_id.split("#")[1].split("@")[0]), text))
    return {d: [t for _, t in sorted(chunks)] for d, chunks in by_doc.items()}


def test_batches_that_span_articles_store_every_chunk_exactly_once(pipeline: Pipeline, tmp_path: Path):
    folder = _corpus(tmp_path / "news")
    expected = _expected(pipeline, folder)
    total = sum(len(v) for v in expected.values())
    assert total > 4 * pipeline.indexer.batch_chunks and any(len(v) > 1 for v in expected.values())

    report = pipeline.ingest([folder])

    assert sorted(report.added) == sorted(expected) and report.chunks == total and not report.skipped
    assert _stored(pipeline) == expected  # each chunk once, whole articles, in order
    assert pipeline.keyword.is_current(pipeline.store.chunk_ids())
    assert sorted(i.split("@")[0] for i, _ in pipeline.keyword.live_chunks()) == sorted(pipeline.store.chunk_ids())
    info, _ = pipeline.document("99-copy")
    assert info.near_duplicates == ["00-arlow"]  # its original was stored batches before it
    again = pipeline.ingest([folder])
    assert sorted(again.unchanged) == sorted(expected) and again.chunks == 0


def test_files_are_read_while_earlier_chunks_are_embedded(pipeline: Pipeline, tmp_path: Path, monkeypatch):
    """The first batch is embedded before the last file is read (not after all of them)."""
    folder = _corpus(tmp_path / "news")
    events: list[str] = []
    load = indexer_module.load_file
    embedding = pipeline.indexer.embedding

    class Recording:
        def get_text_embedding_batch(self, texts: list[str]) -> list:
            events.append("embed")
            return embedding.get_text_embedding_batch(texts)

    def recording_load(path: Path, skipped=None):
        events.append("read")
        return load(path, skipped=skipped)

    monkeypatch.setattr(indexer_module, "load_file", recording_load)
    monkeypatch.setattr(pipeline.indexer, "embedding", Recording())
    monkeypatch.setattr(indexer_module, "LOOKUP_ARTICLES", 2)  # chunked two articles at a time
    pipeline.ingest([folder])
    last_read = len(events) - 1 - events[::-1].index("read")
    assert "embed" in events[:last_read], events


def test_an_embedding_failure_stops_the_ingest_and_the_next_one_finishes_it(
    pipeline: Pipeline, tmp_path: Path, monkeypatch
):
    folder = _corpus(tmp_path / "news")
    expected = _expected(pipeline, folder)
    embedding = pipeline.indexer.embedding
    calls = []

    class FailingThird:
        def get_text_embedding_batch(self, texts: list[str]) -> list:
            calls.append(len(texts))
            if len(calls) == 3:
                raise RuntimeError("the embedder went away")
            return embedding.get_text_embedding_batch(texts)

    monkeypatch.setattr(pipeline.indexer, "embedding", FailingThird())
    with pytest.raises(RuntimeError, match="went away"):
        pipeline.ingest([folder])
    monkeypatch.undo()
    pipeline.indexer.batch_chunks = 5
    stored = _stored(pipeline)
    assert 0 < len(stored) < len(expected)
    assert all(stored[d] == expected[d] for d in stored)  # only whole articles
    assert {d.doc_id for d in pipeline.documents()} == set(stored)

    report = pipeline.ingest([folder])  # goes on where the failed one stopped
    assert sorted(report.unchanged) == sorted(stored)
    assert sorted(report.added) == sorted(set(expected) - set(stored))
    assert _stored(pipeline) == expected
    assert pipeline.keyword.is_current(pipeline.store.chunk_ids())


def _with_matches(folder: Path) -> Path:
    """The council corpus and match reports beside it: text of two domains."""
    for n, club in enumerate(["Rovers", "Athletic", "United", "Wanderers"]):
        body = " ".join(
            f"{club} won {k + 2}-{k % 2} away from home in round {k + 1}, with {['Marsh', 'Hale', 'Stone'][k % 3]} "
            f"scoring twice before a crowd of {k + 9},{n}00 in the {['rain', 'sun', 'wind'][k % 3]}."
            for k in range(8)
        )
        (folder / f"match-{n}.txt").write_text(f"{club} match report\n{body}", encoding="utf-8")
    return folder


@pytest.fixture
def child_spy(pipeline: Pipeline, monkeypatch) -> list:
    """Each embedding child the ingest starts, up before the ingest goes on (so it gets batches)."""
    started: list = []
    cls = type(pipeline.embedding)
    real = cls.child_process

    def spy(self):
        child = real(self)
        assert child.wait(60), child.error
        started.append(child)
        return child

    monkeypatch.setattr(cls, "child_process", spy)
    return started


def test_a_long_ingest_embeds_in_a_child_process_with_this_processs_vectors(
    pipeline: Pipeline, tmp_path: Path, child_spy: list
):
    """From its second batch an ingest embeds in a child process (chromadb holds the GIL while it
    writes): every chunk stored once, each with the vector this process gives its text, for text
    of two domains; the child ends with the ingest."""
    folder = _with_matches(_corpus(tmp_path / "news"))
    expected = _expected(pipeline, folder)
    report = pipeline.ingest([folder])
    assert len(child_spy) == 1 and not report.skipped and _stored(pipeline) == expected
    got = pipeline.store.chunks.get(include=["documents", "embeddings"])
    np.testing.assert_allclose(np.asarray(got["embeddings"]), pipeline.embedding.embed_texts(got["documents"]), atol=1e-5)
    assert child_spy[0]._proc.poll() is not None, "the child process outlived the ingest"
    assert pipeline.search("Who scored twice for Rovers?", k=3)[0].doc_id.startswith("match-")


def test_an_embedding_child_that_dies_costs_nothing(pipeline: Pipeline, tmp_path: Path, child_spy: list, caplog):
    """A child killed during the ingest: the batch it had, and the ones after it, are embedded in
    this process; every article is stored, with this process's vectors."""
    import logging
    import os
    import signal

    cls = type(pipeline.embedding)
    real = cls.child_process

    def killed(self):
        child = real(self)
        os.kill(child.pid, signal.SIGKILL)
        return child

    cls.child_process = killed  # restored by child_spy's monkeypatch
    folder = _with_matches(_corpus(tmp_path / "news"))
    expected = _expected(pipeline, folder)
    with caplog.at_level(logging.WARNING, logger="rag.ingest.indexer"):
        report = pipeline.ingest([folder])
    assert len(child_spy) == 1 and "embedding in this process" in caplog.text
    assert sorted(report.added) == sorted(expected) and _stored(pipeline) == expected
    got = pipeline.store.chunks.get(include=["documents", "embeddings"])
    np.testing.assert_allclose(np.asarray(got["embeddings"]), pipeline.embedding.embed_texts(got["documents"]), atol=1e-5)


def test_a_bad_file_among_good_ones_is_reported_and_the_rest_stored(pipeline: Pipeline, tmp_path: Path):
    folder = _corpus(tmp_path / "news")
    expected = _expected(pipeline, folder)
    (folder / "05-zz-broken.json").write_text("{not json", encoding="utf-8")  # read between good files
    report = pipeline.ingest([folder])
    assert list(report.skipped) == [str(folder / "05-zz-broken.json")]
    assert sorted(report.added) == sorted(expected)
    assert _stored(pipeline) == expected


def test_the_progress_bar_follows_the_files_then_the_chunks_still_on_their_way(pipeline: Pipeline, tmp_path: Path):
    folder = _corpus(tmp_path / "news")
    bar = indexer_module.tqdm(total=3, unit="file", file=io.StringIO(), mininterval=0)
    progress = indexer_module._Progress(bar, per_article=False)
    progress.submitted(7)
    progress.stored(2)
    bar.update(3)  # every file read
    progress.to_chunks()
    assert (bar.total, bar.n, bar.unit) == (7, 2, "chunk")
    progress.stored(5)
    assert bar.n == bar.total == 7
    report = pipeline.indexer.ingest_paths([folder], progress=True)
    assert report.chunks == sum(len(v) for v in _expected(pipeline, folder).values())


@pytest.mark.parametrize(
    "text",
    [
        "Comments close at 9 a.m. Monday. Please keep your comments civil.",
        "The mayor said: \"We will rebuild.\" Comments are moderated. You can reply below!",
        "Dr. Smith left at 5 p.m. on Jan. 3, the U.S. embassy said… Readers' comments (12) follow here.",
        "Comment on this story\nShare your thoughts below.",
    ],
)
def test_sentences_for_cleaning_are_the_full_parses_sentences(text: str):
    assert sentences(text, full=False) == sentences(text)
