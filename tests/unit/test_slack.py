"""The Slack bot over real HTTP: the FastAPI app with `mount_slack` under uvicorn on
loopback, signed requests as Slack sends them, a local stand-in of Slack's Web API,
real Chroma and embeddings, and the stand-in LLM."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from rag.pipeline import Pipeline
from rag.settings import Settings
from service.app import create_app
from service.settings import ServiceSettings
from service.slack import SlackSettings, build_slack_app, feedback_store, mount_slack
from service.slack_blocks import WORKING
from tests.conftest import make_settings
from tests.fixtures.fake_llm import FakeLLMServer
from tests.fixtures.http_server import SlowLLMServer
from tests.fixtures.slack_api import (
    BOT_ID,
    BOT_USER_ID,
    SlackAPIStub,
    block_actions_body,
    event_body,
    serve_app,
    signed_headers,
    slack_api_fixture,  # noqa: F401 - the `slack_api` fixture
)

SECRET = "test-signing-secret"
QUESTION = "What number of prisoners of war did each side agree to exchange?"


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, fake_llm: FakeLLMServer) -> Settings:
    return make_settings(tmp_path_factory.mktemp("slack") / "data", openai_base_url=fake_llm.base_url, llm_model="fake")


@pytest.fixture(scope="module")
def pipeline(settings: Settings) -> Iterator[Pipeline]:
    with Pipeline(settings, start_llm=False) as pipeline:
        pipeline.ensure_seeded()
        yield pipeline


def slack_app(pipeline: Pipeline, settings: Settings, api: SlackAPIStub) -> FastAPI:
    app = FastAPI()
    slack = SlackSettings(bot_token="xoxb-test", signing_secret=SECRET, api_url=api.base_url)
    mount_slack(app, pipeline, settings, slack)
    return app


@pytest.fixture(scope="module")
def service(pipeline: Pipeline, settings: Settings, slack_api: SlackAPIStub) -> Iterator[str]:
    with serve_app(slack_app(pipeline, settings, slack_api)) as url:
        yield url


def send(url: str, body: str, *, secret: str = SECRET, headers: dict | None = None, **kw) -> httpx.Response:
    content_type = "application/x-www-form-urlencoded" if body.startswith("payload=") else "application/json"
    all_headers = {**signed_headers(secret, body, content_type=content_type, **kw), **(headers or {})}
    return httpx.post(f"{url}/slack/events", content=body, headers=all_headers, timeout=10)


def mention(
    api: SlackAPIStub, text: str, channel: str = "C0NEWS01", user: str = "U0ALICE1", thread_ts: str | None = None
) -> dict:
    message = api.add_user_message(channel, user, f"<@{BOT_USER_ID}> {text}", thread_ts)
    return {**message, "type": "app_mention", "channel": channel}


def replies_in(api: SlackAPIStub, channel: str, thread_ts: str) -> list[dict]:
    """The bot's messages in a thread, each as it stands now (after chat.update)."""
    return [m for m in api.messages.get(channel, []) if m.get("thread_ts") == thread_ts and m.get("bot_id")]


def wait_answer(api: SlackAPIStub, channel: str, thread_ts: str, count: int = 1) -> list[dict]:
    def done() -> list[dict] | None:
        replies = replies_in(api, channel, thread_ts)
        return replies if len(replies) >= count and all(not m["text"].startswith(WORKING) for m in replies) else None

    return api.wait_for(done, what=f"the answer in {channel}/{thread_ts}")  # type: ignore[return-value]


def block_text(blocks: list[dict]) -> str:
    return json.dumps(blocks, ensure_ascii=False)


