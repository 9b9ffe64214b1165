"""Server mode: the same pipeline against a real `chroma run` on loopback."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rag.errors import StoreUnavailable
from rag.pipeline import Pipeline
from tests.conftest import make_settings

pytestmark = pytest.mark.server


def test_ingest_search_and_ask_against_a_chroma_server(chroma_server: str, tmp_path: Path, fake_llm):
    settings = make_settings(tmp_path / "data", chroma_url=chroma_server, openai_base_url=fake_llm.base_url, llm_model="fake")
    with Pipeline(settings, start_llm=False) as pipeline:
        report = pipeline.ensure_seeded()
        assert report is not None and len(report.added) == 5
        assert not (tmp_path / "data" / "chroma").exists(), "nothing is written to the embedded store"
        answer = pipeline.ask("How many prisoners did each side agree to swap?")
        assert any("1,000" in c.text for c in answer.citations)
        assert pipeline.ingest([settings.seeds_dir]).unchanged  # idempotent on the server too
        pipeline.remove("002_2a3384441d849c70")
    # A second process (new data dir, so no local keyword index) sees the server's state.
    other = make_settings(tmp_path / "other", chroma_url=chroma_server, openai_base_url=fake_llm.base_url, llm_model="fake", auto_seed=False)
    with Pipeline(other, start_llm=False) as pipeline:
        assert len(pipeline.documents()) == 4
        assert pipeline.search("Witkoff peace framework", k=3, mode="keyword") == [] or all(
            p.doc_id != "002_2a3384441d849c70" for p in pipeline.search("Witkoff peace framework", k=3, mode="keyword")
        )
        assert pipeline.search("Dolmabahçe Palace", k=1, mode="keyword")[0].doc_id == "003_c1e344e38b025e9e"


def test_unreachable_chroma_server_is_one_clear_error(tmp_path: Path):
    settings = make_settings(tmp_path / "data", chroma_url="http://127.0.0.1:9")
    with pytest.raises(StoreUnavailable, match="not answering.*unset RAG_CHROMA_URL"):
        Pipeline(settings, start_llm=False)


def test_articles_changed_by_another_process_are_found_and_forgotten(chroma_server: str, tmp_path: Path, fake_llm):
    """Two replicas of the service on one Chroma server: what one adds, changes or removes, the
    other finds (or stops finding) within its sync interval, with keyword search and caches too."""

    def replica(name: str):
        return Pipeline(make_settings(tmp_path / name, chroma_url=chroma_server, collection="replicas",
                                      openai_base_url=fake_llm.base_url, llm_model="fake", auto_seed=False,
                                      store_sync_s=0.2), start_llm=False)  # fmt: skip

    def within(seconds: float, check) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return True
            time.sleep(0.1)
        return False

    question = "How many passengers does the Orrin ferry carry?"
    with replica("a") as writer, replica("b") as reader:
        assert reader.search(question, mode="keyword") == []  # now in the reader's search cache
        writer.ingest_record({"id": "orrin", "text": "The Orrin ferry carries 300 passengers a day."}, "orrin")
        assert within(10, lambda: [p.doc_id for p in reader.search(question, mode="keyword")] == ["orrin"])
        writer.ingest_record({"id": "orrin", "text": "The Orrin ferry carries 450 passengers a day."}, "orrin")
        assert within(10, lambda: "450" in reader.search(question, k=1)[0].text), "an article changed in place"
        writer.remove("orrin")
        assert within(10, lambda: all(p.doc_id != "orrin" for p in reader.search(question)))
