"""One writer per collection of the embedded store: checked across real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from rag.storelock import collection_lock

TRY_WRITE = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from rag.errors import StoreBusy
    from rag.storelock import collection_lock
    lock = collection_lock(Path(sys.argv[1]), sys.argv[2])
    print("opened", flush=True)
    if sys.argv[3:] == ["if-free"]:
        with lock.writing_if_free() as free:
            print("wrote" if free else "left for later")
        sys.exit()
    try:
        with lock.writing():
            print("wrote")
    except StoreBusy as e:
        print("busy:", e.message)
    """
)


def other_process_writes(store_dir: Path, collection: str, *how: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", TRY_WRITE, str(store_dir), collection, *how], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_collection_open_here_may_not_be_changed_by_another_process(tmp_path: Path):
    lock = collection_lock(tmp_path, "articles")
    out = other_process_writes(tmp_path, "articles")
    assert out.startswith("opened") and "busy:" in out, "opening to read is fine, writing is refused"
    assert "POST /v1/documents" in out and "RAG_CHROMA_URL" in out, "the refusal says what to do instead"
    # Another collection of the same store (the eval's) stays free; and this process may still write.
    assert "wrote" in other_process_writes(tmp_path, "eval_seeds")
    with lock.writing(), collection_lock(tmp_path, "articles").writing():  # re-entrant, one lock per process
        pass


def test_a_collection_nobody_else_has_open_can_be_changed(tmp_path: Path):
    assert "wrote" in other_process_writes(tmp_path, "articles")


def test_work_that_can_wait_is_left_for_later_without_waiting_when_the_collection_is_open(tmp_path: Path):
    """The start-up repair's way to write: never blocks a process beside a running service."""
    assert "wrote" in other_process_writes(tmp_path, "repair-free", "if-free")
    collection_lock(tmp_path, "repair-held")
    assert "left for later" in other_process_writes(tmp_path, "repair-held", "if-free")


def rag_cli(settings, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAG_DATA_DIR": str(settings.data_dir), "RAG_MODEL_DIR": str(settings.models_path)}
    env.pop("OPENAI_BASE_URL", None), env.pop("OPENAI_API_KEY", None)
    command = [sys.executable, "-m", "rag.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)


def test_rag_ingest_and_remove_beside_a_running_pipeline_are_refused_and_it_keeps_working(fake_pipeline, tmp_path):
    """`rag ingest` / `rag remove` in a terminal while the service has the store open: refused with
    what to do, nothing changed, and the service's searches still work (an embedded Chroma changed by
    another process would leave them stale, or failing after a delete)."""
    before = [d.doc_id for d in fake_pipeline.documents()]
    article = tmp_path / "lighthouse.txt"
    article.write_text("Vellmar opened its new harbour lighthouse on Monday. The lighthouse stands 64 metres tall.")
    for args in (["ingest", str(article)], ["remove", before[0]]):
        done = rag_cli(fake_pipeline.settings, *args)
        assert done.returncode == 2, done.stderr
        assert "POST /v1/documents" in done.stderr and "Traceback" not in done.stderr, done.stderr
    listed = rag_cli(fake_pipeline.settings, "docs")
    assert listed.returncode == 0 and all(doc_id in listed.stdout for doc_id in before), "reading beside it is fine"
    assert [d.doc_id for d in fake_pipeline.documents()] == before
    assert any("1,000" in p.text for p in fake_pipeline.search("How many prisoners did each side agree to swap?"))
