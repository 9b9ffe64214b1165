"""Bad settings: the `rag` command names the variable to fix, in one line, without a traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def rag(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "rag.cli", *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RAG_TOP_K": "abc"}, "RAG_TOP_K"),
        ({"RAG_TOP_K": "0"}, "RAG_TOP_K"),
        ({"RAG_SEARCH_CACHE": "-1"}, "RAG_SEARCH_CACHE"),
        ({"RAG_CHUNK_SIZE": "64", "RAG_CHUNK_OVERLAP": "64"}, "RAG_CHUNK_OVERLAP must be smaller than RAG_CHUNK_SIZE"),
    ],
)
def test_a_bad_setting_is_named_without_a_traceback(env, named, tmp_path):
    done = rag("docs", RAG_DATA_DIR=str(tmp_path), **env)
    assert done.returncode == 2
    assert named in done.stderr and "Traceback" not in done.stderr


def test_serve_names_a_bad_port_and_echoes_no_secret(tmp_path):
    done = rag("serve", "--help", RAG_PORT="not-a-port", OPENAI_API_KEY="sk-secret-value")
    assert done.returncode == 0, "the help is readable whatever the environment says"
    done = rag("serve", RAG_PORT="not-a-port", OPENAI_API_KEY="sk-secret-value", RAG_DATA_DIR=str(tmp_path))
    assert done.returncode == 2 and "RAG_PORT" in done.stderr and "Traceback" not in done.stderr
    assert "sk-secret-value" not in done.stderr + done.stdout


def test_urls_in_messages_carry_no_credentials(tmp_path):
    from rag.errors import LLMUnavailable, StoreUnavailable
    from rag.llm.client import ChatLLM
    from rag.pipeline import Pipeline
    from tests.conftest import make_settings

    llm = ChatLLM("http://bob:s3cret@127.0.0.1:9/v1?api-key=k3y", "sk-x", "m", timeout_s=5, max_tokens=5, concurrency=1)
    with pytest.raises(LLMUnavailable) as failed:
        llm.complete([{"role": "user", "content": "hi"}])
    assert "http://127.0.0.1:9/v1" in failed.value.message
    assert "s3cret" not in failed.value.message and "k3y" not in failed.value.message
    with pytest.raises(StoreUnavailable) as failed:
        Pipeline(make_settings(tmp_path / "data", chroma_url="http://bob:s3cret@127.0.0.1:9"), start_llm=False)
    assert "http://127.0.0.1:9" in failed.value.message and "s3cret" not in failed.value.message


def test_prompts_are_package_data_and_a_folder_overrides_them(tmp_path, monkeypatch) -> None:
    from rag.answer import prompts
    from rag.settings import get_settings

    packaged = prompts.load("answer_system")
    assert "evidence" in packaged and "Qwen" not in packaged  # model-neutral
    (tmp_path / "answer_system.txt").write_text("Answer briefly from the evidence.\n", encoding="utf-8")
    monkeypatch.setenv("RAG_PROMPTS_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        assert prompts.load("answer_system") == "Answer briefly from the evidence."
        assert prompts.load("condense") == prompts._load("condense", None)  # names the folder lacks: packaged
        monkeypatch.setenv("RAG_PROMPTS_DIR", str(tmp_path / "missing"))
        get_settings.cache_clear()
        try:
            prompts.load("answer_system")
            raise AssertionError("a missing prompts folder must be reported")
        except FileNotFoundError as e:
            assert "RAG_PROMPTS_DIR" in str(e)
    finally:
        get_settings.cache_clear()


def test_one_reading_gives_every_part_its_settings_under_the_same_names(tmp_path, monkeypatch):
    """`rag serve` and `rag slack` read the environment and `.env` once (AppSettings); the pipeline,
    the HTTP layer and Slack each get their section with the attributes they always had."""
    from rag.settings import Settings
    from service.settings import AppSettings, ServiceSettings, SlackSettings

    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("RAG_TOP_K=7\nRAG_QUEUE_SIZE=2\nSLACK_SIGNING_SECRET=from-dotenv\n")
    monkeypatch.setenv("RAG_PORT", "9001")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-env")
    monkeypatch.setenv("RAG_SLACK_API_URL", "http://127.0.0.1:9/api/")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    config = AppSettings()
    rag, service, slack = config.rag, config.service, config.slack
    assert (rag.top_k, rag.use_local_llm, rag.openai_base_url) == (7, False, "http://127.0.0.1:9/v1")
    assert (service.port, service.queue_size) == (9001, 2)
    assert slack.events_api_enabled and slack.api_url == "http://127.0.0.1:9/api/"
    assert slack.signing_secret.get_secret_value() == "from-dotenv"
    # the same values each class reads on its own
    assert rag == Settings() and service == ServiceSettings() and slack == SlackSettings()


def test_a_bad_value_in_any_section_is_named_by_its_variable(monkeypatch):
    from rag.errors import InvalidSetting
    from rag.settings import read
    from service.settings import AppSettings

    monkeypatch.setenv("RAG_QUEUE_SIZE", "-1")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-secret-token")
    monkeypatch.setenv("RAG_TOP_K", "0")
    with pytest.raises(InvalidSetting) as bad:
        read(AppSettings)
    assert "RAG_QUEUE_SIZE" in bad.value.message and "RAG_TOP_K" in bad.value.message
    assert "xoxb-secret-token" not in bad.value.message
