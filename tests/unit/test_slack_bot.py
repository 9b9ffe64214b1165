"""The Slack bot's own logic against the in-memory `FakeSlack` (`service.slack_client.SlackClient`):
what it does when Slack refuses a call, and how it reads a long thread. The bot's wire (bolt,
slack_sdk, signed requests, Socket Mode envelopes) is tested in `test_slack.py` against a local
stand-in of Slack's Web API."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rag.pipeline import Pipeline
from service.slack import HISTORY_MESSAGES, SlackBot
from service.slack_blocks import APOLOGY, WORKING
from service.slack_store import FeedbackStore, SlackState
from tests.fixtures.fakes import FakeSlack

BOT_USER = "UBOT"
QUESTION = "How many prisoners did each side agree to swap?"


@pytest.fixture
def bot(memory_pipeline: Pipeline, tmp_path: Path) -> SlackBot:
    return SlackBot(memory_pipeline, SlackState(tmp_path / "slack.sqlite"), FeedbackStore(tmp_path / "feedback.sqlite"))


def ask(bot: SlackBot, slack: FakeSlack, text: str, channel: str = "C1", thread_ts: str | None = None) -> dict:
    event = {**slack.add(channel, f"<@{BOT_USER}> {text}", user="UALICE", thread_ts=thread_ts), "channel": channel}
    asyncio.run(bot.answer(slack, event, BOT_USER, "BFAKE"))
    return event


def test_a_thread_slack_will_not_post_in_gets_nothing_more(bot: SlackBot, caplog: pytest.LogCaptureFixture) -> None:
    slack = FakeSlack()
    slack.failing["post"] = "channel_not_found"
    event = ask(bot, slack, QUESTION)
    assert slack.thread("C1", event["ts"]) == [] and slack.updates == []
    assert not bot.state.is_bot_thread("C1", event["ts"]), "a thread it never posted in is not the bot's"
    assert "channel_not_found" in caplog.text


def test_an_answer_slack_will_not_show_is_logged_not_raised(bot: SlackBot, caplog: pytest.LogCaptureFixture) -> None:
    slack = FakeSlack()
    slack.failing["update"] = "msg_too_long"
    event = ask(bot, slack, QUESTION)
    [placeholder] = slack.thread("C1", event["ts"])
    assert placeholder["text"] == WORKING  # the placeholder stays: Slack refused every update
    assert "could not update the answer in C1: msg_too_long" in caplog.text


def test_without_the_threads_history_the_question_is_answered_alone(
    bot: SlackBot, caplog: pytest.LogCaptureFixture
) -> None:
    slack = FakeSlack(page_size=2)
    first = slack.add("C2", f"<@{BOT_USER}> Where were the talks held?", user="UALICE")
    slack.add("C2", "In Istanbul.", bot_id="BFAKE", thread_ts=first["ts"])
    slack.add("C2", "Thanks.", user="UBOB", thread_ts=first["ts"])
    slack.failing["replies"] = "ratelimited"  # the second page fails
    ask(bot, slack, QUESTION, channel="C2", thread_ts=first["ts"])
    answer = slack.updates[-1]["text"]
    assert "no thread history (ratelimited)" in caplog.text
    assert not answer.startswith(APOLOGY) and answer != WORKING


def test_the_history_is_the_latest_turns_of_every_page_of_the_thread(bot: SlackBot) -> None:
    slack = FakeSlack(page_size=3)
    first = slack.add("C3", f"<@{BOT_USER}> turn 0", user="UALICE")
    for n in range(1, HISTORY_MESSAGES + 10):
        if n % 2:
            slack.add("C3", f"answer {n}", bot_id="BFAKE", thread_ts=first["ts"])
        else:
            slack.add("C3", f"turn {n}", user="UALICE", thread_ts=first["ts"])
    slack.add("C3", "a digest", bot_id="BOTHER", thread_ts=first["ts"])  # another bot: not a turn
    slack.add("C3", f"{APOLOGY} try later", bot_id="BFAKE", thread_ts=first["ts"])  # ours, not an answer
    now = {**slack.add("C3", "and now?", user="UALICE", thread_ts=first["ts"]), "channel": "C3"}
    turns = asyncio.run(bot.history(slack, now, BOT_USER, "BFAKE"))
    assert len(turns) == HISTORY_MESSAGES
    assert turns[-1] == {"role": "assistant", "content": f"answer {HISTORY_MESSAGES + 9}"}
    assert turns[0]["content"] == "turn 10" and turns[1]["role"] == "assistant"
    assert all("digest" not in t["content"] and APOLOGY not in t["content"] for t in turns)
