"""`rag eval`: the offline eval suite from the command line.

    rag eval --gold eval/gold/seeds.jsonl --out eval/out/seeds [--k N] [--limit N] [--baselines]
    rag eval --gold eval/gold/seeds.jsonl --out DIR --baselines --stride 3   # every 3rd question
    rag eval --gold eval/gold/seeds.jsonl --out DIR --compare eval/baselines/seeds.json [--tolerance 0.05]
    rag eval --gold eval/gold/usnews.jsonl --corpus eval/data/usnews/corpus --out DIR   # any corpus
    rag eval --squad eval/data/squaddev_v1.1.json --limit 300 --seed 0 --out DIR [--k 5] [--bm25]

Gold runs use their own collection (`--collection`, default "eval_seeds", seeded from
the seed articles) so that documents ingested by hand do not move the numbers. With
`--corpus PATH` the gold set is asked over the articles of PATH instead, in a collection
named after the gold file ("eval_usnews" for usnews.jsonl; see `corpus_collection`). SQuAD
runs use "squad_dev". Both live in the usual data dir (RAG_DATA_DIR) and use the
configured LLM (the local model unless OPENAI_BASE_URL / OPENAI_API_KEY are set).
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from eval import runner
from eval.replay import ReplayLLM
from eval.report import compare, load_summary, write_report
from eval.squad import load_articles, load_squad, sample_questions
from rag.pipeline import Pipeline
from rag.settings import Settings, get_settings

GOLD_COLLECTION = "eval_seeds"
TABLE_KEYS = (
    "fact_recall", "answer_accuracy", "citation_precision", "citation_recall", "abstention_rate_unanswerable",
    "false_abstention_rate", "conflict_recall", "hit_at_k", "mrr", "latency_p50_s", "latency_p95_s",
    "prompt_tokens", "completion_tokens", "n_questions", "n_errors",
)  # fmt: skip


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "Score the pipeline on a gold set (and baselines) or on a SQuAD v1.1 sample."
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--gold", type=Path, help="gold questions (JSONL, see eval/metrics.py)")
    source.add_argument("--squad", type=Path, help="SQuAD v1.1 file (python -m eval.squad eval/data fetches it)")
    parser.add_argument(
        "--corpus",
        type=Path,
        default=None,
        help="gold: articles (folder or file) to ask the gold set over, in collection eval_<gold file name> "
        "(default: the seed articles in eval_seeds)",
    )
    parser.add_argument("--out", type=Path, required=True, help="directory for report.json, report.md, report.png")
    parser.add_argument("--k", type=int, default=None, help="passages per question (default RAG_TOP_K; 5 for --squad)")
    parser.add_argument("--limit", type=int, default=None, help="the first N gold / N sampled SQuAD questions")
    parser.add_argument("--stride", type=int, default=1, help="gold: every N-th question only (a spread-out subset)")
    parser.add_argument("--seed", type=int, default=0, help="SQuAD sample seed")
    parser.add_argument("--bm25", action="store_true", help="SQuAD: also recall@k of BM25-only retrieval")
    parser.add_argument("--retrieval-only", action="store_true", help="SQuAD: recall@k only, no LLM (EM/F1 n/a)")
    parser.add_argument(
        "--baselines", action="store_true", help="gold: also plain LlamaIndex, CitationQueryEngine, dense-, BM25-only"
    )
    parser.add_argument("--compare", type=Path, default=None, help="baseline report or summary JSON: exit 1 if worse")
    parser.add_argument("--tolerance", type=float, default=0.05, help="allowed drop of a rate metric for --compare")
    parser.add_argument(
        "--collection", default=None, help=f"collection (default {GOLD_COLLECTION} / {runner.SQUAD_COLLECTION})"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--replay", type=Path, default=None, metavar="DIR",
                        help="keep the model's replies in DIR and reuse them for the same request (tuning the checks)")
    parser.set_defaults(func=_exit_with)


def _exit_with(args: argparse.Namespace) -> None:
    """The `rag eval` entry from rag/cli.py: the exit code says whether --compare passed."""
    code = cmd_eval(args)
    if code:
        sys.exit(code)


def cmd_eval(args: argparse.Namespace, settings: Settings | None = None) -> int:
    if args.squad and getattr(args, "corpus", None) is not None:
        print("--corpus goes with --gold (a SQuAD run ingests the paragraphs of its sample)", file=sys.stderr)
        return 2
    settings = settings or get_settings()
    return run_squad(args, settings) if args.squad else run_gold(args, settings)


def _command(args: argparse.Namespace) -> str:
    argv = getattr(args, "argv", None) or sys.argv[2:]
    return "rag eval " + " ".join(shlex.quote(a) for a in argv)


def corpus_collection(gold_path: Path) -> str:
    """The collection a gold set asked over its own corpus uses: "eval_" + the gold file's stem,
    made a valid Chroma name ("eval/gold/usnews.jsonl" -> "eval_usnews"). One collection per gold
    set keeps corpora apart, so a run over one never retrieves another's articles."""
    stem = re.sub(r"[^A-Za-z0-9_-]+", "_", gold_path.stem).strip("_-") or "gold"
    return f"eval_{stem}"[:63]


