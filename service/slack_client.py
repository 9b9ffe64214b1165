"""What the Slack bot asks of Slack, behind one small protocol, and its one real
implementation over slack_sdk / slack-bolt.

    SlackClient   post a message in a thread, update a message, read a thread's replies
                  (real: `WebAPIClient` over slack_sdk's AsyncWebClient; fake:
                  `tests.fixtures.fakes.FakeSlack`, in memory)

A failed call raises `SlackCallFailed` with Slack's error code, whatever the implementation:
the bot logs it and carries on, and never sees slack_sdk's exceptions. The two ways Slack
reaches the bot (the Events API over HTTP, or Socket Mode) are bolt's adapters, made here too,
so the rest of the service does not import slack_sdk's transports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

if TYPE_CHECKING:
    from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
    from slack_bolt.async_app import AsyncApp

REPLIES_PAGE = 200  # messages per page of a thread (Slack's suggested maximum is 200)


class SlackCallFailed(Exception):
    """A Slack call that did not go through; `error` is Slack's code (e.g. "channel_not_found")."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class SlackClient(Protocol):
    async def post_message(self, channel: str, thread_ts: str, text: str) -> str:
        """Posts `text` in the thread; returns the new message's ts (to update it later)."""
        ...

    async def update_message(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None: ...

    def thread_replies(self, channel: str, thread_ts: str) -> AsyncIterator[dict]:
        """Every message of the thread, oldest first (the parent included)."""
        ...


class WebAPIClient:
    """`SlackClient` over Slack's Web API (chat.postMessage, chat.update, conversations.replies)."""

    def __init__(self, web: AsyncWebClient) -> None:
        self.web = web

    async def post_message(self, channel: str, thread_ts: str, text: str) -> str:
        try:
            posted = await self.web.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
        except SlackApiError as e:
            raise SlackCallFailed(_code(e)) from None
        return posted["ts"]

    async def update_message(self, channel: str, ts: str, text: str, blocks: list[dict] | None = None) -> None:
        try:
            await self.web.chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        except SlackApiError as e:
            raise SlackCallFailed(_code(e)) from None

    async def thread_replies(self, channel: str, thread_ts: str) -> AsyncIterator[dict]:
        """Slack gives a thread a page at a time: every page is read (the latest turns are last)."""
        try:
            async for page in await self.web.conversations_replies(channel=channel, ts=thread_ts, limit=REPLIES_PAGE):
                for message in page.get("messages") or []:
                    yield message
        except SlackApiError as e:
            raise SlackCallFailed(_code(e)) from None


def _code(error: SlackApiError) -> str:
    return str(error.response.get("error") or "unknown_error")


def web_client(token: str, api_url: str) -> AsyncWebClient:
    return AsyncWebClient(token=token, base_url=api_url)


def events_handler(app: AsyncApp) -> AsyncSlackRequestHandler:
    """The Events API transport: Slack posts signed requests to the service."""
    from slack_bolt.adapter.fastapi.async_handler import AsyncSlackRequestHandler

    return AsyncSlackRequestHandler(app)


def socket_mode_handler(app: AsyncApp, app_token: str) -> AsyncSocketModeHandler:
    """The Socket Mode transport: the process connects out to Slack (no public URL needed)."""
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    return AsyncSocketModeHandler(app, app_token)
