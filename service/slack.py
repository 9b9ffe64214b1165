"""The Slack bot: answers @mentions and direct messages in a thread, follow-ups in that
thread with its earlier turns as chat history, and stores 👍 / 👎 feedback.

The same listeners serve both transports: the Events API (`POST /slack/events`, mounted
on the FastAPI app by `mount_slack`) and Socket Mode (`rag slack --socket`, see
`service/slack_cli.py`). The bot talks to Slack through `service.slack_client.SlackClient`
(tests pass an in-memory fake). Slack glue only: the answering is `Pipeline.stream`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any, Literal
from urllib.parse import parse_qs

from fastapi import FastAPI, Request, Response
from fastapi.params import Depends
from fastapi.responses import JSONResponse
from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.signature import SignatureVerifier

from rag.errors import InvalidInput, RagError
from rag.llm.client import Message
from rag.pipeline import Pipeline, clean_question
from rag.schema import Answer, Filters
from rag.settings import Settings
from rag.when import take_filter_tokens
from service.gate import LLMGate, llm_gauges
from service.metrics import Gauges, Metrics
from service.settings import ServiceSettings, SlackSettings
from service.slack_blocks import (
    APOLOGY,
    FEEDBACK_DOWN,
    FEEDBACK_UP,
    WORKING,
    answer_blocks,
    apology_blocks,
    apology_text,
    evidence_text,
    fallback_text,
)
from service.slack_client import SlackCallFailed, SlackClient, WebAPIClient, events_handler, web_client
from service.slack_store import FeedbackRecord, FeedbackStore, SlackState

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 20  # earlier thread messages read back as chat turns
DRAIN_SECONDS = 30.0  # at shutdown, how long the answers under way may take to finish
UNEXPECTED = (
    "Something went wrong on my side: try again in a minute, and if it keeps failing "
    "ask whoever runs the bot to check the service log."
)


def _secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value else None


def _signature_readable(req: Request) -> bool:
    """slack_sdk's verifier raises, rather than says no, on a timestamp `int()` cannot read
    or a signature that is not ASCII: those requests are turned away before it sees them."""
    timestamp = req.headers.get("X-Slack-Request-Timestamp", "0")
    signature = req.headers.get("X-Slack-Signature", "")
    return timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12 and signature.isascii()


def _malformed(body: bytes, content_type: str) -> str | None:
    """Why a (signed) body is not a request Slack sends, else None. Slack posts a JSON object
    (events) or a form whose `payload` is a JSON object (interactions, such as button clicks)."""
    try:
        text = body.decode("utf-8")
        if content_type.startswith("application/x-www-form-urlencoded"):
            form = parse_qs(text, keep_blank_values=True)
            if "payload" not in form:
                return None  # a slash command: plain form fields
            data = json.loads(form["payload"][0])
        else:
            data = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        return f"the body is not a JSON object ({type(e).__name__})"
    if not isinstance(data, dict):
        return "the body is not a JSON object"
    if "event" in data and not isinstance(data["event"], dict):
        return "`event` is not an object"
    return None


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# The pipeline itself, or a function returning it (an app that builds it at start-up).
PipelineSource = Pipeline | Callable[[], Pipeline | None]
# The model's admission gate and the metrics answers are counted in (the service's, when mounted on it).
Admission = Callable[[], "tuple[LLMGate, Metrics]"]


class OwnAdmission:
    """The gate and metrics of a process that serves no HTTP (Socket Mode). The metrics exist
    from the start, so a scrape before the first question sees the line (not ready yet); the
    gate is made on first use (when the model, whose concurrency sizes it, is there), then kept."""

    def __init__(self, pipeline: Callable[[], Pipeline], service: ServiceSettings) -> None:
        self._pipeline = pipeline
        self._service = service
        self._gate: LLMGate | None = None
        self.metrics = Metrics()
        self.metrics.read_at_scrape(self.gauges)

    def __call__(self) -> tuple[LLMGate, Metrics]:
        if self._gate is None:
            self._gate = LLMGate.for_model(self._pipeline().llm.concurrency, self._service)
        return self._gate, self.metrics

    def gauges(self) -> Gauges:
        try:
            local = self._pipeline().local_llm
        except RagError:  # still starting
            local = None
        return llm_gauges(self._gate, self._service.queue_size, local)


def own_admission(pipeline: Callable[[], Pipeline], service: ServiceSettings) -> OwnAdmission:
    """The one gate of a process of its own, sized by the same settings as `rag serve`'s."""
    return OwnAdmission(pipeline, service)