def replay(pipeline: Pipeline, args: argparse.Namespace) -> None:
    """With --replay DIR, the model's replies are kept in DIR and replayed (`eval.replay`)."""
    if getattr(args, "replay", None) is None:
        return
    s = pipeline.settings
    pipeline.wrap_llm(lambda start: ReplayLLM(start, args.replay, s.llm_model_name, s.llm_slots))


def run_gold(args: argparse.Namespace, settings: Settings) -> int:
    """A gold run: the collection filled, our system (and the baselines) asked, the report written
    and, with --compare, gated."""
    gold = runner.load_gold(args.gold)[:: max(args.stride, 1)][: args.limit or None]
    corpus = getattr(args, "corpus", None)
    if corpus is not None and not corpus.exists():
        print(f"--corpus {corpus}: no such file or folder (python -m eval.usnews eval/data writes the US news one)",
              file=sys.stderr)  # fmt: skip
        return 2
    settings = _gold_settings(args, settings, corpus)
    k = args.k or settings.top_k
    with Pipeline(settings, start_llm=False, progress=not args.quiet) as pipeline:
        replay(pipeline, args)
        if not _fill_collection(pipeline, corpus, gold):
            return 2
        results = _ask_systems(pipeline, gold, k, args, corpus)
    return _report_gold(args, results)


def _gold_settings(args: argparse.Namespace, settings: Settings, corpus: Path | None) -> Settings:
    """The run's own collection (named by --collection, else by the gold file when it brings a
    corpus): articles ingested by hand never move the numbers. A corpus run has no seeds: they
    would be extra distractors."""
    default = corpus_collection(args.gold) if corpus is not None else GOLD_COLLECTION
    update: dict = {"collection": args.collection or default}
    if corpus is not None:
        update["auto_seed"] = False
    return settings.model_copy(update=update)


def _fill_collection(pipeline: Pipeline, corpus: Path | None, gold: list[dict]) -> bool:
    """The corpus (or the seeds) in the collection, with a line saying what changed; False when
    the corpus cannot serve the gold set (the reason printed)."""
    if corpus is None:
        pipeline.ensure_seeded()
        return True
    try:
        report = runner.ingest_corpus(pipeline, corpus, gold)
    except ValueError as e:
        print(f"--corpus: {e}", file=sys.stderr)
        return False
    print(
        f"corpus {corpus}: {len(report.added) + len(report.updated) + len(report.unchanged)} articles in "
        f"collection {pipeline.settings.collection} ({len(report.added)} new, {len(report.updated)} changed, "
        f"{len(report.skipped)} skipped)",
        file=sys.stderr,
    )
    return True


