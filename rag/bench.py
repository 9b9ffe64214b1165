"""`rag bench`: the pipeline benchmark (not a test; timings never decide a test).

One run, one machine, in a fresh temporary data dir (the user's store is untouched):

- ingest chunks/s next to the embedding model's raw chunks/s; retrieval p50/p95;
- one asker: time to first evidence, to first token and to the whole answer, p50/p95,
  measured by the caller around `Pipeline.stream(question, evidence=True)` (so they
  include retrieval), and the prompt tokens p50 (`Answer.usage.prompt_tokens`);
- 1, 2, 4 ... concurrent askers (threads calling `Pipeline.ask` at once): answers per
  minute and p50/p95, with answers, errors and rejections (429 `Busy`) counted apart and
  every question accounted for;
- the plain LlamaIndex starter, `CitationQueryEngine.from_args(index, similarity_top_k=3)`
  over a `VectorStoreIndex` of the same articles at llama-index's default chunking, with
  `OpenAILike` on the same model server, on the same questions; the ratio ours/starter
  at p50 comes from this run.

Every question is a new one: the search cache is off and the query-embedding cache is
cleared before each phase (`tests/benchmarks/bench_http.py` measures repeated questions).
The answer engine parses each passage once and keeps the parse in memory, so the one-asker
phase (the first) sees passages cold, as after a restart; later phases see them parsed.
The questions are the answerable ones of a gold set, spread over it. The starter runs
between our one-asker phase and the concurrency phase, so with `--askers` starting at 1
the ratio is also given against our figure after it (a drift check: the CPU may be
shared). Phases are blocks, not interleaved per question: with one server slot the
starter's prompt would evict our instructions from the server's prompt cache.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from tqdm import tqdm

from rag.errors import Busy, InvalidInput
from rag.settings import PROJECT_ROOT, Settings, get_settings

SEEDS_GOLD = PROJECT_ROOT / "eval" / "gold" / "seeds.jsonl"
STARTER_TOP_K = 3


# --- pure parts: percentiles, aggregation, the table ---------------------------------


def pct(values: Sequence[float], q: float) -> float | None:
    """q-th percentile (0..100) with linear interpolation (as numpy's default); None for no values."""
    return float(np.percentile(values, q)) if len(values) else None


def spread(values: Sequence[float], digits: int = 3) -> dict[str, float | int | None]:
    """p50, p95 and how many values they come from (a p95 of 5 values is nearly the max)."""
    r = lambda v: None if v is None else (round(v) if digits == 0 else round(v, digits))  # noqa: E731
    return {"p50": r(pct(values, 50)), "p95": r(pct(values, 95)), "n": len(values)}


def pick_questions(rows: Sequence[dict[str, Any]], n: int) -> list[str]:
    """`n` answerable questions spread evenly over the gold set (its first ones are often
    about one article); all of them when there are fewer. An unanswerable question is
    refused before the model is asked, so it would not measure answering."""
    answerable = [r["question"] for r in rows if r.get("answerable", True)]
    if n >= len(answerable):
        return answerable
    return [answerable[i * len(answerable) // n] for i in range(n)]


def jobs_for(questions: Sequence[str], askers: int) -> list[str]:
    """The questions cycled to a multiple of `askers`, so no asker idles while others
    finish a last round (which would understate throughput)."""
    if not questions:
        return []
    total = math.ceil(len(questions) / askers) * askers
    return [questions[i % len(questions)] for i in range(total)]


@dataclass
class Outcome:
    """What became of one question: "answer", "error" or "rejected", after `seconds`."""

    kind: str
    seconds: float
    error: str | None = None


def classify(error: BaseException) -> str:
    """A refusal to queue (`Busy`, or any error with HTTP status 429) is a rejection,
    which a client retries; anything else is an error."""
    return "rejected" if isinstance(error, Busy) or getattr(error, "status", None) == 429 else "error"


def summarise_askers(askers: int, submitted: int, outcomes: Sequence[Outcome], wall_s: float) -> dict[str, Any]:
    """One concurrency level: counts by kind (`lost`: asked but never accounted for, must be
    0), answers per minute over the level's wall time, latency of the answers."""
    counts = {kind: sum(o.kind == kind for o in outcomes) for kind in ("answer", "error", "rejected")}
    answered = [o.seconds for o in outcomes if o.kind == "answer"]
    errors = sorted({o.error for o in outcomes if o.error})
    return {
        "askers": askers,
        "asked": submitted,
        "answers": counts["answer"],
        "errors": counts["error"],
        "rejected": counts["rejected"],
        "lost": submitted - len(outcomes),
        "wall_s": round(wall_s, 2),
        "answers_per_min": round(counts["answer"] / wall_s * 60, 2) if wall_s > 0 else None,
        "answer_s": spread(answered, 2),
        "error_kinds": errors[:5],
    }


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _num(value: float | None, unit: str = "", digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}{unit}"


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.0f} ms"


def render(result: dict[str, Any]) -> str:
    """The result as a readable table (what `rag bench` prints): ingest and retrieval, then
    one asker, the concurrency levels and the starter, each where it was measured."""
    lines = [
        f"rag bench: {result['questions']} questions from {result['gold']} over {result['corpus']} "
        f"({result['chunks']} chunks)",
        "Other work may share this CPU: compare figures within one run, not across runs.",
        "",
        f"  raw embedding            {result['embed_raw_chunks_per_s']} chunks/s",
        f"  ingest, whole pipeline   {result['ingest_chunks_per_s']} chunks/s ({result['ingest_vs_raw']} x raw)",
        f"  retrieval p50 / p95      {result['retrieve_p50_ms']} / {result['retrieve_p95_ms']} ms "
        f"({result['retrieve_n']} searches)",
    ]
    if result.get("one_asker"):
        lines += _one_asker_lines(result)
    if result.get("concurrency"):
        lines += _concurrency_lines(result)
    if result.get("starter"):
        lines += _starter_lines(result)
    elif result.get("questions"):
        lines += ["", "plain LlamaIndex starter: skipped"]
    return "\n".join(lines)


def _one_asker_lines(result: dict[str, Any]) -> list[str]:
    one = result["one_asker"]
    lines = [
        "",
        f"model {result['model']}, {result['slots']} server slot(s) ({result['slots_source']})",
        f"one asker: {one['answers']} answers ({one['abstained']} abstained), {one['errors']} errors",
        f"  {'':<24}{'p50':>22}{'p95':>11}",
    ]
    for label, key, fmt in (
        ("time to first evidence", "evidence_s", _ms),
        ("time to first token", "first_token_s", lambda v: _num(v, " s")),
        ("total answer time", "answer_s", lambda v: _num(v, " s")),
    ):
        s = one[key]
        lines.append(f"  {label:<24}{fmt(s['p50']):>22}{fmt(s['p95']):>11}")
    tokens = one["prompt_tokens"]
    lines.append(f"  {'prompt tokens':<24}{_num(tokens['p50'], '', 0):>22}{_num(tokens['p95'], '', 0):>11}")
    return lines


def _concurrency_lines(result: dict[str, Any]) -> list[str]:
    levels = result["concurrency"]
    base = levels[0]["answers_per_min"] if levels[0]["askers"] == 1 else None
    lines = [
        "",
        f"concurrent askers ({result['slots']} server slot(s))",
        "  askers  asked  answers  errors  rejected  lost  answers/min  vs 1 asker   p50 s   p95 s",
    ]
    for lv in levels:
        gain = ratio(lv["answers_per_min"], base)
        lines.append(
            f"  {lv['askers']:>6}{lv['asked']:>7}{lv['answers']:>9}{lv['errors']:>8}{lv['rejected']:>10}"
            f"{lv['lost']:>6}{_num(lv['answers_per_min']):>13}{_num(gain, 'x'):>12}"
            f"{_num(lv['answer_s']['p50']):>8}{_num(lv['answer_s']['p95']):>8}"
        )
        lines += [f"      error: {kind}" for kind in lv["error_kinds"]]
    return lines


def _starter_lines(result: dict[str, Any]) -> list[str]:
    starter = result["starter"]
    s = starter["answer_s"]
    lines = [
        "",
        f"plain LlamaIndex starter ({starter['engine']}; same questions, model and server)",
        f"  total answer time p50 / p95   {_num(s['p50'], ' s')} / {_num(s['p95'], ' s')}   "
        f"prompt tokens p50 {_num(starter['prompt_tokens']['p50'], '', 0)}   "
        f"answers {starter['answers']}, errors {starter['errors']}",
        f"  ours / starter at p50         {_num(result['ours_vs_starter_p50'], '', 3)}"
        f"  (starter {_num(result['starter_vs_ours_p50'], 'x')} slower)",
    ]
    if result.get("ours_after_vs_starter_p50") is not None:
        lines.append(
            f"  same, ours measured after it  {_num(result['ours_after_vs_starter_p50'], '', 3)}"
            "  (1-asker phase; a gap from the line above is CPU drift)"
        )
    return lines + [f"      error: {kind}" for kind in starter["error_kinds"]]


# --- measuring -----------------------------------------------------------------------


def run_askers(
    ask: Callable[[str], Any], questions: Sequence[str], askers: int, progress: bool = True
) -> dict[str, Any]:
    """`askers` threads take the questions (see `jobs_for`) from one shared list and call
    `ask` at once; every question ends as an answer, an error or a rejection."""
    jobs = jobs_for(questions, askers)
    todo = list(reversed(jobs))
    outcomes: list[Outcome] = []
    lock = threading.Lock()
    bar = tqdm(total=len(jobs), desc=f"{askers} asker(s)", unit="q", disable=not progress, leave=False, file=sys.stderr)

    def asker() -> None:
        while True:
            with lock:
                if not todo:
                    return
                question = todo.pop()
            started = time.perf_counter()
            try:
                ask(question)
                outcome = Outcome("answer", time.perf_counter() - started)
            except Exception as e:  # noqa: BLE001 - counted and shown, the run goes on
                outcome = Outcome(classify(e), time.perf_counter() - started, f"{type(e).__name__}: {e}"[:200])
            with lock:
                outcomes.append(outcome)
                bar.update()

    threads = [threading.Thread(target=asker, name=f"asker-{i}", daemon=True) for i in range(askers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    bar.close()
    return summarise_askers(askers, len(jobs), outcomes, wall)


@dataclass
class Sample:
    evidence_s: float | None
    first_token_s: float | None
    answer_s: float
    prompt_tokens: int
    abstained: bool


def time_stream(pipeline: Any, question: str) -> Sample:
    """One streamed answer timed as the caller sees it: from the call to the evidence list,
    to the first text delta, to the final `Answer`."""
    from rag.schema import Answer

    started = time.perf_counter()
    evidence = first = None
    for item in pipeline.stream(question, evidence=True):
        now = time.perf_counter() - started
        if isinstance(item, list):
            evidence = now if evidence is None else evidence
        elif isinstance(item, str):
            first = now if first is None else first
        elif isinstance(item, Answer):
            return Sample(evidence, first, now, item.usage.prompt_tokens, item.abstained)
    raise AssertionError("the stream ended without an answer")


def one_asker(pipeline: Any, questions: Sequence[str], progress: bool) -> dict[str, Any]:
    samples: list[Sample] = []
    errors: list[str] = []
    for question in tqdm(questions, desc="one asker", unit="q", disable=not progress, leave=False, file=sys.stderr):
        try:
            samples.append(time_stream(pipeline, question))
        except Exception as e:  # noqa: BLE001 - counted and shown, the run goes on
            errors.append(f"{type(e).__name__}: {e}"[:200])
    return {
        "answers": len(samples),
        "errors": len(errors),
        "abstained": sum(s.abstained for s in samples),
        "evidence_s": spread([s.evidence_s for s in samples if s.evidence_s is not None]),
        "first_token_s": spread([s.first_token_s for s in samples if s.first_token_s is not None]),
        "answer_s": spread([s.answer_s for s in samples]),
        # Answers refused before the model was asked have no prompt: they are left out.
        "prompt_tokens": spread([s.prompt_tokens for s in samples if s.prompt_tokens], 0),
        "error_kinds": sorted(set(errors))[:5],
    }


def server_slots(base_url: str | None) -> int | None:
    """How many requests the model server decodes at once, as llama.cpp's server reports it
    (`GET /props` -> `total_slots`); None when the server does not say."""
    if not base_url:
        return None
    root = base_url.rstrip("/").removesuffix("/v1")
    try:
        slots = httpx.get(f"{root}/props", timeout=5).json().get("total_slots")
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return slots if isinstance(slots, int) and slots > 0 else None


Starter = Callable[[Any, "Path | None", Sequence[str], str, bool], dict[str, Any]]
BASELINES = "rag.baselines"  # the entry-point group where the eval suite offers the starter


def registered_starter() -> Starter | None:
    """The plain LlamaIndex starter to compare with, as the eval suite registers it (entry point
    `starter` in the `rag.baselines` group, see pyproject.toml): the library does not import
    the suite above it. None when the suite is not installed (the comparison is then skipped)."""
    for ep in entry_points(group=BASELINES, name="starter"):
        try:
            return ep.load()
        except ImportError:
            return None
    return None


@dataclass
class Options:
    questions: int = 8
    repeats: int = 5
    askers: tuple[int, ...] = (1, 2, 4)
    corpus: Path | None = None  # None: the seed articles
    gold: Path | None = None  # None: eval/gold/seeds.jsonl (only with the seeds)
    skip_starter: bool = False
    progress: bool = True
    starter: Starter | None = None  # None: the registered one (`registered_starter`)


def _note(message: str, progress: bool) -> None:
    if progress:
        print(message, file=sys.stderr, flush=True)


def _load_questions(opts: Options, seeds_dir: Path) -> tuple[Path, list[dict[str, Any]]]:
    if opts.corpus is not None and not opts.corpus.exists():
        raise InvalidInput(f"--corpus {opts.corpus}: no such file or folder.")
    if opts.gold is None and opts.corpus is not None and opts.corpus.resolve() != seeds_dir.resolve():
        raise InvalidInput('--corpus needs --gold: a JSONL of questions about those articles (one "question" a line).')
    gold = opts.gold or SEEDS_GOLD
    try:
        rows = [json.loads(line) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as e:
        raise InvalidInput(f"--gold {gold}: cannot read it as JSONL ({type(e).__name__}); give a file of "
                           "{\"question\": ...} lines.") from None  # fmt: skip
    if not all(isinstance(r, dict) and isinstance(r.get("question"), str) for r in rows) or not rows:
        raise InvalidInput(f'--gold {gold}: every line must be an object with a "question" string.')
    return gold, rows


def run(opts: Options, base: Settings | None = None) -> dict[str, Any]:
    from rag.pipeline import Pipeline

    base = base or get_settings()
    gold, rows = _load_questions(opts, base.seeds_dir)
    corpus_dir = opts.corpus or base.seeds_dir
    questions = pick_questions(rows, opts.questions) if opts.questions > 0 else []
    searches = questions or pick_questions(rows, 8)
    spare = [q for q in pick_questions(rows, len(rows)) if q not in questions]
    warm_up = spare[0] if spare else (questions or ["?"])[0]  # not a measured one: its prompt would be cached
    with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
        settings = base.model_copy(update={
            "data_dir": Path(tmp), "model_dir": base.models_path, "auto_seed": False,
            "chroma_url": None,  # never the user's Chroma server
            "search_cache": 0,  # every question measured as a new one
        })  # fmt: skip
        with Pipeline(settings, start_llm=False, progress=opts.progress) as pipeline:
            raw = raw_embedding_speed(pipeline, corpus_dir, opts.progress)
            report = pipeline.ingest([corpus_dir])
            ingest = report.chunks / report.seconds
            retrieve_ms = retrieval_times(pipeline, searches, opts)
            result: dict[str, Any] = {
                "corpus": "seeds" if opts.corpus is None else str(opts.corpus),
                "gold": str(gold.relative_to(PROJECT_ROOT) if gold.is_relative_to(PROJECT_ROOT) else gold),
                "questions": len(questions),
                "chunks": report.chunks,
                "embed_raw_chunks_per_s": round(raw, 1),
                "ingest_chunks_per_s": round(ingest, 1),
                "ingest_vs_raw": round(ingest / raw, 3),
                "retrieve_p50_ms": round(pct(retrieve_ms, 50) or 0, 1),
                "retrieve_p95_ms": round(pct(retrieve_ms, 95) or 0, 1),
                "retrieve_n": len(retrieve_ms),
            }
            if questions:
                result.update(answering(pipeline, questions, warm_up, opts))
    return result


def raw_embedding_speed(pipeline: Any, corpus_dir: Path, progress: bool) -> float:
    """Chunks per second the embedder alone manages on (up to 512 of) the corpus's chunks:
    what ingest's own speed is compared with."""
    from rag.ingest.load import iter_files, load_file

    _note("measuring raw embedding speed", progress)
    articles = [a for f in iter_files([corpus_dir]) for a in load_file(f, skipped={})]
    texts = [n.text for a in articles for n in pipeline.indexer.chunker.split(a)][:512]
    from rag.ingest.indexer import embed_texts

    embed_texts(pipeline.embedding, texts[:8])  # warm-up
    started = time.perf_counter()
    embed_texts(pipeline.embedding, texts)  # as ingest embeds a batch
    return len(texts) / (time.perf_counter() - started)


def retrieval_times(pipeline: Any, searches: list[str], opts: Options) -> list[float]:
    """Milliseconds of each search, `opts.repeats` rounds over the questions, uncached."""
    retrieve_ms = []
    for _ in tqdm(range(opts.repeats), desc="retrieval", unit="round", disable=not opts.progress, leave=False):
        pipeline.retriever.clear_query_cache()  # measure the whole path, not the cache
        for q in searches:
            t = time.perf_counter()
            pipeline.search(q)
            retrieve_ms.append((time.perf_counter() - t) * 1000)
    return retrieve_ms


def answering(pipeline: Any, questions: list[str], warm_up: str, opts: Options) -> dict[str, Any]:
    """The answer phases: one asker, the starter, the concurrency levels (in that order)."""
    out = _warm_model(pipeline, warm_up, opts)
    pipeline.retriever.clear_query_cache()
    out.update(_one_asker_phase(pipeline, questions, opts))
    starter = None if opts.skip_starter else (opts.starter or registered_starter())
    if starter is not None:
        _note("building the plain LlamaIndex starter", opts.progress)
        out.update(_against_starter(starter(pipeline, opts.corpus, questions, warm_up, opts.progress), out["one_asker"]))
    levels = []
    for askers in opts.askers:
        pipeline.retriever.clear_query_cache()  # each level embeds its questions afresh, as the first did
        levels.append(run_askers(pipeline.ask, questions, askers, opts.progress))
    out["concurrency"] = levels
    if "starter" in out and levels and levels[0]["askers"] == 1:
        out["ours_after_vs_starter_p50"] = ratio(levels[0]["answer_s"]["p50"], out["starter"]["answer_s"]["p50"])
    return out


def _warm_model(pipeline: Any, warm_up: str, opts: Options) -> dict[str, Any]:
    """The model started and asked once, so no phase pays for loading it; what it is and how many
    questions its server answers at once (which the concurrency levels are read against)."""
    _note("starting the model", opts.progress)
    llm = pipeline.llm
    pipeline.ask(warm_up)  # loads the weights into the page cache and the instructions into the prompt cache
    slots = server_slots(llm.base_url)
    return {
        "model": llm.model,
        "slots": slots or 1,
        "slots_source": "reported by the server" if slots else "the server does not report it; 1 assumed",
    }


def _one_asker_phase(pipeline: Any, questions: list[str], opts: Options) -> dict[str, Any]:
    """One asker's figures, and the flat keys `rag bench --json` printed before (kept: an interface)."""
    one = one_asker(pipeline, questions, opts.progress)
    return {
        "one_asker": one,
        "answers": one["answers"],
        "evidence_p50_ms": _times(one["evidence_s"]["p50"], 1000, 1),
        "evidence_p95_ms": _times(one["evidence_s"]["p95"], 1000, 1),
        "first_token_p50_s": _times(one["first_token_s"]["p50"], 1, 2),
        "first_token_p95_s": _times(one["first_token_s"]["p95"], 1, 2),
        "answer_p50_s": _times(one["answer_s"]["p50"], 1, 2),
        "answer_p95_s": _times(one["answer_s"]["p95"], 1, 2),
        "prompt_tokens_p50": one["prompt_tokens"]["p50"],
    }


def _against_starter(starter: dict[str, Any], one: dict[str, Any]) -> dict[str, Any]:
    """The starter's figures and its median answer time against ours, both ways."""
    theirs = starter["answer_s"]["p50"]
    return {
        "starter": starter,
        "ours_vs_starter_p50": ratio(one["answer_s"]["p50"], theirs),
        "starter_vs_ours_p50": ratio(theirs, one["answer_s"]["p50"]),
    }


def _times(value: float | None, factor: float, digits: int) -> float | None:
    return None if value is None else round(value * factor, digits)


# --- the command ---------------------------------------------------------------------


def askers_list(text: str) -> tuple[int, ...]:
    """ "1,2,4" -> (1, 2, 4): positive counts, each once, in the order given."""
    try:
        values = tuple(dict.fromkeys(int(part) for part in text.split(",") if part.strip()))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give counts of askers separated by commas, e.g. 1,2,4") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give positive counts of askers, e.g. 1,2,4")
    return values


def cmd_bench(args: argparse.Namespace, settings: Settings | None = None) -> None:
    opts = Options(
        questions=args.questions, repeats=args.repeats, askers=args.askers, corpus=args.corpus, gold=args.gold,
        skip_starter=args.skip_starter, progress=not args.quiet,
    )  # fmt: skip
    result = run(opts, settings)
    if args.json == "-":  # `--json` alone: the JSON on stdout instead of the table (as before)
        print(json.dumps(result, indent=2))
        return
    print(render(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument(
        "--questions", "--answers", dest="questions", type=int, default=8,
        help="questions to answer with the LLM, answerable ones spread over the gold set (0: no LLM)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=5, help="rounds of retrieval timing")
    parser.add_argument(
        "--askers", type=askers_list, default=(1, 2, 4), help="concurrent askers to measure (default 1,2,4)"
    )
    parser.add_argument(
        "--corpus", type=Path, default=None, help="articles to ingest (default: the seeds); needs --gold"
    )
    parser.add_argument("--gold", type=Path, default=None, help="questions, JSONL (default eval/gold/seeds.jsonl)")
    parser.add_argument("--skip-starter", action="store_true", help="leave out the plain LlamaIndex starter")
    parser.add_argument(
        "--json", nargs="?", const="-", default=None, metavar="PATH",
        help="also write the figures as JSON to PATH (alone: print JSON instead of the table)",
    )  # fmt: skip
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(func=cmd_bench)
