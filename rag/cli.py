"""The `rag` command.

    rag ask "How many prisoners did each side agree to swap?" [--json] [--k N]
    rag ingest PATH_OR_URL... | rag docs | rag remove DOC_ID | rag chat
    rag watch [FEED...] [--every 15m] [--once]   poll RSS/Atom feeds and ingest new or changed entries
    rag setup            assemble and check the local model, ingest the seeds
    rag serve            the HTTP service (see service/)
    rag eval ...         the offline eval suite (see eval/)
    rag bench            the pipeline benchmark (ingest, retrieval, answer latency)
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
import time
from importlib.metadata import entry_points
from pathlib import Path

from rag.errors import InvalidInput, RagError
from rag.schema import Answer, IngestReport
from rag.settings import get_settings, parse_every


def _pipeline(start_llm: bool = True, progress: bool = True):
    from rag.pipeline import Pipeline

    pipeline = Pipeline(get_settings(), start_llm=False, progress=progress)
    pipeline.ensure_seeded()
    if start_llm:
        pipeline.llm  # noqa: B018
    return pipeline


def print_answer(answer: Answer) -> None:
    if answer.short_answer:
        print(f"Short answer: {answer.short_answer}\n")
    print(textwrap.fill(answer.answer, width=100))
    if answer.abstained and answer.abstain_reason:
        print(f"\n(abstained: {answer.abstain_reason})")
    for c in answer.citations:
        date = f", {c.published_at:%Y-%m-%d}" if c.published_at else ""
        by = ", ".join(x for x in (c.source, c.author and f"by {c.author}") if x)
        by = f", {by}" if by else ""
        print(f"\n[{c.marker}] {c.title} ({c.doc_id}{date}{by}, chars {c.start}-{c.end})")
        for s in c.sentences or []:  # the sentence(s) that back the answer, then the passage around them
            print(textwrap.indent(textwrap.fill(f"» {s.text}", width=96), "    "))
        print(textwrap.indent(textwrap.fill(c.text, width=96), "      "))
    if answer.unsupported:
        print("\nRemoved (no passage backs it, or not an answer): " + " | ".join(answer.unsupported))
    t = answer.timings
    print(f"\n{answer.model} · retrieve {t.retrieve_ms:.0f} ms · generate {t.generate_ms / 1000:.1f} s", file=sys.stderr)


def time_filters(args: argparse.Namespace):
    """`--since` / `--until` / `--reference-date` as filters (None when none is given)."""
    from rag.schema import Filters
    from rag.when import since_until

    if not (args.since or args.until or args.reference_date):
        return None
    ref = since_until(args.reference_date, None, names=("--reference-date", ""))[0] if args.reference_date else None
    ref_or_setting = ref or get_settings().reference_date
    after, before = since_until(args.since, args.until, ref_or_setting, names=("--since", "--until"))
    return Filters(published_after=after, published_before=before, reference_date=ref)


def _add_time_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", metavar="DATE",
                   help='only articles published on or after: 2017-03-01, "7 days ago", "March 2017"')
    p.add_argument("--until", metavar="DATE", help="only articles published on or before (that whole day, month...)")
    p.add_argument("--reference-date", metavar="DATE",
                   help='what "last week" in the question and in --since means (default RAG_REFERENCE_DATE, else now)')


def cmd_ask(args: argparse.Namespace) -> None:
    filters = time_filters(args)  # a bad date is reported before the model starts
    with _pipeline(progress=not args.json) as pipeline:
        answer = pipeline.ask(" ".join(args.question), k=args.k, filters=filters, short=args.short)
    if args.json:
        print(answer.model_dump_json(indent=2))
    else:
        print_answer(answer)


def cmd_chat(args: argparse.Namespace) -> None:
    filters = time_filters(args)
    with _pipeline() as pipeline:
        history: list[dict[str, str]] = []
        print("Ask about the articles (empty line or Ctrl-D to quit).")
        while True:
            try:
                question = input("\n> ").strip()
            except EOFError:
                break
            if not question:
                break
            try:
                answer = pipeline.chat(history + [{"role": "user", "content": question}], k=args.k, filters=filters)
            except RagError as e:
                print(f"error: {e.message}")
                continue
            print_answer(answer)
            history += [{"role": "user", "content": question}, {"role": "assistant", "content": answer.answer}]


def cmd_ingest(args: argparse.Namespace) -> None:
    from rag.ingest.feeds import ingest_urls, is_url

    urls = [a for a in args.paths if is_url(a)]
    paths = [Path(a) for a in args.paths if not is_url(a)]
    settings = get_settings()
    with _pipeline(start_llm=False) as pipeline:
        report = pipeline.ingest(paths) if paths else IngestReport()
        if urls:
            web = ingest_urls(urls, pipeline.ingest_articles, settings.feeds_state_path,
                              min_interval_s=settings.feed_host_interval_s, progress=True,
                              is_stored=lambda doc_id: _is_stored(pipeline, doc_id))
            _merge(report, web.ingest)
            _print_fetches(web)
    for path, reason in report.skipped.items():
        print(f"skipped: {reason}", file=sys.stderr)
    for warning in report.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"added {len(report.added)}, updated {len(report.updated)}, unchanged {len(report.unchanged)}, "
        f"skipped {len(report.skipped)}; {report.chunks} chunks in {report.seconds:.1f} s"
    )
    if report.skipped and not (report.added or report.updated or report.unchanged):
        sys.exit(1)


def _is_stored(pipeline, doc_id: str) -> bool:
    from rag.errors import UnknownDocument

    try:
        pipeline.document(doc_id)
    except UnknownDocument:
        return False
    return True


def _merge(into: IngestReport, other: IngestReport) -> None:
    for name in ("added", "updated", "unchanged", "warnings", "not_stored"):
        getattr(into, name).extend(getattr(other, name))
    into.skipped.update(other.skipped)
    into.chunks += other.chunks
    into.seconds += other.seconds


def _print_fetches(web) -> None:
    print(
        f"web: {web.pages_fetched} pages fetched ({web.pages_not_modified} more answered 'not modified'), "
        f"{web.entries_seen} feed entries seen before, {len(web.not_modified)} URLs unchanged since the last "
        f"fetch, {len(web.fallbacks)} entries stored from the feed's own text",
        file=sys.stderr,
    )


def cmd_watch(args: argparse.Namespace) -> None:
    from rag.ingest.feeds import FeedWatcher, is_url

    settings = get_settings()
    # With no feeds or --every given, the settings' (RAG_WATCH_FEEDS, RAG_WATCH_EVERY): a
    # deployment configures its watcher by environment like every other process.
    args.feeds = args.feeds or settings.watch_feed_urls
    args.every = args.every or settings.watch_every
    if not args.feeds:
        raise InvalidInput("no feeds to watch: give feed URLs, or set RAG_WATCH_FEEDS (comma-separated URLs).")
    try:
        every = parse_every(args.every)
    except ValueError as e:
        raise InvalidInput(f"--every: {e}") from None
    if bad := [f for f in args.feeds if not is_url(f)]:
        raise InvalidInput(f"not a feed URL: {bad[0]}; give http:// or https:// addresses (files go to `rag ingest`).")

    def show(report) -> None:
        r = report.ingest
        for reason in r.skipped.values():
            print(f"skipped: {reason}", file=sys.stderr)
        print(f"{time.strftime('%H:%M:%S')} added {len(r.added)}, updated {len(r.updated)}, skipped {len(r.skipped)}",
              flush=True)
        _print_fetches(report)

    with _pipeline(start_llm=False) as pipeline:
        watcher = FeedWatcher(args.feeds, every, pipeline.ingest_articles, settings.feeds_state_path,
                              min_interval_s=settings.feed_host_interval_s, on_poll=show)
        try:
            if args.once:
                watcher.poll()
            else:
                print(f"watching {len(args.feeds)} feed(s) every {args.every}; Ctrl-C to stop", file=sys.stderr)
                watcher.run()
        finally:
            watcher.stop()


def cmd_docs(args: argparse.Namespace) -> None:
    with _pipeline(start_llm=False) as pipeline:
        docs = pipeline.documents()
    if args.json:
        print(json.dumps([d.model_dump(mode="json") for d in docs], indent=2))
        return
    for d in docs:
        dup = f"  near-duplicate of {', '.join(d.near_duplicates)}" if d.near_duplicates else ""
        print(f"{d.doc_id}  {d.chunks:3d} chunks  {d.title[:70]}{dup}")
    print(f"{len(docs)} documents", file=sys.stderr)


def cmd_remove(args: argparse.Namespace) -> None:
    with _pipeline(start_llm=False) as pipeline:
        pipeline.remove(args.doc_id)
    print(f"removed {args.doc_id}")


def cmd_setup(args: argparse.Namespace) -> None:
    with _pipeline(start_llm=True) as pipeline:
        print(f"ready: {len(pipeline.documents())} documents, model {pipeline.llm.model} at {pipeline.llm.base_url}")


COMMANDS = "rag.commands"  # the entry-point group of the commands other packages add


def add_registered_commands(sub: argparse._SubParsersAction) -> None:
    """The commands of the packages built on this library (`rag serve` and `rag slack` from
    service/, `rag eval` from eval/): each declares an entry point in the `rag.commands` group
    (pyproject.toml) naming a `register(parser)` function. The library imports nothing above
    itself; a package that is not installed, or fails to import, adds no command."""
    seen: set[str] = set()
    for ep in entry_points(group=COMMANDS):
        if ep.name in seen or ep.name in sub.choices:
            continue  # the first on the path wins (a checkout before an older install)
        try:
            register = ep.load()
        except ImportError as e:
            logging.getLogger(__name__).debug("command %s not available: %s", ep.name, e)
            continue
        seen.add(ep.name)
        register(sub.add_parser(ep.name))


def build_parser() -> argparse.ArgumentParser:
    """The `rag` command line: the library's commands, then those registered by the packages above."""
    parser = argparse.ArgumentParser(
        prog="rag", description="Questions over news articles, with checked citations.",
        epilog="`rag serve`, `rag slack` and `rag eval` come with the installed package (entry points in the "
        f"{COMMANDS!r} group): if they are missing, reinstall it with `pip install -e .`.",
    )  # fmt: skip
    sub = parser.add_subparsers(dest="command", required=True)
    _add_question_commands(sub)
    _add_document_commands(sub)
    from rag.bench import register as register_bench

    register_bench(sub.add_parser("bench"))
    add_registered_commands(sub)
    return parser