def test_mention_is_answered_in_its_thread_with_sources(service: str, slack_api: SlackAPIStub) -> None:
    event = mention(slack_api, QUESTION)
    started = time.monotonic()
    response = send(service, event_body(event))
    assert response.status_code == 200
    assert time.monotonic() - started < 3  # Slack's acknowledgement deadline

    [reply] = wait_answer(slack_api, "C0NEWS01", event["ts"])
    placeholder = next(c for c in slack_api.calls_to("chat.postMessage") if c.params.get("thread_ts") == event["ts"])
    assert placeholder.params["channel"] == "C0NEWS01" and placeholder.params["text"] == WORKING
    assert placeholder.token == "xoxb-test"
    updates = [c for c in slack_api.calls_to("chat.update") if c.params["ts"] == reply["ts"]]
    assert updates[0].params["channel"] == "C0NEWS01"
    # Before the model writes, the placeholder shows the best evidence with its article.
    assert updates[0].params["text"].startswith(WORKING) and "\n> " in updates[0].params["text"]

    text = block_text(reply["blocks"])
    assert "1,000" in text and "[1]" in text
    assert "*Sources*" in text
    sources = [b for b in reply["blocks"] if b["type"] == "section" and b["text"]["text"].startswith("*[1]*")]
    assert sources and "\n>" in sources[0]["text"]["text"]  # the quoted passage
    actions = [b for b in reply["blocks"] if b["type"] == "actions"]
    assert [e["action_id"] for e in actions[0]["elements"]] == ["feedback_up", "feedback_down"]
    assert all(len(b["text"]["text"]) <= 3000 for b in reply["blocks"] if b["type"] == "section")


def test_retries_and_repeated_event_ids_get_no_second_reply(service: str, slack_api: SlackAPIStub) -> None:
    event = mention(slack_api, QUESTION)
    body = event_body(event, event_id="Ev0REPEAT1")
    assert send(service, body).status_code == 200
    wait_answer(slack_api, "C0NEWS01", event["ts"])

    assert send(service, body).status_code == 200  # the same event id again
    retried = send(
        service, event_body(event), headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    )
    assert retried.status_code == 200
    # The same message again under a new event id, as a `message` event (a mention arrives as both).
    assert send(service, event_body({**event, "type": "message", "channel_type": "channel"})).status_code == 200

    # A later question is answered; by then any second reply to the first would have been posted.
    later = mention(slack_api, "Where were the talks held?")
    send(service, event_body(later))
    wait_answer(slack_api, "C0NEWS01", later["ts"])
    assert len(replies_in(slack_api, "C0NEWS01", event["ts"])) == 1


def test_a_retry_of_a_delivery_that_never_arrived_is_answered(service: str, slack_api: SlackAPIStub) -> None:
    # Slack retries after errors and restarts too: the first delivery may never have reached us.
    event = mention(slack_api, "Where were the talks held?")
    headers = {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}
    assert send(service, event_body(event, event_id="Ev0RETRIED1"), headers=headers).status_code == 200
    [reply] = wait_answer(slack_api, "C0NEWS01", event["ts"])
    assert "[1]" in block_text(reply["blocks"])


def test_bad_or_stale_signature_is_401_and_nothing_is_posted(service: str, slack_api: SlackAPIStub) -> None:
    before = len(slack_api.calls)
    event = mention(slack_api, QUESTION)
    assert send(service, event_body(event), secret="wrong-secret").status_code == 401
    assert send(service, event_body(event), timestamp=int(time.time()) - 600).status_code == 401
    unsigned = httpx.post(
        f"{service}/slack/events", content=event_body(event), headers={"Content-Type": "application/json"}
    )
    assert unsigned.status_code == 401
    time.sleep(0.5)  # nothing is expected, so there is nothing to poll for
    assert [c.method for c in slack_api.calls[before:] if c.method != "auth.test"] == []


def test_malformed_signature_headers_are_401_not_500(service: str, slack_api: SlackAPIStub) -> None:
    before = len(slack_api.calls)
    body = event_body(mention(slack_api, QUESTION))
    for timestamp in ("abc", "", "1e9", "9" * 5000):
        assert send(service, body, headers={"X-Slack-Request-Timestamp": timestamp}).status_code == 401
    assert send(service, body, headers={"X-Slack-Signature": "v0=é".encode("latin-1")}).status_code == 401
    time.sleep(0.5)  # nothing is expected, so there is nothing to poll for
    assert [c.method for c in slack_api.calls[before:] if c.method != "auth.test"] == []


