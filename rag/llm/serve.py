"""Child-process entry point: serve one GGUF model over the OpenAI protocol on loopback.

    python -m rag.llm.serve MODEL.gguf --port 8081 [--threads 2] [--context 4096] [--slots 4] [--parent PID]

With --parent, it exits when that process is gone (killed, crashed, or shut down without
stopping it): a model server holds ~2 GB and must never outlive the app that started it.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context", type=int, default=4096)
    parser.add_argument("--alias", default="local")
    parser.add_argument("--slots", type=int, default=4, help="requests served at once (continuous batching)")
    parser.add_argument("--parent", type=int, default=0, help="exit when this process id is no longer our parent")
    args = parser.parse_args()

    # OpenMP's idle threads spin by default and take the cores the app needs (6x the CPU per
    # answer when other work runs, docs/decoding.md): they must wait passively. Set before import.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model
    params.model_alias = args.alias
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
