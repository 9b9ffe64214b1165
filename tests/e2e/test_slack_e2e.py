"""The Slack bot end to end: the real local model, real Chroma and embeddings, the FastAPI
app under uvicorn, signed requests, and the local stand-in of Slack's Web API."""

from __future__ import annotations

import json

import pytest
from fastapi import FastAPI

from rag.pipeline import Pipeline
from service.slack import SlackSettings, mount_slack
from service.slack_blocks import WORKING
from tests.fixtures.slack_api import (
    BOT_USER_ID,
    SlackAPIStub,
    event_body,
    serve_app,
    signed_headers,
    slack_api_fixture,  # noqa: F401 - the `slack_api` fixture
)

SECRET = "e2e-signing-secret"


@pytest.mark.e2e
def test_mention_gets_a_real_answer_with_sources(real_pipeline: Pipeline, slack_api: SlackAPIStub) -> None:
    import httpx

    app = FastAPI()
    slack = SlackSettings(bot_token="xoxb-e2e", signing_secret=SECRET, api_url=slack_api.base_url)
    mount_slack(app, real_pipeline, real_pipeline.settings, slack)
    with serve_app(app) as url:
        message = slack_api.add_user_message(
            "C0E2E001", "U0ALICE1", f"<@{BOT_USER_ID}> What number of prisoners of war did each side agree to exchange?"
        )
        body = event_body({**message, "type": "app_mention", "channel": "C0E2E001"})
        response = httpx.post(f"{url}/slack/events", content=body, headers=signed_headers(SECRET, body), timeout=10)
        assert response.status_code == 200

        def answered() -> dict | None:
            mine = [
                m for m in slack_api.messages["C0E2E001"] if m.get("thread_ts") == message["ts"] and m.get("bot_id")
            ]
            return mine[0] if mine and not mine[0]["text"].startswith(WORKING) else None  # past the evidence preview

        reply = slack_api.wait_for(answered, timeout=240, what="the real model's answer")
    blocks = json.dumps(reply["blocks"], ensure_ascii=False)  # type: ignore[index]
    assert "1,000" in blocks or "1000" in blocks
    assert "*Sources*" in blocks and "*[1]*" in blocks