def test_follow_up_in_the_thread_is_answered_with_the_earlier_turns(
    service: str,
    slack_api: SlackAPIStub,
    fake_llm: FakeLLMServer,
) -> None:
    first = mention(slack_api, QUESTION, channel="C0NEWS02")
    send(service, event_body(first))
    wait_answer(slack_api, "C0NEWS02", first["ts"])

    requests_before = len(fake_llm.requests)
    follow = slack_api.add_user_message("C0NEWS02", "U0ALICE1", "And where did they meet?", thread_ts=first["ts"])
    send(service, event_body({"type": "message", "channel": "C0NEWS02", "channel_type": "channel", **follow}))
    replies = wait_answer(slack_api, "C0NEWS02", first["ts"], count=2)
    assert len(replies) == 2

    history = slack_api.calls_to("conversations.replies")[-1].params
    assert history["channel"] == "C0NEWS02" and history["ts"] == first["ts"]
    condense = [r for r in fake_llm.requests[requests_before:] if "Follow-up:" in r["messages"][-1]["content"]]
    assert condense, "the follow-up was not condensed with the thread's history"
    prompt = condense[0]["messages"][-1]["content"]
    assert QUESTION in prompt and "And where did they meet?" in prompt
    assert f"<@{BOT_USER_ID}>" not in prompt
    assert "Assistant:" in prompt  # the bot's earlier answer came back as the assistant's turn


def test_a_long_threads_latest_turns_are_the_history_and_apologies_are_left_out(
    service: str,
    slack_api: SlackAPIStub,
    fake_llm: FakeLLMServer,
) -> None:
    first = mention(slack_api, QUESTION, channel="C0NEWS07")
    send(service, event_body(first))
    wait_answer(slack_api, "C0NEWS07", first["ts"])
    for i in range(250):  # more than one page of conversations.replies
        slack_api.add_user_message("C0NEWS07", "U0BOB001", f"remark number {i}", thread_ts=first["ts"])
    apology = "Sorry, I couldn't answer that. Try later."
    slack_api.add_user_message("C0NEWS07", BOT_USER_ID, apology, first["ts"])["bot_id"] = BOT_ID  # as the bot posts it

    requests_before = len(fake_llm.requests)
    follow = slack_api.add_user_message("C0NEWS07", "U0ALICE1", "And where did they meet?", thread_ts=first["ts"])
    send(service, event_body({"type": "message", "channel": "C0NEWS07", "channel_type": "channel", **follow}))
    wait_answer(slack_api, "C0NEWS07", first["ts"], count=3)

    pages = [c for c in slack_api.calls_to("conversations.replies") if c.params["ts"] == first["ts"]]
    assert len(pages) >= 2 and pages[-1].params.get("cursor")
    condense = [r for r in fake_llm.requests[requests_before:] if "Follow-up:" in r["messages"][-1]["content"]]
    prompt = condense[0]["messages"][-1]["content"]
    assert "User: remark number 249" in prompt  # the latest turns, not the thread's first 200 messages
    assert "Sorry" not in prompt  # the bot's apology is not an answer it gave