def _ask_systems(
    pipeline: Pipeline, gold: list[dict], k: int, args: argparse.Namespace, corpus: Path | None
) -> dict[str, list[dict]]:
    """Our system's results, then each baseline's (with --baselines); the report is written
    before each baseline, so a run cut short keeps what it finished."""
    results = {runner.OURS: runner.run_gold(gold, runner.ours(pipeline, k), k, progress=not args.quiet)}
    if args.baselines:
        from eval.baselines import baseline_systems

        for name, answer_fn in baseline_systems(pipeline, k, corpus).items():
            write_report(args.out, results)
            results[name] = runner.run_gold(gold, answer_fn, k, desc=name, progress=not args.quiet)
    return results


def _report_gold(args: argparse.Namespace, results: dict[str, list[dict]]) -> int:
    """The report files, the table on the terminal, and the exit code of --compare."""
    paths = write_report(args.out, results)
    doc = json.loads(paths["json"].read_text(encoding="utf-8"))
    summaries = {name: s["summary"] for name, s in doc.get("systems", {runner.OURS: doc}).items()}
    print_table(summaries)
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    if args.compare:
        return gate(doc["summary"], args.compare, args.tolerance)
    return 0


def gate(summary: dict, baseline_path: Path, tolerance: float) -> int:
    """Print each regression against the baseline; 1 if there is any, 2 if the two cannot be compared, else 0."""
    try:
        regressions = compare(summary, load_summary(baseline_path), tolerance)
    except ValueError as e:
        print(f"cannot compare with {baseline_path}: {e}", file=sys.stderr)
        return 2
    for r in regressions:
        print(f"REGRESSION {r.metric}: {r.old:.3f} -> {r.new:.3f} (baseline {baseline_path})", file=sys.stderr)
    if not regressions:
        print(f"no regressions against {baseline_path}")
    return 1 if regressions else 0


def print_table(summaries: dict[str, dict]) -> None:
    names = list(summaries)
    width = max(len(k) for k in TABLE_KEYS) + 2
    cols = [max(len(n), 8) + 2 for n in names]
    print("\n" + "metric".ljust(width) + "".join(n.rjust(c) for n, c in zip(names, cols)))
    for key in TABLE_KEYS:
        cells = []
        for name, c in zip(names, cols):
            value = summaries[name].get(key)
            text = "n/a" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)
            cells.append(text.rjust(c))
        print(key.ljust(width) + "".join(cells))


def run_squad(args: argparse.Namespace, settings: Settings) -> int:
    questions = sample_questions(load_squad(args.squad), args.limit or 300, seed=args.seed)
    articles = runner.squad_articles(load_articles(args.squad), questions)
    collection = args.collection or runner.SQUAD_COLLECTION
    settings = settings.model_copy(update={"collection": collection, "auto_seed": False})
    k = args.k or 5
    with Pipeline(settings, start_llm=False, progress=not args.quiet) as pipeline:
        replay(pipeline, args)
        runner.ingest_squad(pipeline, articles, progress=not args.quiet)
        result = runner.run_squad(
            pipeline, questions, k, bm25=args.bm25, progress=not args.quiet, answer=not args.retrieval_only
        )
        n_documents = len(pipeline.documents())  # what retrieval searched (earlier runs may have added more)
    result["summary"].update(seed=args.seed, n_paragraphs=len(articles), n_documents=n_documents)
    paths = runner.write_squad_report(args.out, result, command=_command(args))
    s = result["summary"]
    print(f"\nSQuAD v1.1 dev, {s['n_questions']} questions over {n_documents} paragraphs")
    for key, value in s.items():
        print(f"{key:<20}{'n/a' if value is None else f'{value:.3f}' if isinstance(value, float) else value}")
    print(f"\nwrote {', '.join(str(p) for p in paths.values())}")
    if args.compare:
        return gate(s, args.compare, args.tolerance)
    return 0


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    """`rag eval ARGS` as a function (tests pass their own settings); returns the exit code."""
    parser = argparse.ArgumentParser(prog="rag eval")
    register(parser)
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    return cmd_eval(args, settings)


if __name__ == "__main__":
    sys.exit(main())