def _add_question_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question", nargs="+")
    p.add_argument("--json", action="store_true", help="print the answer object as JSON")
    p.add_argument("--k", type=int, default=None, help="passages to send the model")
    p.add_argument("--short", action="store_true", help="also give the few words that answer (one more model call)")
    _add_time_flags(p)
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="interactive multi-turn questions")
    p.add_argument("--k", type=int, default=None)
    _add_time_flags(p)
    p.set_defaults(func=cmd_chat)


def _add_document_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="add or update articles (files, folders, RSS/Atom feed URLs, page URLs)")
    p.add_argument("paths", nargs="+", metavar="PATH_OR_URL")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("watch", help="poll RSS/Atom feeds and ingest their new or changed entries")
    p.add_argument("feeds", nargs="*", metavar="FEED_URL", help="default: RAG_WATCH_FEEDS")
    p.add_argument("--every", help="time between polls: 15m, 1h, 90s (default: RAG_WATCH_EVERY, else 15m)")
    p.add_argument("--once", action="store_true", help="poll once and exit")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("docs", help="list the ingested articles")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs)

    p = sub.add_parser("remove", help="delete an article")
    p.add_argument("doc_id")
    p.set_defaults(func=cmd_remove)

    p = sub.add_parser("setup", help="prepare the local model and ingest the seeds")
    p.set_defaults(func=cmd_setup)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "chromadb"):  # bm25s: rag.keyword quiets it (it sets its own level on import)
        logging.getLogger(noisy).setLevel(logging.WARNING)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except RagError as e:  # among them invalid settings: each names the variable to fix
        print(f"error: {e.message}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