def test_ignores_other_threads_bots_and_its_own_messages(service: str, slack_api: SlackAPIStub) -> None:
    chatter = slack_api.add_user_message("C0NEWS03", "U0BOB001", "lunch?")
    reply = slack_api.add_user_message("C0NEWS03", "U0BOB001", "sure", thread_ts=chatter["ts"])
    send(service, event_body({"type": "message", "channel": "C0NEWS03", "channel_type": "channel", **reply}))
    bot = {
        "type": "message",
        "subtype": "bot_message",
        "bot_id": "B0OTHER1",
        "channel": "D0DM0001",
        "channel_type": "im",
        "text": "I am a bot",
        "ts": slack_api.next_ts(),
    }
    send(service, event_body(bot))
    own = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": "BBOT0001",
        "channel": "D0DM0001",
        "channel_type": "im",
        "text": "my own answer",
        "ts": slack_api.next_ts(),
    }
    send(service, event_body(own))

    dm = slack_api.add_user_message("D0DM0001", "U0ALICE1", QUESTION)
    send(service, event_body({"type": "message", "channel": "D0DM0001", "channel_type": "im", **dm}))
    [answer] = wait_answer(slack_api, "D0DM0001", dm["ts"])  # direct messages are answered, in a thread
    assert "1,000" in block_text(answer["blocks"])
    assert replies_in(slack_api, "C0NEWS03", chatter["ts"]) == []
    assert [
        m for m in slack_api.messages["D0DM0001"] if m.get("bot_id") == "BBOT0001" and m.get("thread_ts") != dm["ts"]
    ] == []


def ratings_of(url: str, answer_id: str) -> list[dict]:
    """The stored clicks on one answer (a click is acknowledged before it is stored)."""
    return [r for r in httpx.get(f"{url}/v1/feedback", timeout=10).json() if r["answer_id"] == answer_id]


def test_feedback_click_is_stored_and_listed(
    service: str, slack_api: SlackAPIStub, settings: Settings, tmp_path: Path
) -> None:
    event = mention(slack_api, QUESTION, channel="C0NEWS04")
    send(service, event_body(event))
    [reply] = wait_answer(slack_api, "C0NEWS04", event["ts"])
    button = next(b for b in reply["blocks"] if b["type"] == "actions")["elements"][0]

    click = block_actions_body(button["action_id"], button["value"], "U0CAROL1", "C0NEWS04", reply["ts"])
    assert send(service, click, secret="wrong-secret").status_code == 401
    assert send(service, click).status_code == 200

    [record] = slack_api.wait_for(lambda: ratings_of(service, button["value"]), what="the stored click")  # type: ignore[misc]
    assert record["rating"] == "up" and record["user"] == "U0CAROL1"
    assert record["question"] == QUESTION and "1,000" in record["answer"] and not record["abstained"]
    assert record["citations"] and record["citations"][0]["doc_id"]
    assert record["time"]

    out = tmp_path / "gold.jsonl"
    assert feedback_store(settings).export_gold(out) >= 1
    cases = [json.loads(line) for line in out.read_text().splitlines()]
    case = next(c for c in cases if c["id"] == f"slack-{button['value']}")
    assert case == {
        "id": case["id"],
        "question": QUESTION,
        "facts": [],
        "sources": sorted({c["doc_id"] for c in record["citations"]}),
        "answerable": True,
        "conflict": False,
        "answer": record["answer"],
    }

    down = block_actions_body("feedback_down", button["value"], "U0CAROL1", "C0NEWS04", reply["ts"])
    assert send(service, down).status_code == 200
    changed = lambda: any(r["rating"] == "down" for r in ratings_of(service, button["value"]))  # noqa: E731
    slack_api.wait_for(changed, what="the changed click")
    assert [r["rating"] for r in ratings_of(service, button["value"])] == ["down"]  # it replaces the earlier click


def test_llm_failure_posts_an_apology_and_the_bot_keeps_answering(
    pipeline: Pipeline,
    settings: Settings,
    slack_api: SlackAPIStub,
) -> None:
    dead = make_settings(settings.data_dir, openai_base_url="http://127.0.0.1:9/v1", llm_model="fake", llm_timeout_s=5)
    with Pipeline(dead, start_llm=False) as broken, serve_app(slack_app(broken, dead, slack_api)) as url:
        event = mention(slack_api, QUESTION, channel="C0NEWS05")
        assert send(url, event_body(event)).status_code == 200
        [reply] = wait_answer(slack_api, "C0NEWS05", event["ts"])
        assert reply["text"].startswith("Sorry, I couldn't answer that.")
        assert ":warning:" in block_text(reply["blocks"])

        again = mention(slack_api, "", channel="C0NEWS05")
        send(url, event_body(again))
        [reply] = wait_answer(slack_api, "C0NEWS05", again["ts"])
        assert "The question is empty" in reply["text"]


