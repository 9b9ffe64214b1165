"""The scale benchmark's measuring tools: exact search, recall, the synthetic collection."""

from __future__ import annotations

import numpy as np

from tests.benchmarks.bench_scale import exact_top, recall_at, synthetic_vectors


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_exact_top_is_the_best_k_by_cosine_in_order():
    rng = np.random.default_rng(0)
    matrix, queries = _unit(rng.normal(size=(500, 16))), _unit(rng.normal(size=(7, 16)))
    top = exact_top(matrix, queries, 10)
    for q, row in zip(queries, top):
        assert list(row) == list(np.argsort(-(matrix @ q))[:10])


def test_recall_counts_the_shared_ids_whatever_their_order():
    assert recall_at([["a", "b"], ["c", "x"]], [["b", "a"], ["c", "d"]]) == 0.75


def test_synthetic_vectors_keep_the_real_ones_then_add_close_normalised_copies():
    real = _unit(np.random.default_rng(1).normal(size=(100, 384)))
    out = synthetic_vectors(real, 350)
    assert out.shape == (350, 384)
    assert np.allclose(out[:100], real, atol=1e-6)
    assert np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    copies = np.sum(out[100:] * real[np.arange(100, 350) % 100], axis=1)
    assert 0.85 < copies.min() and copies.max() < 0.99  # near their original, never the same vector
