"""The gold set itself: well-formed, and every fact really is in the articles it names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.metrics import fact_found

ROOT = Path(__file__).resolve().parents[2]
GOLD_FILE = ROOT / "eval/gold/seeds.jsonl"
SEED_TEXT = {p.stem: p.read_text(encoding="utf-8") for p in sorted((ROOT / "seeds").glob("*.txt"))}
LINES = GOLD_FILE.read_text(encoding="utf-8").splitlines()
GOLD = [json.loads(line) for line in LINES]
KEYS = ["id", "question", "facts", "sources", "answerable", "conflict"]


def test_every_line_parses_with_the_right_keys_and_types():
    assert LINES and all(line.strip() for line in LINES)
    for q in GOLD:
        assert list(q) == KEYS, q.get("id")
        assert isinstance(q["id"], str) and isinstance(q["question"], str) and q["question"].endswith("?")
        assert isinstance(q["facts"], list) and all(
            isinstance(forms, list) and forms and all(isinstance(f, str) and f.strip() for f in forms)
            for forms in q["facts"]
        ), q["id"]
        assert isinstance(q["sources"], list) and all(s in SEED_TEXT for s in q["sources"]), q["id"]
        assert isinstance(q["answerable"], bool) and isinstance(q["conflict"], bool)
        if q["answerable"]:
            assert q["facts"] and q["sources"], q["id"]
        else:
            assert q["facts"] == [] and q["sources"] == [] and not q["conflict"], q["id"]


def test_ids_and_questions_are_unique():
    assert len({q["id"] for q in GOLD}) == len(GOLD)
    assert len({q["question"].lower() for q in GOLD}) == len(GOLD)


def test_composition():
    assert len(GOLD) >= 44
    assert sum(not q["answerable"] for q in GOLD) >= 10
    conflicts = [q for q in GOLD if q["conflict"]]
    assert len(conflicts) >= 4
    assert all(len(q["sources"]) >= 2 and len(q["facts"]) >= 2 for q in conflicts)


@pytest.mark.parametrize("q", [q for q in GOLD if q["answerable"]], ids=lambda q: q["id"])
def test_every_fact_is_in_a_listed_source(q):
    for forms in q["facts"]:
        assert any(fact_found(SEED_TEXT[doc], forms) for doc in q["sources"]), (q["id"], forms)


@pytest.mark.parametrize("q", [q for q in GOLD if q["answerable"]], ids=lambda q: q["id"])
def test_every_listed_source_states_a_fact(q):
    for doc in q["sources"]:
        assert any(fact_found(SEED_TEXT[doc], forms) for forms in q["facts"]), (q["id"], doc)


@pytest.mark.parametrize("q", [q for q in GOLD if q["conflict"]], ids=lambda q: q["id"])
def test_conflict_sides_come_from_different_articles(q):
    """At least two facts (sides) are each stated by a different listed source."""
    holders = [frozenset(d for d in q["sources"] if fact_found(SEED_TEXT[d], forms)) for forms in q["facts"]]
    assert any(a != b for a in holders for b in holders), q["id"]


def test_readme_composition_matches_the_gold_file():
    readme = (ROOT / "eval/README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("eval/gold/seeds.jsonl"))
    answerable = [q for q in GOLD if q["answerable"]]
    assert f"{len(GOLD)} gold questions" in line
    assert f"{len(answerable)} answerable" in line
    assert f"{sum(q['conflict'] for q in answerable)} of them conflict" in line
    assert f"{len(GOLD) - len(answerable)} unanswerable" in line
