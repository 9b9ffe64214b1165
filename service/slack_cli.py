"""`rag slack`: the Slack bot in Socket Mode, and the feedback export.

    rag slack --socket                  connect out to Slack (SLACK_BOT_TOKEN, SLACK_APP_TOKEN)
    rag slack --export-feedback FILE    👍-rated answers as eval gold JSONL lines

Over the Events API the bot runs inside `rag serve` instead (POST /slack/events).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from rag.errors import RagError
from rag.settings import Settings, read

if TYPE_CHECKING:
    from rag.pipeline import Pipeline
    from service.metrics import Metrics
    from service.settings import ServiceSettings, SlackSettings


def register(parser: argparse.ArgumentParser) -> None:
    parser.description = "The Slack bot in Socket Mode, or the export of its feedback."
    parser.add_argument("--socket", action="store_true", help="run in Socket Mode (needs SLACK_APP_TOKEN, xapp-...)")
    parser.add_argument(
        "--export-feedback", metavar="FILE", type=Path, help="write the 👍-rated answers as eval gold JSONL lines"
    )
    parser.set_defaults(func=cmd_slack)


def cmd_slack(args: argparse.Namespace) -> None:
    from service.settings import AppSettings
    from service.slack import feedback_store

    config = read(AppSettings)  # every setting, read once
    settings = config.rag
    if args.export_feedback:
        count = feedback_store(settings).export_gold(args.export_feedback)
        print(f"wrote {count} candidate gold cases to {args.export_feedback} (fill in their `facts` before use)")
        return
    if not args.socket:
        raise RagError(
            "Choose a mode: `rag slack --socket` (Socket Mode), or `rag serve` with SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET set (Events API at https://HOST/slack/events). See docs/slack.md."
        )
    slack = config.slack
    if not slack.app_token:
        raise RagError(
            "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token (xapp-...) with the "
            "connections:write scope, from the Slack app's Basic Information page."
        )
    asyncio.run(run_socket_mode(settings, slack, config.service))


def _ready_pipeline(settings: Settings) -> Pipeline:
    from rag.pipeline import Pipeline

    pipeline = Pipeline(settings, start_llm=False, progress=True)
    pipeline.ensure_seeded()
    pipeline.llm  # noqa: B018 - start the model before the first question arrives
    return pipeline


async def run_socket_mode(settings: Settings, slack: SlackSettings, service: ServiceSettings | None = None) -> None:
    from service.settings import ServiceSettings
    from service.slack import build_slack_app, own_admission
    from service.slack_client import socket_mode_handler

    service = service or ServiceSettings()
    pipeline = await asyncio.to_thread(_ready_pipeline, settings)
    try:
        admission = own_admission(lambda: pipeline, service)  # sized as `rag serve`'s
        app, bot = build_slack_app(pipeline, settings, slack, socket_mode=True, admission=admission)
        assert slack.app_token is not None
        handler = socket_mode_handler(app, slack.app_token.get_secret_value())
        with metrics_served(admission.metrics, service.host, slack.metrics_port):
            print("Slack bot connected in Socket Mode; Ctrl-C to stop.", file=sys.stderr)
            try:
                await handler.start_async()
            finally:
                await handler.close_async()
                await bot.drain()
    finally:
        pipeline.close()


@contextmanager
def metrics_served(metrics: Metrics, host: str, port: int | None) -> Iterator[str | None]:
    """A Socket Mode process has no HTTP app: its gate's metrics get a server of their own when
    RAG_SLACK_METRICS_PORT is set (yields the URL, else None)."""
    from service.metrics import serving

    if port is None:
        print("Metrics not served: set RAG_SLACK_METRICS_PORT to scrape this bot's queue.", file=sys.stderr)
        yield None
        return
    with serving(metrics, host, port) as url:
        print(f"Metrics on {url}", file=sys.stderr)
        yield url