def test_without_slack_credentials_only_feedback_is_mounted(pipeline: Pipeline, settings: Settings) -> None:
    app = FastAPI()
    mount_slack(app, pipeline, settings, SlackSettings(bot_token=None, signing_secret=None))
    paths = {route.path for route in app.routes}
    assert "/v1/feedback" in paths and "/slack/events" not in paths


def test_socket_mode_runs_the_same_listeners(pipeline: Pipeline, settings: Settings, slack_api: SlackAPIStub) -> None:
    """Socket Mode needs a websocket to Slack; below it, bolt's Socket Mode handler feeds the
    same AsyncApp the same way. Here it gets an envelope as Slack would send it."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_sdk.socket_mode.request import SocketModeRequest

    class Socket:  # the websocket side: records the acknowledgements
        logger = logging.getLogger("socket")
        acks: list = []

        async def send_socket_mode_response(self, response: object) -> None:
            self.acks.append(response)

    slack = SlackSettings(bot_token="xoxb-test", app_token="xapp-test", api_url=slack_api.base_url)
    app, bot = build_slack_app(pipeline, settings, slack, socket_mode=True)
    event = mention(slack_api, QUESTION, channel="C0SOCKET")
    envelope = json.loads(event_body(event))
    socket = Socket()

    async def deliver() -> list[dict]:
        handler = AsyncSocketModeHandler(app, "xapp-test")
        for attempt in (0, 1):  # Slack re-delivers with retry_attempt and the same event id
            request = SocketModeRequest(
                type="events_api", envelope_id=f"env-{attempt}", payload={**envelope, "retry_attempt": attempt}
            )
            await handler.handle(socket, request)  # type: ignore[arg-type]
        assert [a.envelope_id for a in socket.acks] == ["env-0", "env-1"]  # acknowledged before the work
        replies = await asyncio.to_thread(wait_answer, slack_api, "C0SOCKET", event["ts"])  # the loop keeps running
        await bot.drain()
        await handler.client.close()
        return replies

    [reply] = asyncio.run(deliver())
    assert len(replies_in(slack_api, "C0SOCKET", event["ts"])) == 1
    assert "1,000" in block_text(reply["blocks"]) and "*Sources*" in block_text(reply["blocks"])


def test_export_feedback_command_writes_gold_lines(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    from rag.cli import main
    from rag.schema import Answer

    data = tmp_path / "data"
    store = feedback_store(make_settings(data))
    liked = store.record_answer(Answer(answer="A [1].", abstained=False, model="m", question="Q?"), "q", "C1", "1.0")
    store.add(liked, "up", "U1")
    store.add(store.record_answer(Answer(answer="B", abstained=True, model="m"), "other", "C1", "2.0"), "down", "U1")
    assert not store.add("no-such-answer", "up", "U1")

    monkeypatch.setenv("RAG_DATA_DIR", str(data))  # read with every other setting, once
    main(["slack", "--export-feedback", str(tmp_path / "out.jsonl")])
    assert "wrote 1 candidate gold case" in capsys.readouterr().out
    [line] = (tmp_path / "out.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "id": f"slack-{liked}", "question": "Q?", "facts": [], "sources": [], "answerable": True,
        "conflict": False, "answer": "A [1].",
    }  # fmt: skip


def test_a_pipeline_still_starting_gets_an_apology(settings: Settings, slack_api: SlackAPIStub) -> None:
    """`create_app` builds its pipeline at start-up: `mount_slack` takes a function returning it."""
    app = FastAPI()
    slack = SlackSettings(bot_token="xoxb-test", signing_secret=SECRET, api_url=slack_api.base_url)
    mount_slack(app, lambda: None, settings, slack)
    with serve_app(app) as url:
        event = mention(slack_api, QUESTION, channel="C0NEWS06")
        assert send(url, event_body(event)).status_code == 200
        [reply] = wait_answer(slack_api, "C0NEWS06", event["ts"])
    assert "still starting" in reply["text"]


def test_shutdown_lets_answers_under_way_finish(
    settings: Settings, slack_api: SlackAPIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`rag serve` (`create_app`) drains the bot before it stops: no placeholder is left behind."""
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.setenv("SLACK_SIGNING_SECRET", SECRET)
    monkeypatch.setenv("RAG_SLACK_API_URL", slack_api.base_url)
    with SlowLLMServer(delay_s=2.0) as llm:
        slow = make_settings(settings.data_dir, openai_base_url=llm.base_url, llm_model="fake")
        with Pipeline(slow, start_llm=False) as pipeline:
            with serve_app(create_app(slow, pipeline, ServiceSettings(api_keys=None))) as url:
                event = mention(slack_api, QUESTION, channel="C0NEWS08")
                assert send(url, event_body(event)).status_code == 200
                slack_api.wait_for(lambda: replies_in(slack_api, "C0NEWS08", event["ts"]), what="the placeholder")
            [reply] = replies_in(slack_api, "C0NEWS08", event["ts"])  # the server has stopped
    assert reply["text"] != WORKING and "1,000" in block_text(reply["blocks"])


