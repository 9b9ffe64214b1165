"""`rag ingest` killed (SIGKILL, a real process) in the middle of its store writes, for a fresh
add and for an update: no reader ever sees half an article or new chunks under an old record,
the next start removes what was left, everything stays removable, and the next ingest goes on
where the killed one stopped.

Each run is paused just before its Nth store write (RAG_TEST_PAUSE_AT_WRITE, a hook in
rag.store) and killed there; small batches (RAG_INGEST_BATCH) make several writes per
ingest. The store is then inspected by a fresh process (embedded Chroma keeps its index in the
memory of each process), first as a reader that does no repair, then as the next start does.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from rag.pipeline import Pipeline
from tests.conftest import MODEL_DIR, make_settings

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"

# Two articles from outside the news (a recipe, a hardware manual) beside the seed articles.
OTHER_DOMAINS = {
    "sourdough.txt": "Sourdough starter care\n"
    + " ".join(
        f"On day {n} the starter is fed {50 + n} grams of rye flour and {50 + n} grams of water at 24 degrees."
        for n in range(1, 30)
    ),
    "pump-manual.txt": "Pump P-40 maintenance\n"
    + " ".join(
        f"Step {n}: close valve V{n}, check that the seal ring R{n * 3} shows no wear, then torque bolt B{n} to {10 + n} Nm."
        for n in range(1, 30)
    ),
}


def _corpus(folder: Path, changed: bool) -> None:
    """The seed articles and two others; `changed` rewrites every article (a sentence added to
    each paragraph), so that every chunk changes."""
    folder.mkdir(exist_ok=True)
    files = {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")} | OTHER_DOMAINS
    for name, text in files.items():
        if changed:
            title, _, body = text.partition("\n")
            body = "\n".join(f"{line} This paragraph was revised." if line.strip() else line for line in body.splitlines())
            text = f"{title}\n{body}"
        (folder / name).write_text(text, encoding="utf-8")


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OPENAI_"))}
    env.update(
        PYTHONPATH=str(ROOT), RAG_DATA_DIR=str(data_dir), RAG_MODEL_DIR=str(MODEL_DIR), RAG_AUTO_SEED="false",
        RAG_INGEST_BATCH="8", **extra,
    )
    return env


def _ingest(data_dir: Path, folder: Path, pause_at: int | None, cwd: Path) -> subprocess.CompletedProcess | None:
    """`rag ingest folder`; with `pause_at`, SIGKILLed once paused before that store write.
    Returns None when the process was killed, the finished process otherwise."""
    env = _env(data_dir, **({"RAG_TEST_PAUSE_AT_WRITE": str(pause_at)} if pause_at else {}))
    log = cwd / f"ingest-{time.monotonic_ns()}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", str(folder)], env=env, cwd=cwd,
                                stdout=subprocess.PIPE, stderr=err, text=True)
        deadline = time.monotonic() + 180
        while proc.poll() is None and time.monotonic() < deadline:
            if pause_at and f"paused before store write {pause_at}" in log.read_text(errors="replace"):
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return None
            time.sleep(0.05)
        if proc.poll() is None:
            proc.kill()
            raise AssertionError(f"rag ingest did not finish or pause: {log.read_text()[-2000:]}")
        out = proc.stdout.read()
    assert proc.returncode == 0, log.read_text()[-2000:]
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, log.read_text())


def _inspect(data_dir: Path, cwd: Path) -> dict:
    """What a reader sees (no repair), then what the next start leaves, from a fresh process."""
    out = subprocess.run([sys.executable, "-c", "from tests.unit.test_ingest_interrupted import _inspector; _inspector()"],
                         env=_env(data_dir), cwd=cwd, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def _dump(store) -> dict:
    docs = store.docs.get(include=["metadatas", "documents"])
    records = {i: {"version": (m or {}).get("version", ""), "chunks": m["chunks"], "text": t}
               for i, m, t in zip(docs["ids"], docs["metadatas"], docs["documents"])}
    got = store.chunks.get(include=["metadatas", "documents"])
    chunks = {i: {"doc_id": m["doc_id"], "version": m.get("version", ""), "start": m["start"], "end": m["end"], "text": t}
              for i, m, t in zip(got["ids"], got["metadatas"], got["documents"])}
    return {"records": records, "chunks": chunks}


def _inspector() -> None:
    """Run in a fresh process: prints one JSON line."""
    from rag.embed import build_embedding
    from rag.keyword import KeywordIndex
    from rag.retrieve import HybridRetriever
    from rag.settings import Settings
    from rag.store import ChromaStore

    settings = Settings()
    embedding = build_embedding(settings)
    store = ChromaStore(settings, embed_model=embedding.model_name)
    keyword = KeywordIndex(settings.data_dir / "keyword" / settings.collection)  # as left on disk
    before = _dump(store)
    queries = sorted({r["text"].split(".")[0][:200] for r in before["records"].values()}) + [
        "prisoner swap talks", "rye flour starter", "seal ring torque", "This paragraph was revised"]
    passages = []
    for memory_max in (20_000, 0):  # the in-memory copy and Chroma's own index
        retriever = HybridRetriever(store, embedding, keyword, settings.model_copy(update={"memory_search_max": memory_max}))
        for query in queries:
            for mode in ("dense", "keyword", "hybrid"):
                passages += [p.model_dump(include={"doc_id", "chunk_id", "start", "end", "text"})
                             for p in retriever.retrieve(query, k=8, mode=mode)]
    with Pipeline(settings, start_llm=False) as pipeline:  # the next start: repairs
        after = _dump(pipeline.store)
        after["keyword_current"] = pipeline.keyword.is_current(pipeline.store.chunk_ids())
    print(json.dumps({"before": before, "passages": passages, "after": after}))


def _assert_whole(state: dict, passages: list[dict]) -> None:
    """Every listed article has all chunks of its record's version, cut from its text; every
    passage a reader got is such a chunk."""
    records, chunks = state["records"], state["chunks"]
    for doc_id, record in records.items():
        own = [c for c in chunks.values() if c["doc_id"] == doc_id and c["version"] == record["version"]]
        assert len(own) == record["chunks"], f"{doc_id}: {len(own)} of {record['chunks']} chunks"
        assert all(record["text"][c["start"] : c["end"]] == c["text"] for c in own), doc_id
    for p in passages:
        assert p["doc_id"] in records, f"a passage of an unlisted article: {p['chunk_id']}"
        record = records[p["doc_id"]]
        assert chunks[p["chunk_id"]]["version"] == record["version"], f"{p['chunk_id']} is not its record's version"
        assert record["text"][p["start"] : p["end"]] == p["text"], p["chunk_id"]


def _left_over(state: dict) -> int:
    live = {d: r["version"] for d, r in state["records"].items()}
    return sum(1 for c in state["chunks"].values() if live.get(c["doc_id"]) != c["version"])


def test_a_killed_ingest_shows_no_half_article_and_the_next_start_repairs(tmp_path: Path):
    data, folder = tmp_path / "data", tmp_path / "articles"
    _corpus(folder, changed=False)
    originals = {p.stem: p.read_text() for p in folder.iterdir()}
    seen_left_over = seen_mixed = False

    # A fresh add, killed with chunks written but no record flipped (write 2), and later, in its
    # second run (resumed), after some batches went in.
    for pause_at in (2, 5):
        assert _ingest(data, folder, pause_at, tmp_path) is None
        state = _inspect(data, tmp_path)
        _assert_whole(state["before"], state["passages"])
        seen_left_over |= _left_over(state["before"]) > 0
        _assert_whole(state["after"], [])
        assert _left_over(state["after"]) == 0 and state["after"]["keyword_current"]
    stored_before_last_run = len(state["after"]["records"])
    assert 0 < stored_before_last_run < len(originals)
    done = _ingest(data, folder, None, tmp_path)
    assert f"unchanged {stored_before_last_run}," in done.stdout  # resumed, not redone
    assert f"added {len(originals) - stored_before_last_run}," in done.stdout

    # An update of every article, killed after a record flip (old chunks not yet deleted), then,
    # resumed, before the deletion of a later batch.
    _corpus(folder, changed=True)
    for pause_at in (3, 6):
        assert _ingest(data, folder, pause_at, tmp_path) is None
        state = _inspect(data, tmp_path)
        _assert_whole(state["before"], state["passages"])
        seen_left_over |= _left_over(state["before"]) > 0
        texts = {r["text"] for r in state["before"]["records"].values()}
        seen_mixed |= any("revised" in t for t in texts) and any("revised" not in t for t in texts)
        _assert_whole(state["after"], [])
        assert _left_over(state["after"]) == 0 and state["after"]["keyword_current"]
    assert seen_left_over, "no kill left chunks of an unfinished version: the test did not hit a write"
    assert seen_mixed, "no kill fell between two batches of the update"
    _ingest(data, folder, None, tmp_path)

    settings = make_settings(data, auto_seed=False)
    with Pipeline(settings, start_llm=False) as pipeline:
        docs = pipeline.documents()
        assert {d.doc_id for d in docs} == set(originals)
        for d in docs:
            info, text = pipeline.document(d.doc_id)
            assert "This paragraph was revised." in text
        assert any(p.doc_id == "sourdough" for p in pipeline.search("rye flour starter feeding", k=3))
        for d in docs:
            pipeline.remove(d.doc_id)
        assert pipeline.documents() == [] and pipeline.store.count_chunks() == 0
        assert pipeline.search("prisoner swap talks") == []
    shutil.rmtree(data, ignore_errors=True)
