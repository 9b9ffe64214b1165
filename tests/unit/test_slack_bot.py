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


def scrape(url: str) -> dict[str, float]:
    """The samples of a Prometheus text page, by their line's name and labels."""
    import httpx

    body = httpx.get(url, timeout=10).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in body.splitlines() if line[:1] not in "#"}


def test_a_socket_mode_bot_serves_its_gate_metrics_over_http(memory_pipeline: Pipeline, tmp_path: Path) -> None:
    """`rag slack --socket` has no HTTP app: with RAG_SLACK_METRICS_PORT its gate and answers
    are scraped from a server of their own, the same series as `rag serve`'s /metrics."""
    from service.settings import ServiceSettings
    from service.slack import own_admission
    from service.slack_cli import metrics_served

    admission = own_admission(lambda: memory_pipeline, ServiceSettings(llm_concurrency=1, queue_size=0))
    bot = SlackBot(memory_pipeline, SlackState(tmp_path / "s.sqlite"), FeedbackStore(tmp_path / "f.sqlite"), admission)
    with metrics_served(admission.metrics, "127.0.0.1", 0) as url:
        before = scrape(url)
        assert before["rag_llm_ready"] == 0 and before["rag_llm_running"] == 0  # no question yet: no gate
        slack = FakeSlack()
        ask(bot, slack, QUESTION)
        held = admission()[0].admit()  # the one place taken: the next question is refused
        ask(bot, slack, QUESTION, channel="C9")
        held.release()
        after = scrape(url)
    assert after["rag_llm_ready"] == 1 and after["rag_llm_rejected_total"] == 1
    assert after['rag_answers_total{abstained="false"}'] + after['rag_answers_total{abstained="true"}'] == 1
    assert "busy" in slack.updates[-1]["text"]


def test_metrics_are_served_only_when_asked_and_a_taken_port_is_a_clear_error(memory_pipeline: Pipeline) -> None:
    from rag.errors import InvalidSetting
    from service.metrics import Metrics
    from service.settings import AppSettings
    from service.slack_cli import metrics_served

    assert AppSettings(_env_file=None).slack.metrics_port is None  # off unless set
    assert AppSettings(_env_file=None, RAG_SLACK_METRICS_PORT="9464").slack.metrics_port == 9464
    with metrics_served(Metrics(), "127.0.0.1", None) as url:
        assert url is None
    with metrics_served(Metrics(), "127.0.0.1", 0) as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        with pytest.raises(InvalidSetting, match="RAG_SLACK_METRICS_PORT"):
            with metrics_served(Metrics(), "127.0.0.1", port):
                pass
