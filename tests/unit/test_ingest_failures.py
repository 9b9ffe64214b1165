"""Ingest when things go wrong: bad files and records, id clashes, failed store writes.

A real embedded Chroma and the real embedding model; no seeds, so each test ingests only its own articles.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from rag.ingest.chunk import Chunker
from rag.ingest.load import build_article
from rag.pipeline import Pipeline
from tests.conftest import make_settings


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
    settings = make_settings(tmp_path_factory.mktemp("failures") / "data", auto_seed=False)
    with Pipeline(settings, start_llm=False) as p:
        yield p


def _chunks(pipeline: Pipeline, doc_id: str) -> dict[str, str]:
    got = pipeline.store.chunks.get(where={"doc_id": doc_id}, include=["documents"])
    return dict(zip(got["ids"], got["documents"]))


def _article_and_nodes(doc_id: str, sentences: int, seed: int, chunk_size: int = 16):
    """An article cut by the real chunker into small chunks, with random unit vectors (no model needed)."""
    text = " ".join(f"Ledger entry {n} of version {seed} lists {n * 7 + seed} crates." for n in range(sentences))
    article = build_article(doc_id, text, title=f"Ledger {doc_id}", source=f"{doc_id}.txt")
    nodes = Chunker(chunk_size, 0).split(article)
    vectors = np.random.default_rng(seed).normal(size=(len(nodes), 384))
    for node, vector in zip(nodes, vectors / np.linalg.norm(vectors, axis=1, keepdims=True)):
        node.embedding = vector.tolist()
    return article, nodes


def test_an_article_of_more_chunks_than_one_chroma_write_takes_is_stored(pipeline: Pipeline):
    limit = pipeline.store.client.get_max_batch_size()
    article, nodes = _article_and_nodes("ledger-big", sentences=limit + 50, seed=1)
    assert len(nodes) > limit
    pipeline.store.put_article(article, nodes, [])
    assert len(_chunks(pipeline, "ledger-big")) == len(nodes)
    assert pipeline.store.content_hash("ledger-big") == article.content_hash
    pipeline.store.delete_article("ledger-big")
    assert _chunks(pipeline, "ledger-big") == {}


def test_a_failed_write_leaves_the_previous_version_whole(pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch):
    old, old_nodes = _article_and_nodes("ledger-v", sentences=5, seed=2, chunk_size=24)
    pipeline.store.put_article(old, old_nodes, [])
    before = _chunks(pipeline, "ledger-v")

    monkeypatch.setattr(pipeline.store.client, "get_max_batch_size", lambda: 2)  # several writes per article
    new, new_nodes = _article_and_nodes("ledger-v", sentences=9, seed=3, chunk_size=24)
    assert len(new_nodes) > len(old_nodes) > 2
    new_nodes[-1].embedding = [0.5, 0.5]  # Chroma refuses the last write: wrong dimension
    with pytest.raises(Exception, match="dimension"):
        pipeline.store.put_article(new, new_nodes, [])
    assert _chunks(pipeline, "ledger-v") == before
    assert pipeline.store.content_hash("ledger-v") == old.content_hash  # so the next ingest tries again

    new, new_nodes = _article_and_nodes("ledger-v", sentences=9, seed=3, chunk_size=24)
    pipeline.store.put_article(new, new_nodes, [])
    shorter, shorter_nodes = _article_and_nodes("ledger-v", sentences=2, seed=4, chunk_size=24)
    pipeline.store.put_article(shorter, shorter_nodes, [])
    assert _chunks(pipeline, "ledger-v") == {n.node_id: n.text for n in shorter_nodes}  # stale chunks gone


def test_an_article_that_fails_to_store_is_reported_and_the_rest_indexed(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "kiln.txt").write_text("Kiln news\nThe Wexcombe kiln fired 900 bricks an hour in its first week.")
    (tmp_path / "weir.txt").write_text("Weir news\nThe Ostrow weir was raised by 40 centimetres before the floods.")
    put_articles = pipeline.store.put_articles

    def failing_for_weir(items):  # a batch holding weir fails; then each article is tried alone
        if any(it.article.doc_id == "weir" for it in items):
            raise ConnectionError("store went away")
        put_articles(items)

    monkeypatch.setattr(pipeline.store, "put_articles", failing_for_weir)
    report = pipeline.ingest([tmp_path])
    assert report.added == ["kiln"]
    assert "not stored (ConnectionError: store went away)" in report.skipped[str(tmp_path / "weir.txt")]
    assert [p.doc_id for p in pipeline.search("Wexcombe kiln bricks", k=1, mode="keyword")] == ["kiln"]

    monkeypatch.undo()
    assert pipeline.ingest([tmp_path / "weir.txt"]).added == ["weir"]  # nothing was recorded: it goes in now


def test_bad_records_and_unreadable_files_are_reported_and_the_rest_ingested(
    pipeline: Pipeline, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    text = "The Lindqvist ferry carried 312 passengers across the sound on Tuesday."
    (tmp_path / "number-title.json").write_text(json.dumps({"title": 123, "text": text}))
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "locked.txt").write_text(text)
    (tmp_path / "ferry.txt").write_text("Ferry news\n" + text)
    read_bytes = Path.read_bytes

    def denied_for_locked(path: Path) -> bytes:
        if path.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return read_bytes(path)

    monkeypatch.setattr(Path, "read_bytes", denied_for_locked)  # tests run as root: chmod would not stop a read
    report = pipeline.ingest([tmp_path])
    assert report.added == ["ferry"]
    assert "'title' must be a string, not 123" in report.skipped[str(tmp_path / "number-title.json")]
    assert "nested too deeply" in report.skipped[str(tmp_path / "deep.json")]
    assert "Permission denied" in report.skipped[str(tmp_path / "locked.txt")]


def test_one_bad_line_skips_that_record_not_the_jsonl(pipeline: Pipeline, tmp_path: Path):
    path = tmp_path / "wires.jsonl"
    good = {"id": "wire-a", "text": "The Marrow Bay lifeboat was launched twice on Saturday night."}
    other = {"id": "wire-b", "text": "Snow closed the Pellin pass road for six hours on Sunday."}
    bad = {"id": "wire-y", "text": 5}
    lines = [json.dumps(good), '{"id": "wire-x", "text": "cut', "", json.dumps(bad), json.dumps(other)]
    path.write_text("\n".join(lines) + "\n")
    report = pipeline.ingest([path])
    assert report.added == ["wire-a", "wire-b"]
    assert set(report.skipped) == {f"{path}:2", f"{path}:4"}
    assert "line 2: invalid JSON" in report.skipped[f"{path}:2"]
    assert "line 4: needs a string 'text' field" in report.skipped[f"{path}:4"]


def test_two_files_with_one_name_do_not_overwrite_each_other(pipeline: Pipeline, tmp_path: Path):
    for folder, text in (("x", "The Harlow mill reopened after a fire."), ("y", "The Harlow bakery won a rye prize.")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "harlow.txt").write_text(f"Harlow\n{text} It employs 40 people.")
    report = pipeline.ingest([tmp_path / "x", tmp_path / "y", tmp_path / "x"])  # x twice: the same file, no clash
    assert report.added == ["harlow"]
    assert list(report.skipped) == [str(tmp_path / "y" / "harlow.txt")]
    assert "already taken by" in report.skipped[str(tmp_path / "y" / "harlow.txt")]
    assert "give the article its own 'id'" in report.skipped[str(tmp_path / "y" / "harlow.txt")]

    report = pipeline.ingest([tmp_path / "y"])  # later, alone: it replaces x's article, with a warning
    assert report.updated == ["harlow"]
    assert len(report.warnings) == 1 and str(tmp_path / "x" / "harlow.txt") in report.warnings[0]


def test_jsonl_dates_without_a_zone_are_utc_and_line_separators_stay_inside_records(pipeline: Pipeline, tmp_path: Path):
    path = tmp_path / "old.jsonl"
    records = [
        {"id": "ancient", "text": "The Orrin ferry first sailed to Kessel.", "published_at": "0001-01-01T00:00:00"},
        {"id": "noon", "text": "The Orrin ferry\u2028carries 300 passengers.", "published_at": "2025-05-18T12:00:00"},
    ]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n")
    report = pipeline.ingest([path])
    assert report.added == ["ancient", "noon"] and not report.skipped, report
    stamps = pipeline.store.chunks.get(where={"doc_id": "noon"}, include=["metadatas"])["metadatas"]
    assert stamps[0]["published_ts"] == 1747569600  # 2025-05-18 12:00 UTC, whatever this machine's zone


def test_repair_removes_unclaimed_chunks_and_marks_an_incomplete_record_for_the_next_ingest(pipeline: Pipeline):
    store = pipeline.store
    article, nodes = _article_and_nodes("ledger-r", sentences=6, seed=5, chunk_size=24)
    store.put_article(article, nodes, [])
    current = _chunks(pipeline, "ledger-r")
    # What an interrupted update leaves (chunks under a version no record names), and what
    # older code could leave (a record with one of its chunks gone).
    stray, stray_nodes = _article_and_nodes("ledger-r", sentences=3, seed=6, chunk_size=24)
    rows = [(f"{n.node_id}@0000000000000", n.embedding, {"doc_id": "ledger-r", "version": "0000000000000",
             "start": 0, "end": 1}, n.text) for n in stray_nodes]
    ids, embeddings, metadatas, documents = (list(c) for c in zip(*rows, strict=True))
    store.chunks.upsert(ids=ids, embeddings=embeddings, metadatas=metadatas, documents=documents)
    assert store.get_chunks([r[0] for r in rows]) == []  # readers never get them
    assert {h.chunk_id for h in store.get_chunks(sorted(current))} == set(current)
    store.chunks.delete(ids=[sorted(current)[-1]])

    report = store.repair()
    assert report.removed == len(rows) and report.incomplete == ["ledger-r"]
    assert set(_chunks(pipeline, "ledger-r")) == set(current) - {sorted(current)[-1]}
    assert store.content_hash("ledger-r") == ""  # so the next ingest writes it again, whole
    store.delete_article("ledger-r")
    assert _chunks(pipeline, "ledger-r") == {}
