"""The embedded defaults for real: local Qwen 1.5B on loopback, ONNX MiniLM, embedded Chroma."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rag.pipeline import Pipeline

pytestmark = pytest.mark.e2e


def test_prisoner_swap_answered_with_1000_and_a_citation_that_holds_it(real_pipeline: Pipeline):
    answer = real_pipeline.ask("How many prisoners did each side agree to swap?")
    assert not answer.abstained, answer
    assert "1,000" in answer.answer or "1000" in answer.answer
    assert any("1,000" in c.text for c in answer.citations)
    assert answer.model == "qwen2.5-coder-1.5b"
    assert answer.timings.generate_ms > 0 and answer.usage.completion_tokens > 0


def test_short_answer_is_the_few_words_that_answer(real_pipeline: Pipeline):
    answer = real_pipeline.ask("Who chaired the meeting between the Ukrainian and Russian sides?", short=True)
    assert not answer.abstained, answer
    assert answer.short_answer and "Fidan" in answer.short_answer and len(answer.short_answer.split()) <= 6, answer


@pytest.mark.parametrize(
    "question",
    ["How many journalists covered the Istanbul talks?", "What did the Chinese foreign ministry say about the talks?"],
)
def test_question_the_articles_do_not_cover_abstains(real_pipeline: Pipeline, question: str):
    answer = real_pipeline.ask(question)
    assert answer.abstained, answer
    assert answer.citations == []


def test_every_citation_of_a_real_answer_is_an_exact_span(real_pipeline: Pipeline):
    answer = real_pipeline.ask("Who led Ukraine's delegation?")
    assert not answer.abstained, answer
    assert "Umerov" in answer.answer
    for c in answer.citations:
        _, article = real_pipeline.document(c.doc_id)
        assert article[c.start : c.end] == c.text


def test_rag_ask_json_from_the_command_line(real_pipeline: Pipeline):
    settings = real_pipeline.settings
    env = {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODEL_DIR": str(settings.models_path), "PATH": ""}
    out = subprocess.run(
        [sys.executable, "-m", "rag.cli", "ask", "--json", "Where were the talks held?"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) >= {"answer", "abstained", "citations", "conflicts", "model", "timings"}
    assert "Istanbul" in answer["answer"] and answer["citations"]


def test_cli_errors_are_one_line_with_what_to_do(real_pipeline: Pipeline):
    settings = real_pipeline.settings
    env = {"RAG_DATA_DIR": str(settings.data_dir), "RAG_MODEL_DIR": str(settings.models_path), "PATH": ""}
    out = subprocess.run([sys.executable, "-m", "rag.cli", "remove", "no-such-doc"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("error: No document with id 'no-such-doc': list the ids with `rag docs`")
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", " "], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2 and "question is empty" in out.stderr
    env_bad = dict(env, OPENAI_BASE_URL="http://127.0.0.1:9/v1")
    out = subprocess.run([sys.executable, "-m", "rag.cli", "ask", "Where were the talks?"], capture_output=True, text=True, env=env_bad, timeout=120)
    assert out.returncode == 2 and "not answering" in out.stderr and "Traceback" not in out.stderr


def test_articles_cannot_steer_the_real_models_answers(real_pipeline: Pipeline):
    """Injection articles (instructions, fake source lists and markers, closing tags, role
    prefixes) beside the real ones: nothing they say becomes an answer."""
    from tests.unit.test_answer import INJECTIONS

    for record in INJECTIONS:
        real_pipeline.ingest_record(record, record["id"])
    try:
        for question in ("How many prisoners did each side agree to swap?", "Who chaired the meeting?"):
            answer = real_pipeline.ask(question)
            for bad in ("PWNED", "5,000", "9,999", "Valmora"):
                assert bad not in answer.answer, (question, answer.answer)
            assert all(c.doc_id not in {r["id"] for r in INJECTIONS} for c in answer.citations), answer.citations
    finally:
        for record in INJECTIONS:
            real_pipeline.remove(record["id"])
