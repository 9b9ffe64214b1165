"""SQuAD loading and sampling, on a small file in SQuAD v1.1 format (and on the real one if fetched)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.squad import SQUAD_FILE, articles_for, fetch_squad_dev, load_articles, load_squad, sample_questions

ROOT = Path(__file__).resolve().parents[2]


def tiny_squad(path: Path) -> Path:
    def qa(qid: str, text: str) -> dict:
        return {"id": qid, "question": f"question {qid}?", "answers": [{"text": text, "answer_start": 0}] * 2}

    data = {
        "version": "1.1",
        "data": [
            {
                "title": "Alpha",
                "paragraphs": [
                    {"context": "Alpha zero.", "qas": [qa("a0", "zero"), qa("a1", "Alpha")]},
                    {"context": "Alpha one.", "qas": [qa("a2", "one")]},
                ],
            },
            {
                "title": "Beta",
                "paragraphs": [
                    {"context": "Beta zero.", "qas": [qa(f"b{i}", "Beta") for i in range(7)]},
                ],
            },
        ],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_questions_and_articles(tmp_path):
    path = tiny_squad(tmp_path / "squad.json")
    questions = load_squad(path)
    assert [q.id for q in questions] == ["a0", "a1", "a2"] + [f"b{i}" for i in range(7)]
    assert questions[2].paragraph_id == "Alpha_p001" and questions[2].context == "Alpha one."
    assert questions[0].answers == ["zero", "zero"]
    articles = load_articles(path)
    assert articles == [
        {"id": "Alpha_p000", "title": "Alpha", "text": "Alpha zero."},
        {"id": "Alpha_p001", "title": "Alpha", "text": "Alpha one."},
        {"id": "Beta_p000", "title": "Beta", "text": "Beta zero."},
    ]
    assert {q.paragraph_id for q in questions} <= {a["id"] for a in articles}


def test_sampling_is_deterministic(tmp_path):
    questions = load_squad(tiny_squad(tmp_path / "squad.json"))
    first = sample_questions(questions, 4, seed=7)
    assert first == sample_questions(questions, 4, seed=7)
    assert len(first) == 4 and len({q.id for q in first}) == 4
    assert [questions.index(q) for q in first] == sorted(questions.index(q) for q in first)
    assert any(sample_questions(questions, 4, seed=s) != first for s in range(8))
    assert sample_questions(questions, 100, seed=1) == questions
    picked = articles_for(first)
    assert len(picked) == len({q.paragraph_id for q in first})


def test_fetch_skips_when_present(tmp_path):
    (tmp_path / SQUAD_FILE).write_text('{"data": []}')
    assert fetch_squad_dev(tmp_path) == tmp_path / SQUAD_FILE
    assert (tmp_path / SQUAD_FILE).read_text() == '{"data": []}'


REAL = ROOT / "eval/data" / SQUAD_FILE


@pytest.mark.skipif(not REAL.exists(), reason="run `python -m eval.squad eval/data` to fetch SQuAD dev")
def test_real_squad_dev_counts():
    assert len(load_squad(REAL)) in (10565, 10570)  # bigbench's copy, the official dev-v1.1.json
    assert len(load_articles(REAL)) == 2067


def test_paragraph_ids_are_the_ids_the_store_keeps(tmp_path):
    """Titles with characters ids cannot hold, or longer than an id, are scored in their stored form."""
    from rag.ingest.load import build_article

    long_title = "https://news.example.org/2026/11/20/" + "a-headline-that-runs-on-and-on-" * 5
    data = {"data": [{"title": title, "paragraphs": [{"context": f"Paragraph {i} of {title}.", "qas": [
        {"id": f"{title}-{i}", "question": "q?", "answers": [{"text": "x", "answer_start": 0}]}]} for i in range(3)]}
        for title in ("Sky_(United_Kingdom)", long_title)]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    articles = load_articles(path)
    stored = [build_article(a["id"], a["text"], title=a["title"]).doc_id for a in articles]
    assert [a["id"] for a in articles] == stored
    assert len(set(stored)) == 6  # the long title's paragraphs do not collide
    assert {q.paragraph_id for q in load_squad(path)} == set(stored)