def test_shutdown_waits_for_answers_only_so_long(
    pipeline: Pipeline, settings: Settings, slack_api: SlackAPIStub, caplog: pytest.LogCaptureFixture
) -> None:
    slack = SlackSettings(bot_token="xoxb-test", api_url=slack_api.base_url)
    _, bot = build_slack_app(pipeline, settings, slack, socket_mode=True)

    async def stop_while_answering() -> float:
        bot.spawn(asyncio.sleep(60))  # an answer that would outlast any shutdown
        started = time.monotonic()
        await bot.drain(timeout=0.2)
        return time.monotonic() - started

    assert asyncio.run(stop_while_answering()) < 5
    assert "1 answer(s) unfinished" in caplog.text


def test_socket_mode_queues_at_one_gate_sized_by_the_service_settings(
    pipeline: Pipeline, settings: Settings, slack_api: SlackAPIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bot in a process of its own (Socket Mode) admits questions as `rag serve` does: one
    gate sized by RAG_LLM_CONCURRENCY and RAG_QUEUE_SIZE, refusals and answers counted."""
    from service.slack_client import WebAPIClient, web_client

    monkeypatch.setenv("RAG_LLM_CONCURRENCY", "1")
    monkeypatch.setenv("RAG_QUEUE_SIZE", "0")
    slack = SlackSettings(bot_token="xoxb-test", app_token="xapp-test", api_url=slack_api.base_url)
    _, bot = build_slack_app(pipeline, settings, slack, socket_mode=True)
    gate, metrics = bot._admission()
    assert (gate.concurrency, gate.queue_size) == (1, 0) and bot._admission()[0] is gate

    async def ask(channel: str) -> str:
        event = mention(slack_api, QUESTION, channel=channel)
        client = WebAPIClient(web_client("xoxb-test", slack_api.base_url))
        await bot.answer(client, event, BOT_USER_ID, BOT_ID)
        [reply] = replies_in(slack_api, channel, event["ts"])
        return reply["text"]

    held = gate.admit()  # the one place is taken (by an HTTP question, say)
    assert "busy" in asyncio.run(ask("C0BUSY1")) and gate.rejected == 1
    held.release()
    assert "1,000" in asyncio.run(ask("C0BUSY2"))
    assert 'rag_answers_total{abstained="false"} 1.0' in metrics.render().decode()