class SlackBot:
    """The listeners. Every event is acknowledged at once; the answer is worked out in a
    background task, the blocking pipeline in a worker thread."""

    def __init__(
        self, pipeline: PipelineSource, state: SlackState, feedback: FeedbackStore,
        admission: Admission | None = None, slack_client: Callable[[Any], SlackClient] = WebAPIClient,
    ) -> None:  # fmt: skip
        """`slack_client` makes the `SlackClient` for the web client bolt hands a listener."""
        self._pipeline = pipeline
        self._slack_client = slack_client
        self.state = state
        self.feedback = feedback
        self._tasks: set[asyncio.Task] = set()
        # Mounted on the service: its gate and metrics, so Slack queues with HTTP. A process of its
        # own (Socket Mode): the process's one gate, sized by the same settings as `rag serve`'s.
        self._admission = admission or own_admission(lambda: self.pipeline, ServiceSettings())

    @property
    def pipeline(self) -> Pipeline:
        pipeline = self._pipeline() if callable(self._pipeline) else self._pipeline
        if pipeline is None:
            raise RagError("The service is still starting: ask again in a few seconds.")
        return pipeline

    def register(self, app: AsyncApp) -> None:
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.action(re.compile(f"^({FEEDBACK_UP}|{FEEDBACK_DOWN})$"))(self.on_feedback)

    # --- listeners -----------------------------------------------------------------

    async def on_mention(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        self._maybe_answer(body, event, context)

    async def on_message(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("channel_type") == "im":
            self._maybe_answer(body, event, context)
            return
        thread_ts = event.get("thread_ts")
        mention = f"<@{context.bot_user_id}>"
        # A mention in a channel also arrives as app_mention: that listener answers it.
        if thread_ts and mention not in event.get("text", "") and self.state.is_bot_thread(event["channel"], thread_ts):
            self._maybe_answer(body, event, context)

    async def on_feedback(self, ack: Any, body: dict, action: dict) -> None:
        await ack()
        rating = "up" if action["action_id"] == FEEDBACK_UP else "down"
        user = (body.get("user") or {}).get("id", "")
        stored = await asyncio.to_thread(self.feedback.add, action.get("value", ""), rating, user)
        if not stored:
            log.warning("feedback for unknown answer %r ignored", action.get("value"))

    # --- the work --------------------------------------------------------------------

    def _maybe_answer(self, body: dict, event: dict, context: AsyncBoltContext) -> None:
        if event.get("bot_id") or event.get("subtype") or not event.get("user"):
            return  # other bots, our own messages, edits, joins...
        if event.get("user") == context.bot_user_id:
            return
        event_id = body.get("event_id")
        if event_id and not self.state.claim(f"event:{event_id}"):
            log.info("event %s already handled", event_id)
            return
        if not self.state.claim(f"message:{event['channel']}:{event['ts']}"):
            return  # the same message seen through another event (app_mention and message)
        assert context.client is not None
        self.spawn(self.answer(self._slack_client(context.client), event, context.bot_user_id, context.bot_id))

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Waits, at shutdown, up to `timeout` seconds for the answers under way."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(self._tasks, timeout=timeout)
        if pending:
            log.warning("%d answer(s) unfinished after %.0f s at shutdown: placeholders stay", len(pending), timeout)

    async def answer(self, client: SlackClient, event: dict, bot_user_id: str | None, bot_id: str | None) -> None:
        """A placeholder in the thread at once, then the answer (or an apology) in its place."""
        channel = event["channel"]
        thread_ts = event.get("thread_ts") or event["ts"]
        try:
            placeholder = await client.post_message(channel, thread_ts, WORKING)
        except SlackCallFailed as e:
            log.error("could not post in %s: %s", channel, e.error)
            return
        self.state.remember_thread(channel, thread_ts)
        asked = self._strip_mention(event.get("text", ""), bot_user_id)
        try:
            messages = await self.history(client, event, bot_user_id, bot_id)
            answer = await self._answer(client, channel, placeholder, messages, asked)
            answer_id = await asyncio.to_thread(self.feedback.record_answer, answer, asked, channel, thread_ts)
            text, blocks = fallback_text(answer), answer_blocks(answer, answer_id)
        except RagError as e:
            log.warning("could not answer %r: %s", asked, e.message)
            text, blocks = apology_text(e.message), apology_blocks(e.message)
        except Exception:
            log.exception("answering %r failed", asked)
            text, blocks = apology_text(UNEXPECTED), apology_blocks(UNEXPECTED)
        try:
            await client.update_message(channel, placeholder, text, blocks)
        except SlackCallFailed as e:
            log.error("could not update the answer in %s: %s", channel, e.error)

    async def _answer(self, client: SlackClient, channel: str, ts: str, history: list[Message], asked: str) -> Answer:
        """Through the same admission gate as HTTP; the placeholder shows the best evidence
        as soon as it is found, before the model writes. The pipeline runs in one worker
        thread (plain asyncio, as the bot's tasks live outside any request)."""
        gate, metrics = self._admission()
        ticket = gate.admit()  # QueueFull is a RagError: the user is told to try again shortly
        loop = asyncio.get_running_loop()
        shown: list[asyncio.Future] = []

        def show(evidence: list) -> None:
            text = evidence_text(evidence)
            shown.append(asyncio.run_coroutine_threadsafe(self._update(client, channel, ts, text), loop))

        def work() -> Answer | None:
            text, filters = take_filter_tokens(asked, self.pipeline.settings.reference_date)  # since:/until:
            turns, thread = thread_filters(history, self.pipeline.settings.reference_date)
            filters = filters or thread  # a follow-up keeps the thread's since:/until: unless it sets its own
            question = clean_question(text)
            if turns:
                question = self.pipeline.condense(turns, question)
            answer = None
            for item in self.pipeline.stream(question, filters=filters, evidence=True):
                if isinstance(item, list) and item:
                    show(item)
                elif isinstance(item, Answer):
                    answer = item
            return answer

        try:
            async with ticket.turn():
                answer = await asyncio.to_thread(work)
        finally:
            ticket.release()
        for update in shown:  # the evidence goes up before the answer replaces it, never after
            await asyncio.wrap_future(update)
        assert answer is not None, "the pipeline ended without an answer"
        metrics.observe_answer(answer)
        return answer

    async def _update(self, client: SlackClient, channel: str, ts: str, text: str) -> None:
        try:
            await client.update_message(channel, ts, text)
        except SlackCallFailed as e:
            log.warning("could not show the evidence in %s: %s", channel, e.error)

    async def history(
        self, client: SlackClient, event: dict, bot_user_id: str | None, bot_id: str | None
    ) -> list[Message]:
        """The thread's latest messages before this one as chat turns: the bot's answers are
        the assistant's, everyone else's messages the user's."""
        thread_ts = event.get("thread_ts")
        if not thread_ts:
            return []
        turns: deque[Message] = deque(maxlen=HISTORY_MESSAGES)
        last = 0.0
        try:
            # Slack gives a thread oldest first: read it all to keep the latest turns.
            async for m in client.thread_replies(event["channel"], thread_ts):
                ts = float(m.get("ts", 0))
                if last < ts < float(event["ts"]):  # each message once, and only those before this one
                    last = ts
                    if turn := self._turn(m, bot_user_id, bot_id):
                        turns.append(turn)
        except SlackCallFailed as e:
            log.warning("no thread history (%s): answering without it", e.error)
            return []
        return list(turns)

    def _turn(self, m: dict, bot_user_id: str | None, bot_id: str | None) -> Message | None:
        mine = bool(m.get("user") and m.get("user") == bot_user_id) or bool(bot_id and m.get("bot_id") == bot_id)
        if m.get("bot_id") and not mine:
            return None  # other bots are not part of the conversation
        text = self._strip_mention(m.get("text") or "", bot_user_id)
        if not text or text == WORKING or (mine and text.startswith(APOLOGY)):
            return None  # the bot's placeholders and apologies are not answers
        return {"role": "assistant" if mine else "user", "content": text}

    @staticmethod
    def _strip_mention(text: str, bot_user_id: str | None) -> str:
        if bot_user_id:
            text = re.sub(rf"<@{re.escape(bot_user_id)}(\|[^>]*)?>", " ", text)
        return " ".join(_unescape(text).split())


def thread_filters(history: list[Message], reference_date: datetime | None) -> tuple[list[Message], Filters | None]:
    """The thread's turns with their `since:` / `until:` tokens taken out (the model that makes a
    follow-up standalone gets the questions, not the tokens), and the date bounds the thread asked
    for: those of its latest user message that gave some (a follow-up asks within the
    conversation's period unless it says its own). A message whose dates could not be read was
    answered with what to write; it sets none and is left as it was."""
    turns: list[Message] = []
    bounds = None
    for turn in history:
        if turn.get("role") == "user":
            try:
                text, filters = take_filter_tokens(turn.get("content") or "", reference_date)
            except InvalidInput:
                text, filters = turn.get("content") or "", None
            turn = {**turn, "content": text}
            bounds = filters or bounds
        if turn.get("content"):
            turns.append(turn)
    return turns, bounds


def build_slack_app(
    pipeline: PipelineSource, settings: Settings, slack: SlackSettings, *, socket_mode: bool = False,
    admission: Admission | None = None,
) -> tuple[AsyncApp, SlackBot]:
    """The bolt app with the bot's listeners, talking to `slack.api_url`."""
    token = _secret(slack.bot_token)
    if not token:
        raise RagError(
            "SLACK_BOT_TOKEN is not set: copy the Bot User OAuth Token (xoxb-...) from the Slack app's OAuth page."
        )
    client = web_client(token, slack.api_url)
    app = AsyncApp(
        client=client,
        signing_secret=_secret(slack.signing_secret),
        request_verification_enabled=not socket_mode,
        process_before_response=False,
    )
    bot = SlackBot(pipeline, SlackState(settings.data_dir / "slack.sqlite"), feedback_store(settings), admission)
    bot.register(app)
    return app, bot


def feedback_store(settings: Settings) -> FeedbackStore:
    return FeedbackStore(settings.data_dir / "feedback.sqlite")


def mount_slack(
    app: FastAPI,
    pipeline: PipelineSource,
    settings: Settings,
    slack: SlackSettings | None = None,
    *,
    dependencies: Sequence[Depends] = (),
    admission: Admission | None = None,
) -> None:
    """`pipeline` may be a function returning it, for apps that build it at start-up.

    Adds `GET /v1/feedback` (guarded by `dependencies`, e.g. the API-key check) and, when
    SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET are set, `POST /slack/events` (Slack signs it)."""
    slack = slack or SlackSettings()
    mount_feedback(app, feedback_store(settings), dependencies)
    if not slack.events_api_enabled:
        log.info("Slack Events API off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable POST /slack/events")
        return
    bolt, bot = build_slack_app(pipeline, settings, slack, admission=admission)
    app.state.slack_bot = bot  # drained at shutdown
    mount_events(app, bolt, SignatureVerifier(_secret(slack.signing_secret) or ""))


def mount_feedback(app: FastAPI, feedback: FeedbackStore, dependencies: Sequence[Depends] = ()) -> None:
    """`GET /v1/feedback`: mounted whether or not the bot runs here (a Socket Mode bot in another
    process stores its feedback in the same data dir)."""

    @app.get("/v1/feedback", response_model=list[FeedbackRecord], tags=["slack"], dependencies=list(dependencies))
    async def list_feedback(rating: Literal["up", "down"] | None = None) -> list[FeedbackRecord]:
        """👍 / 👎 clicks on the Slack bot's answers, oldest first (`?rating=up` or `down` to filter)."""
        return await asyncio.to_thread(feedback.list, rating)


def mount_events(app: FastAPI, bolt: AsyncApp, verifier: SignatureVerifier) -> None:
    """`POST /slack/events`: the Events API transport, requests checked before bolt sees them."""
    handler = events_handler(bolt)

    @app.post("/slack/events", include_in_schema=False)
    async def slack_events(req: Request) -> Response:
        body = await req.body()  # cached: bolt reads the same bytes
        if refusal := _refusal(req, body, verifier):
            return refusal
        return await handler.handle(req)


def _refusal(req: Request, body: bytes, verifier: SignatureVerifier) -> JSONResponse | None:
    """Why a request is turned away (401 unsigned, 400 signed but not Slack's shape), else None.
    Bolt parses the body before it checks the signature, and a body it cannot parse is a 500
    there: the signature is checked first (nobody else gets past it), then the shape."""
    if not _signature_readable(req) or not verifier.is_valid_request(body, dict(req.headers)):
        return JSONResponse({"error": "invalid request"}, status_code=401)  # as bolt answers a bad signature
    if problem := _malformed(body, req.headers.get("content-type", "")):
        log.warning("refused a signed Slack request: %s", problem)
        return JSONResponse({"error": f"invalid request: {problem}"}, status_code=400)
    return None
